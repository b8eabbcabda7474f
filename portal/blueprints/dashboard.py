"""Dashboard (health, jobs, queues, workers, retry summary), its live fragments, and the job pages."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import redis_status
from portal.alerts import scan
from portal.auth import require_page_role, safe_next_url
from portal.notifications import retry_queue
from portal.operations import browse, queue_pause, run_trends
from portal.periodic import health, jobs, pauses, registry
from portal.redis_connection import RedisUnavailable

bp = Blueprint("dashboard", __name__)

LIVE_PARTS = ("health", "jobs", "queues", "retry")


def _live_context(part: str) -> dict:
    if part == "health":
        return {"health": health.system_health()}
    if part == "jobs":
        return {"jobs": jobs.list_job_status()}
    if part == "queues":
        if not redis_status.redis_reachable():  # queues and workers live in Redis alone
            return {"queues": [], "workers": [], "redis_down": redis_status.redis_down_message()}
        return {"queues": health.queue_info(), "workers": health.worker_info()}
    return {"retry": retry_queue.retry_queue_status()}


@bp.get("/")
@require_page_role()
def index():
    """The dashboard: every live part rendered once, then refreshed by static/live.js."""
    statuses = jobs.list_job_status()  # read once for the jobs table and the health banner
    context = {"jobs": statuses, "health": health.system_health(statuses)}
    for part in ("queues", "retry"):
        context.update(_live_context(part))
    return render_template("dashboard/index.html", **context)


@bp.get("/live/<part>")
@require_page_role()
def live(part: str):
    """One live part of the dashboard as an HTML fragment (polled every few seconds)."""
    if part not in LIVE_PARTS:
        abort(404)
    return render_template(f"dashboard/live/{part}.html", **_live_context(part))


@bp.get("/jobs/<name>")
@require_page_role()
def job(name: str):
    """A job's status, a chart of its recent runs, its ticks of the last 7 days against the runs
    that served them, and its paginated run history."""
    if name not in jobs.job_names():
        abort(404, description=f"There is no job named {name!r}.")
    page, per_page = browse.page_args(request.args)
    return render_template(
        "dashboard/job.html",
        job=jobs.job_status(name),
        runs=browse.job_runs_page(name, page, per_page),
        chart=browse.run_chart(name),
        trends=run_trends.alert_trends(name) if name == registry.THRESHOLD_MONITOR else None,
        ledger=jobs.tick_ledger(name),
    )


@bp.get("/jobs/<name>/live/runs")
@require_page_role()
def job_runs_live(name: str):
    """The first page of a job's runs, as a fragment (the job page polls it)."""
    if name not in jobs.job_names():
        abort(404)
    return render_template(
        "dashboard/live/runs.html", job={"name": name}, runs=browse.job_runs_page(name, 1, browse.DEFAULT_PER_PAGE)
    )


def _back():
    return redirect(safe_next_url(request.form.get("next")) or url_for("dashboard.index"))


def _caller() -> dict[str, str | None]:
    """Who acts, for the audit log: the signed-in user, source ``page``, the client's address."""
    return {"actor": current_user.username, "source": "page", "ip": request.remote_addr}


@bp.post("/jobs/<name>/<action>")
@require_page_role("admin")
def job_action(name: str, action: str):
    """Trigger, stop or start one job, then say what happened; or (the threshold monitor's
    ``dry-run``) show what a check would change now, writing nothing."""
    if action not in ("trigger", "stop", "start", "dry-run"):
        abort(404)
    if name not in jobs.job_names():
        abort(404, description=f"There is no job named {name!r}.")
    if action == "dry-run":
        if name != registry.THRESHOLD_MONITOR:
            abort(404, description=f"Only {registry.THRESHOLD_MONITOR} has a dry run.")
        return render_template("dashboard/dry_run.html", job_name=name, summary=scan.run_threshold_check(dry_run=True))
    if action == "trigger":
        try:
            run = jobs.trigger_job(name, **_caller())
        except RedisUnavailable as exc:
            flash(str(exc), "error")
            return _back()
        flash(_("Triggered %(job)s: run #%(run)d is %(status)s.", job=name, run=run.id, status=run.status), "success")
    elif action == "stop":
        _stop(name)
    else:
        jobs.start_job(name, **_caller())
        flash(_("Started %(job)s: it runs on its schedule again.", job=name), "success")
    return _back()


def _stop(name: str) -> None:
    """Stop ``name`` with the form's optional reason and end (local time, or a duration)."""
    form = request.form
    try:
        resume_at = pauses.resolve_end(form.get("until") or None, form.get("for") or None)
        status = jobs.stop_job(name, **_caller(), reason=form.get("reason"), resume_at=resume_at)
    except pauses.InvalidPause as exc:
        flash(_("%(job)s was not stopped: %(problem)s.", job=name, problem=exc), "error")
        return
    if resume_at is not None:
        flash(
            _(
                "Stopped %(job)s until %(time)s; it starts again by itself then.",
                job=name,
                time=pauses.local_text(resume_at),
            ),
            "success",
        )
    else:
        flash(_("Stopped %(job)s: it will not run on its schedule until started.", job=name), "success")
    if status["pauseReason"]:
        flash(_("Reason recorded: %(reason)s", reason=status["pauseReason"]), "info")


@bp.post("/jobs/all/<action>")
@require_page_role("admin")
def all_jobs_action(action: str):
    """Stop or start every job."""
    if action == "stop":
        jobs.stop_all(**_caller())
        flash(_("Stopped every job."), "success")
    elif action == "start":
        jobs.start_all(**_caller())
        flash(_("Started every job."), "success")
    else:
        abort(404)
    return _back()


@bp.post("/queues/<name>/<action>")
@require_page_role("admin")
def queue_action(name: str, action: str):
    """Pause or resume one RQ queue, then say what happened."""
    if action not in ("pause", "resume"):
        abort(404)
    try:
        redis_status.require_redis()
        if action == "pause":
            changed = queue_pause.pause_queue(name, **_caller())
            flash(
                _("Paused %(queue)s: workers take nothing from it; its jobs wait.", queue=name)
                if changed
                else _("%(queue)s was paused already.", queue=name),
                "success",
            )
        else:
            changed = queue_pause.resume_queue(name, **_caller())
            flash(
                _("Resumed %(queue)s: workers take its jobs again.", queue=name)
                if changed
                else _("%(queue)s was not paused.", queue=name),
                "success",
            )
    except queue_pause.UnknownQueue as exc:
        abort(404, description=str(exc))
    except RedisUnavailable as exc:
        flash(str(exc), "error")
    return _back()
