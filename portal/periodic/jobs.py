"""Job control and status: start/stop/trigger the periodic jobs of the registry.

Whether a job is enabled lives in ``job_states`` (no row = enabled), shared by every process
and surviving restarts. A start/stop is also reflected in rq-scheduler at once (its entry is
registered or cancelled); if Redis is unreachable at that moment the database still changes
and the scheduler's periodic re-sync applies it. Every action is written to the audit log.

Durations (``lastDuration``) are in milliseconds; times are ISO 8601 UTC.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func, select

from portal import audit, queues
from portal.clock import iso_utc, utcnow
from portal.extensions import db
from portal.models import JobRun, JobState
from portal.periodic import registry, runs, sync
from portal.periodic.cron import next_run_after
from portal.periodic.registry import PeriodicJob

log = logging.getLogger(__name__)


class UnknownJob(Exception):
    """No periodic job has this name; ``str(exc)`` says which names exist."""

    def __init__(self, name: str):
        super().__init__(f"unknown job {name!r}; known jobs: {', '.join(job_names())}")
        self.name = name


def job_names() -> list[str]:
    """Return the names of every periodic job, in registry order."""
    return registry.job_names()


def _spec(name: str) -> PeriodicJob:
    spec = registry.get_job(name)
    if spec is None:
        raise UnknownJob(name)
    return spec


def _disabled_in_db() -> set[str]:
    return set(db.session.scalars(select(JobState.name).where(JobState.enabled.is_(False))))


def enabled_job_names() -> set[str]:
    """Return the jobs enabled in the registry and not stopped in the database."""
    disabled = _disabled_in_db()
    return {job.name for job in registry.PERIODIC_JOBS if job.enabled and job.name not in disabled}


# --- status --------------------------------------------------------------------------------


def list_job_status() -> list[dict[str, Any]]:
    """Return the status of every job (see ``job_status``), in registry order."""
    names = job_names()
    enabled = enabled_job_names()
    latest = _latest_runs(names)
    return [_status(registry.get_job(n), n in enabled, latest[n]) for n in names]


def job_status(name: str) -> dict[str, Any]:
    """Return ``{name, description, schedule, enabled, status, executing, lastRun, nextRun,
    lastDuration (ms), errorMessage, queue, lastOutcome, lastSummary}`` for job ``name``.

    ``status`` is ``stopped`` (disabled), ``error`` (its last finished run failed) or ``running``
    (enabled and scheduled). Raises UnknownJob.
    """
    spec = _spec(name)
    return _status(spec, name in enabled_job_names(), _latest_runs([name])[name])


def _latest_runs(names: list[str]) -> dict[str, runs.LatestRuns]:
    """The jobs' latest runs in one SQL statement; with Redis unreachable no job shows as executing."""
    try:
        holders = runs.lock_holders(names)
    except RedisError:
        holders = {}
    return runs.latest_runs(names, holders)


def _status(spec: PeriodicJob, enabled: bool, latest: runs.LatestRuns) -> dict:
    last, finished = latest.last, latest.finished
    failed = finished is not None and finished.status == "error"
    status = "stopped" if not enabled else "error" if failed else "running"
    return {
        "name": spec.name,
        "description": spec.description,
        "schedule": spec.cron,
        "enabled": enabled,
        "status": status,
        "executing": latest.executing is not None,
        "lastRun": iso_utc((last.started_at or last.queued_at) if last else None),
        "nextRun": iso_utc(next_run_after(spec.cron, utcnow())) if enabled else None,
        "lastDuration": finished.duration_ms if finished else None,
        "errorMessage": finished.error if failed else None,
        "queue": spec.queue,
        "lastOutcome": last.status if last else None,
        "lastSummary": finished.summary if finished else None,
    }


