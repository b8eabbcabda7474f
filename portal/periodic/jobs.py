"""Job control and status: start/stop/trigger the periodic jobs of the registry.

Whether a job is enabled lives in ``job_states`` (no row = enabled), shared by every process
and surviving restarts; a stop may carry a reason and an end, after which the scheduler
starts the job again by itself (``resume_due_jobs``). A start/stop is also reflected in rq-scheduler at once (its entry is
registered or cancelled); if Redis is unreachable at that moment the database still changes
and the scheduler's periodic re-sync applies it. Every action is written to the audit log.

Durations (``lastDuration``) are in milliseconds; times are ISO 8601 UTC.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from portal import audit, queues, redis_status
from portal.clock import iso_utc, utcnow
from portal.extensions import db
from portal.models import JobRun, JobState
from portal.periodic import pauses, registry, runs, sync, ticks
from portal.periodic.cron import latest_tick, next_run_after
from portal.periodic.registry import PeriodicJob

log = logging.getLogger(__name__)

RESUMED_BY = "scheduler"  # the actor of an automatic resume, as of the scheduler's other actions


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


def _states() -> dict[str, JobState]:
    return {state.name: state for state in db.session.scalars(select(JobState))}


# --- status --------------------------------------------------------------------------------


def list_job_status() -> list[dict[str, Any]]:
    """Return the status of every job (see ``job_status``), in registry order."""
    names = job_names()
    states = _states()
    now = utcnow()
    latest = _latest_runs(names, now)
    return [_status(registry.get_job(n), states.get(n), latest[n], now) for n in names]


def job_status(name: str) -> dict[str, Any]:
    """Return ``{name, description, schedule, enabled, status, executing, lastRun, nextRun,
    lastDuration (ms), errorMessage, queue, lastOutcome, lastSummary, missedTicks, lastTickMissed,
    pausedBy, pausedAt, pauseReason, resumeAt, pausedForSeconds}`` for job ``name``.

    ``lastTickMissed``: the job's latest expected tick, past its grace, has no run.

    ``status`` is ``stopped`` (disabled), ``error`` (its last finished run failed) or ``running``
    (enabled and scheduled). The pause fields are None unless the job is stopped. Raises UnknownJob.
    """
    spec = _spec(name)
    now = utcnow()
    return _status(spec, db.session.get(JobState, name), _latest_runs([name], now)[name], now)


def _latest_runs(names: list[str], now: datetime) -> dict[str, runs.LatestRuns]:
    """The jobs' latest runs in one SQL statement; with Redis unreachable no job shows as executing."""
    holders = {}
    if redis_status.redis_reachable():
        try:
            holders = runs.lock_holders(names)
        except RedisError as exc:
            redis_status.note_redis_down(exc)
    latest_ticks = {name: latest_tick(registry.get_job(name).cron, now) for name in names}
    return runs.latest_runs(names, holders, latest_ticks)


def _status(spec: PeriodicJob, state: JobState | None, latest: runs.LatestRuns, now: datetime) -> dict:
    enabled = spec.enabled and (state is None or bool(state.enabled))
    started = state.updated_at if state is not None else None
    tick = latest_tick(spec.cron, now)
    tick_missed = enabled and ticks.latest_tick_missed(tick, now, started, latest.tick_served)
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
        "nextRun": iso_utc(next_run_after(spec.cron, now)) if enabled else None,
        "lastDuration": finished.duration_ms if finished else None,
        "errorMessage": finished.error if failed else None,
        "queue": spec.queue,
        "lastOutcome": last.status if last else None,
        "lastSummary": finished.summary if finished else None,
        "missedTicks": spec.missed_ticks,
        "lastTickMissed": tick_missed,
        **pauses.pause_info(state, enabled),
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


def tick_ledger(name: str) -> dict[str, Any]:
    """Return job ``name``'s expected ticks of the last days against what served them
    (``portal.periodic.ticks.tick_ledger``). Raises UnknownJob."""
    return ticks.tick_ledger(_spec(name))


# --- control -------------------------------------------------------------------------------


def set_enabled(
    name: str,
    enabled: bool,
    actor: str,
    source: str,
    ip: str | None = None,
    reason: str | None = None,
    resume_at: datetime | None = None,
) -> dict[str, Any]:
    """Enable (start) or disable (stop) job ``name``; return its new status.

    A stop may say why (``reason``) and until when (``resume_at``, naive UTC: the scheduler
    starts the job again then). Raises UnknownJob, or InvalidPause (changing nothing) for a
    reason that is too long or an end that is not in the future. ``ip`` is the caller's address
    for the audit log (None from the CLI and the scheduler).
    """
    spec = _spec(name)
    reason = pauses.clean_reason(reason) if not enabled else None
    pauses.check_end(resume_at if not enabled else None)
    previous = _store_enabled(name, enabled, actor, reason, resume_at)
    scheduler_updated = _reflect_in_scheduler([spec], enabled)
    details = {"enabled": enabled, "previous": previous, "schedulerUpdated": scheduler_updated}
    if not enabled:
        details.update(reason=reason, resumeAt=iso_utc(resume_at))
    audit.record(actor, "job.start" if enabled else "job.stop", name, details=details, source=source, ip=ip)
    db.session.commit()
    return job_status(name)


