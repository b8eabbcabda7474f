"""JSON admin API: ``/api/admin/background-jobs`` (shapes in docs/api.md), alerts, the retry queue, queues."""

from __future__ import annotations

import re

from flask import Blueprint, abort, jsonify, request

from portal.alerts import scan
from portal.auth import api_user, require_api_role
from portal.blueprints.json_body import json_body
from portal.notifications import retry_queue
from portal.operations import browse, queue_pause
from portal.periodic import jobs, overview, pauses

bp = Blueprint("admin_api", __name__, url_prefix="/api/admin")

VALID_ACTIONS = (
    "start",
    "stop",
    "trigger",
    "startAll",
    "stopAll",
    "clearRetryQueue",
    "getJobStatus",
    "runThresholdCheck",
)
_HAS_OFFSET = re.compile(r"T.*(Z|[+-]\d{2}:?\d{2})$", re.IGNORECASE)
ACTIONS_NEEDING_JOB = ("start", "stop", "trigger", "getJobStatus")
READ_ONLY_ACTIONS = ("getJobStatus",)


def _ok(data, status: int = 200, **extra):
    body = {"success": True, "data": data}
    body.update(extra)
    return jsonify(body), status


def _error(status: int, message: str, **extra):
    body = {"success": False, "error": message}
    body.update(extra)
    return jsonify(body), status


def _job_name(payload: dict) -> str:
    name = payload.get("jobName")
    if not isinstance(name, str) or not name.strip():
        abort(400, description="'jobName' is required (one of: " + ", ".join(jobs.job_names()) + ").")
    name = name.strip()
    if name not in jobs.job_names():
        abort(404, description=f"No job named {name[:100]!r}; jobs are: " + ", ".join(jobs.job_names()) + ".")
    return name


def _pause(payload: dict) -> dict:
    """The optional ``reason`` and ``until`` (ISO 8601 with ``Z`` or an offset) of a stop."""
    until = payload.get("until")
    if until is not None and not (isinstance(until, str) and _HAS_OFFSET.search(until.strip())):
        abort(400, description="'until' must be an ISO 8601 date and time with Z or an offset: 2026-12-24T01:30:00Z.")
    try:
        return {
            "reason": pauses.clean_reason(payload.get("reason")),
            "resume_at": pauses.resolve_end(until, zone="UTC"),
        }
    except pauses.InvalidPause as exc:
        abort(400, description=f"Invalid pause: {exc}.")


def _caller() -> dict[str, str | None]:
    """Who acts, for the audit log: the API user, source ``api``, the client's address."""
    return {"actor": api_user().username, "source": "api", "ip": request.remote_addr}


@bp.get("/background-jobs")
@require_api_role()
def background_jobs():
    """Every job's status, system health, the threshold monitor and the retry-queue summary."""
    return _ok(overview.jobs_overview())


@bp.post("/background-jobs")
@require_api_role()
def background_jobs_action():
    """Run one ``action`` (see VALID_ACTIONS); a bad request changes nothing."""
    payload = json_body(dict)
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        return _error(400, "'action' is required.", validActions=list(VALID_ACTIONS))
    if action not in VALID_ACTIONS:
        return _error(400, f"Unknown action {action[:50]!r}.", validActions=list(VALID_ACTIONS))
    user = api_user()
    if action not in READ_ONLY_ACTIONS and not user.is_admin:
        abort(403, description=f"User {user.username!r} has the {user.role!r} role; {action!r} needs 'admin'.")
    name = _job_name(payload) if action in ACTIONS_NEEDING_JOB else None
    pause = _pause(payload)  # read (and refused when malformed) whatever the action; used by the stops
    caller = _caller()
    if action == "getJobStatus":
        return _ok(jobs.job_status(name))
    if action == "start":
        jobs.start_job(name, **caller)
        return _ok(jobs.job_status(name), message=f"Started {name}.")
    if action == "stop":
        jobs.stop_job(name, **caller, **pause)
        return _ok(jobs.job_status(name), message=f"Stopped {name}.")
    if action == "trigger":
        run = jobs.trigger_job(name, **caller)
        return _ok({"runId": run.id, "jobName": name, "status": run.status}, 202, message=f"Triggered {name}.")
    if action == "startAll":
        jobs.start_all(**caller)
        return _ok(jobs.list_job_status(), message="Started every job.")
    if action == "stopAll":
        jobs.stop_all(**caller, **pause)
        return _ok(jobs.list_job_status(), message="Stopped every job.")
    if action == "clearRetryQueue":
        cleared = retry_queue.clear_retry_queue(**caller)
        return _ok({"cleared": cleared}, message=f"Cancelled {cleared} pending deliveries.")
    dry_run = payload.get("dryRun", False)  # runThresholdCheck
    if not isinstance(dry_run, bool):
        return _error(400, f"'dryRun' must be true or false; got {str(dry_run)[:50]!r}.")
    return _ok(scan.run_threshold_check(dry_run=dry_run))


@bp.put("/background-jobs")
@require_api_role("admin")
def background_jobs_enable():
    """``{jobName, enabled}``: enable (start) or disable (stop) one job."""
    payload = json_body(dict)
    enabled = payload.get("enabled")
    if not isinstance(enabled, bool):
        abort(400, description="'enabled' is required and must be true or false.")
    name = _job_name(payload)
    jobs.set_enabled(name, enabled, **_caller())
    return _ok(jobs.job_status(name), message=f"{'Enabled' if enabled else 'Disabled'} {name}.")


@bp.get("/alerts")
@require_api_role()
def alerts():
    """Alerts, newest first, paginated; filters ``status``, ``kind``, ``course``, ``student``."""
    page, per_page = browse.page_args(request.args)
    filters = browse.alert_filters(request.args)
    result = browse.alerts_page(page=page, per_page=per_page, **filters)
    return _ok(browse.alerts_json(result))


@bp.get("/retry-queue")
@require_api_role()
def retry_queue_list():
    """The retry-queue summary and its deliveries (``status`` pending or dead), paginated and filtered."""
    page, per_page = browse.page_args(request.args)
    filters = browse.delivery_filters(request.args)
    data = browse.page_json(browse.retry_deliveries(page=page, per_page=per_page, **filters))
    data["summary"] = retry_queue.retry_queue_status()
    return _ok(data)


@bp.get("/queues")
@require_api_role()
def queue_list():
    """Every RQ queue: ``{name, paused, length}``, most urgent first."""
    return _ok(queue_pause.queue_states())


@bp.post("/queues/<name>/pause")
@require_api_role("admin")
def queue_pause_action(name: str):
    """Pause queue ``name`` (workers take nothing from it); answers every queue's state."""
    try:
        changed = queue_pause.pause_queue(name, **_caller())
    except queue_pause.UnknownQueue as exc:
        abort(404, description=str(exc))
    return _ok(queue_pause.queue_states(), message=f"Paused {name}." if changed else f"{name} was paused already.")


@bp.post("/queues/<name>/resume")
@require_api_role("admin")
def queue_resume_action(name: str):
    """Resume queue ``name``; answers every queue's state."""
    try:
        changed = queue_pause.resume_queue(name, **_caller())
    except queue_pause.UnknownQueue as exc:
        abort(404, description=str(exc))
    return _ok(queue_pause.queue_states(), message=f"Resumed {name}." if changed else f"{name} was not paused.")