def recent_runs(name: str, page: int = 1, per_page: int = 25) -> dict[str, Any]:
    """Return one page of ``name``'s runs, newest first: ``{items, total, page, perPage, pages}``."""
    _spec(name)
    page, per_page = max(1, int(page)), max(1, min(int(per_page), 500))
    total = db.session.scalar(select(func.count()).select_from(JobRun).where(JobRun.job_name == name)) or 0
    items = db.session.scalars(
        select(JobRun)
        .where(JobRun.job_name == name)
        .order_by(JobRun.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return {
        "items": [runs.run_to_dict(run) for run in items],
        "total": total,
        "page": page,
        "perPage": per_page,
        "pages": max(1, math.ceil(total / per_page)),
    }


# --- control -------------------------------------------------------------------------------


def set_enabled(name: str, enabled: bool, actor: str, source: str, ip: str | None = None) -> dict[str, Any]:
    """Enable (start) or disable (stop) job ``name``; return its new status. Raises UnknownJob.

    ``ip`` is the caller's address for the audit log (None from the CLI and the scheduler).
    """
    spec = _spec(name)
    previous = _store_enabled(name, enabled, actor)
    scheduler_updated = _reflect_in_scheduler([spec], enabled)
    audit.record(
        actor,
        "job.start" if enabled else "job.stop",
        name,
        details={"enabled": enabled, "previous": previous, "schedulerUpdated": scheduler_updated},
        source=source,
        ip=ip,
    )
    db.session.commit()
    return job_status(name)


def start_job(name: str, actor: str, source: str, ip: str | None = None) -> dict[str, Any]:
    """Enable job ``name`` and register its rq-scheduler entry; return its status."""
    return set_enabled(name, True, actor, source, ip)


def stop_job(name: str, actor: str, source: str, ip: str | None = None) -> dict[str, Any]:
    """Disable job ``name`` and cancel its rq-scheduler entry; return its status."""
    return set_enabled(name, False, actor, source, ip)


def start_all(actor: str, source: str, ip: str | None = None) -> list[dict[str, Any]]:
    """Enable every job (one audit entry); return every job's status."""
    return _set_all(True, actor, source, ip)


def stop_all(actor: str, source: str, ip: str | None = None) -> list[dict[str, Any]]:
    """Disable every job (one audit entry); return every job's status."""
    return _set_all(False, actor, source, ip)


def _set_all(enabled: bool, actor: str, source: str, ip: str | None) -> list[dict[str, Any]]:
    changed = [name for name in job_names() if _store_enabled(name, enabled, actor) != enabled]
    scheduler_updated = _reflect_in_scheduler(list(registry.PERIODIC_JOBS), enabled)
    audit.record(
        actor,
        "job.start_all" if enabled else "job.stop_all",
        "all",
        details={"enabled": enabled, "changed": changed, "schedulerUpdated": scheduler_updated},
        source=source,
        ip=ip,
    )
    db.session.commit()
    return list_job_status()


def _store_enabled(name: str, enabled: bool, actor: str) -> bool:
    """Set the job's state in the session (not committed); return the previous value."""
    state = db.session.get(JobState, name)
    if state is None:
        state = JobState(name=name, enabled=True)
        db.session.add(state)
    previous = bool(state.enabled)
    state.enabled = enabled
    state.updated_by = actor
    state.updated_at = utcnow()
    return previous


def _reflect_in_scheduler(specs: list[PeriodicJob], enabled: bool) -> bool:
    """Register or cancel the entries now; False when Redis failed (the scheduler re-sync fixes it)."""
    try:
        scheduler = queues.get_scheduler()
        for spec in specs:
            if enabled and spec.enabled:
                sync.register_entry(scheduler, spec)
            elif not enabled:
                sync.cancel_entry(scheduler, spec.name)
        return True
    except RedisError as exc:
        log.warning("job state saved but rq-scheduler not updated (%s); the scheduler re-syncs within a minute", exc)
        return False


def trigger_job(name: str, actor: str, source: str, ip: str | None = None) -> JobRun:
    """Queue one run of ``name`` now (trigger ``manual``); return the recorded run.

    Runs even when the job is stopped (an operator asked for it). Raises UnknownJob, or
    RedisError when the run could not be queued (the run is then recorded as an error).
    ``ip`` is the caller's address for the audit log.
    """
    spec = _spec(name)
    run = runs.start_run(name, "manual", requested_by=actor)
    rq_job_id = queues.manual_run_job_id(name, run.id)
    try:
        queues.enqueue(
            spec.queue,
            queues.PERIODIC_DISPATCHER,
            name,
            "manual",
            run.id,
            job_id=rq_job_id,
            job_timeout=spec.timeout,
            result_ttl=spec.result_ttl,
            description=f"{name} (manual run {run.id})",
        )
    except RedisError as exc:
        runs.finish_run(run.id, "error", error=f"could not queue the run: {exc}")
        audit.record(
            actor,
            "job.trigger",
            name,
            outcome="failure",
            details={"runId": run.id, "error": str(exc)},
            source=source,
            ip=ip,
        )
        db.session.commit()
        raise
    run.rq_job_id = rq_job_id
    audit.record(actor, "job.trigger", name, details={"runId": run.id, "rqJobId": rq_job_id}, source=source, ip=ip)
    db.session.commit()
    return run