def start_job(name: str, actor: str, source: str, ip: str | None = None) -> dict[str, Any]:
    """Enable job ``name`` and register its rq-scheduler entry; return its status."""
    return set_enabled(name, True, actor, source, ip)


def stop_job(
    name: str,
    actor: str,
    source: str,
    ip: str | None = None,
    reason: str | None = None,
    resume_at: datetime | None = None,
) -> dict[str, Any]:
    """Disable job ``name`` (with an optional reason and resume time) and cancel its
    rq-scheduler entry; return its status. Raises UnknownJob or InvalidPause."""
    return set_enabled(name, False, actor, source, ip, reason, resume_at)


def start_all(actor: str, source: str, ip: str | None = None) -> list[dict[str, Any]]:
    """Enable every job (one audit entry); return every job's status."""
    return _set_all(True, actor, source, ip)


def stop_all(
    actor: str, source: str, ip: str | None = None, reason: str | None = None, resume_at: datetime | None = None
) -> list[dict[str, Any]]:
    """Disable every job (one audit entry, an optional reason and resume time); return every job's status."""
    return _set_all(False, actor, source, ip, reason, resume_at)


def _set_all(
    enabled: bool,
    actor: str,
    source: str,
    ip: str | None,
    reason: str | None = None,
    resume_at: datetime | None = None,
) -> list[dict[str, Any]]:
    reason = pauses.clean_reason(reason) if not enabled else None
    pauses.check_end(resume_at if not enabled else None)
    changed = [name for name in job_names() if _store_enabled(name, enabled, actor, reason, resume_at) != enabled]
    scheduler_updated = _reflect_in_scheduler(list(registry.PERIODIC_JOBS), enabled)
    details = {"enabled": enabled, "changed": changed, "schedulerUpdated": scheduler_updated}
    if not enabled:
        details.update(reason=reason, resumeAt=iso_utc(resume_at))
    audit.record(actor, "job.start_all" if enabled else "job.stop_all", "all", details=details, source=source, ip=ip)
    db.session.commit()
    return list_job_status()


def _store_enabled(
    name: str, enabled: bool, actor: str, reason: str | None = None, resume_at: datetime | None = None
) -> bool:
    """Set the job's state in the session (not committed); return the previous value.

    A start clears the pause's reason and end; a stop records them.
    """
    state = db.session.get(JobState, name)
    if state is None:
        state = JobState(name=name, enabled=True)
        db.session.add(state)
    previous = bool(state.enabled)
    state.enabled = enabled
    state.updated_by = actor
    state.updated_at = utcnow()
    state.pause_reason = None if enabled else reason
    state.resume_at = None if enabled else resume_at
    return previous


def resume_due_jobs(now: datetime | None = None) -> list[str]:
    """Start every stopped job whose pause has ended (``resume_at`` at or before ``now``); return their names.

    Safe to run from several schedulers at once: each job is started by one conditional
    UPDATE, so it is resumed (and audit-logged, actor ``scheduler``, ``automatic``) once.
    """
    now = now or utcnow()
    due = db.session.execute(
        select(JobState.name, JobState.resume_at, JobState.pause_reason, JobState.updated_by).where(
            JobState.enabled.is_(False), JobState.resume_at.is_not(None), JobState.resume_at <= now
        )
    ).all()
    resumed = []
    for name, resume_at, reason, paused_by in due:
        changed = db.session.execute(
            update(JobState)
            .where(JobState.name == name, JobState.enabled.is_(False), JobState.resume_at == resume_at)
            .values(enabled=True, pause_reason=None, resume_at=None, updated_by=RESUMED_BY, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if not changed.rowcount:
            db.session.rollback()  # another scheduler resumed it, or an operator changed it
            continue
        spec = registry.get_job(name)
        scheduler_updated = _reflect_in_scheduler([spec], True) if spec is not None else False
        details = {
            "enabled": True,
            "previous": False,
            "automatic": True,
            "resumeAt": iso_utc(resume_at),
            "pausedBy": paused_by,
            "pauseReason": reason,
            "schedulerUpdated": scheduler_updated,
        }
        audit.record(RESUMED_BY, "job.start", name, details=details, source="system")
        db.session.commit()
        log.info("%s resumed: its pause ended at %s", name, resume_at)
        resumed.append(name)
    return resumed


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

    Runs even when the job is stopped (an operator asked for it). Raises UnknownJob,
    RedisUnavailable (nothing recorded) when Redis does not answer the quick probe, or
    RedisError when the run could not be queued (the run is then recorded as an error).
    ``ip`` is the caller's address for the audit log.
    """
    spec = _spec(name)
    redis_status.require_redis()  # refused before a run is recorded: a refusal leaves no trace
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
