"""The ticks of the periodic jobs: one run per (job, tick), the missed-tick policies, the ledger.

The scheduler serves a job's due ticks (``serve_ticks``): it records the run of a tick in
``job_runs`` with ``tick_at`` set, under the unique constraint on (job_name, tick_at), then
queues that run as its own RQ job. Two schedulers, a lapsed ``rq:scheduler_lock`` or an
entry enqueued twice therefore cannot run one tick twice: the second insert fails and is
recorded as a skipped row naming the run that holds the tick. Manual runs have no tick.

Ticks missed while no scheduler ran (older than ``MISSED_TICK_GRACE_SECONDS``) are handled
by the job's ``missed_ticks`` policy (``portal.domain.job_schedule.plan_ticks``).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from portal import queues
from portal.clock import iso_utc, utcnow
from portal.domain.job_schedule import TickRecord, plan_ticks
from portal.domain.job_schedule import tick_ledger as domain_ledger
from portal.extensions import db
from portal.models import AuditLog, JobRun, JobState
from portal.periodic import runs
from portal.periodic.cron import latest_tick, ticks_between
from portal.periodic.registry import PeriodicJob

log = logging.getLogger(__name__)

LEDGER_DAYS = 7  # how far back the job page lists expected ticks, and missed ticks are looked for
DEFAULT_GRACE_SECONDS = 120


def grace() -> timedelta:
    """How long after its time a tick still runs on time (``MISSED_TICK_GRACE_SECONDS``)."""
    return timedelta(seconds=current_app.config.get("MISSED_TICK_GRACE_SECONDS", DEFAULT_GRACE_SECONDS))


def last_served_ticks(job_names: list[str]) -> dict[str, datetime]:
    """Return per job the newest tick a row holds (jobs without one are left out), in one statement."""
    rows = db.session.execute(
        select(JobRun.job_name, func.max(JobRun.tick_at))
        .where(JobRun.job_name.in_(job_names), JobRun.tick_at.is_not(None))
        .group_by(JobRun.job_name)
    ).all()
    return {name: tick for name, tick in rows if tick is not None}


def latest_tick_missed(tick: datetime, now: datetime, started: datetime | None, served: bool) -> bool:
    """True when ``tick`` (a job's latest expected tick), past its grace, has no row (``served``:
    a scheduled row was recorded at or after it) and the job was not started after it."""
    if now - tick <= grace() or (started is not None and started >= tick):
        return False
    return not served


def _enabled_since(job_name: str) -> datetime | None:
    state = db.session.get(JobState, job_name)
    return state.updated_at if state is not None and state.enabled else None


def due_ticks(spec: PeriodicJob, now: datetime, scheduled_at: datetime | None = None) -> list[datetime]:
    """Return the ticks of ``spec`` up to ``now`` that no row holds yet, oldest first.

    Only ticks after the newest served one, after the job was last started and within
    LEDGER_DAYS count; a job that never served a tick looks back no further than the grace.
    ``scheduled_at`` is the time its rq-scheduler entry came due: it counts as a tick too
    (the entry is always set to a cron time, unless someone moved it).
    """
    last = last_served_ticks([spec.name]).get(spec.name)
    since = max(now - timedelta(days=LEDGER_DAYS), last if last is not None else now - grace())
    enabled_at = _enabled_since(spec.name)
    if enabled_at is not None:
        since = max(since, enabled_at)
    ticks = ticks_between(spec.cron, since, now)
    floor = max(now - timedelta(days=LEDGER_DAYS), last or datetime.min, enabled_at or datetime.min)
    if scheduled_at is not None and floor < scheduled_at <= now and scheduled_at not in ticks:
        ticks = sorted([*ticks, scheduled_at])
    return ticks


def claim_tick(job_name: str, tick: datetime, covers_from: datetime | None = None) -> JobRun | None:
    """Record the ``queued`` run that serves ``tick`` and commit; return it.

    Returns None when another row holds the tick already: the attempt is then recorded as a
    skipped row naming that run (see ``record_tick_taken``).
    """
    run = JobRun(
        job_name=job_name,
        trigger="schedule",
        status="queued",
        queued_at=utcnow(),
        tick_at=tick,
        covers_from=covers_from,
    )
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        record_tick_taken(job_name, tick)
        return None
    return run


def record_tick_taken(job_name: str, tick: datetime | None, served_by: int | None = None) -> JobRun:
    """Record a skipped attempt at a tick (or a run) that another run serves, and commit it.

    ``served_by`` defaults to the run holding ``tick``.
    """
    if served_by is None and tick is not None:
        served_by = db.session.scalar(select(JobRun.id).where(JobRun.job_name == job_name, JobRun.tick_at == tick))
    now = utcnow()
    row = JobRun(
        job_name=job_name,
        trigger="schedule",
        status="skipped",
        queued_at=now,
        finished_at=now,
        # A manual run has no tick: its RQ job ran twice.
        summary={
            "reason": "tick already served" if tick is not None else "run already executed",
            "tick": iso_utc(tick),
            "servedByRunId": served_by,
        },
    )
    db.session.add(row)
    db.session.commit()
    log.info(
        "%s tick %s already served by run %s: attempt recorded as skipped run %s", job_name, tick, served_by, row.id
    )
    return row


def record_skipped_ticks(job_name: str, first: datetime, last: datetime, count: int) -> JobRun | None:
    """Record that the skip policy passed over ``count`` missed ticks from ``first`` to ``last``
    (one row holding ``last``) and commit; None when another scheduler recorded it first."""
    now = utcnow()
    row = JobRun(
        job_name=job_name,
        trigger="schedule",
        status="skipped",
        queued_at=now,
        finished_at=now,
        tick_at=last,
        covers_from=first,
        summary={
            "reason": "missed ticks skipped",
            "policy": "skip",
            "missedTicks": count,
            "firstTick": iso_utc(first),
            "lastTick": iso_utc(last),
        },
    )
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    log.info("%s: %s missed ticks from %s to %s skipped (policy skip)", job_name, count, first, last)
    return row


def serve_ticks(spec: PeriodicJob, now: datetime | None = None, scheduled_at: datetime | None = None) -> dict[str, Any]:
    """Serve ``spec``'s due ticks by its missed-tick policy: queue at most one run, record skipped
    ticks. Returns ``{"runId", "tick", "catchUpFrom", "skipped"}`` (None / 0 for what did not happen).

    ``scheduled_at``: the time the job's rq-scheduler entry came due (see ``due_ticks``).

    Raises RedisError when the run could not be queued (the run is then recorded as an error).
    """
    now = now or utcnow()
    due = due_ticks(spec, now, scheduled_at)
    plan = plan_ticks(due, now, grace(), spec.missed_ticks)
    served: dict[str, Any] = {"runId": None, "tick": None, "catchUpFrom": None, "skipped": 0}
    if plan.skip_from is not None:
        count = sum(1 for tick in due if plan.skip_from <= tick <= plan.skip_to)
        if record_skipped_ticks(spec.name, plan.skip_from, plan.skip_to, count) is not None:
            served["skipped"] = count
    if plan.run_tick is not None:
        run = claim_tick(spec.name, plan.run_tick, plan.catch_up_from)
        if run is not None:
            enqueue_tick_run(spec, run)
            served.update(runId=run.id, tick=iso_utc(plan.run_tick), catchUpFrom=iso_utc(plan.catch_up_from))
    return served


def enqueue_tick_run(spec: PeriodicJob, run: JobRun) -> None:
    """Queue ``run`` (a claimed tick) as its own RQ job calling the dispatcher; raises RedisError."""
    run_id, tick = run.id, run.tick_at
    job_id = queues.tick_run_job_id(spec.name, run_id)
    kind = "catch-up" if run.covers_from is not None else "tick"
    try:
        queues.enqueue(
            spec.queue,
            queues.PERIODIC_DISPATCHER,
            spec.name,
            "schedule",
            run_id,
            job_id=job_id,
            job_timeout=spec.timeout,
            result_ttl=spec.result_ttl,
            description=f"{spec.name} ({kind} {iso_utc(tick)}, run {run_id})",
        )
    except RedisError as exc:
        runs.finish_run(run_id, "error", error=f"could not queue the run: {exc}")
        raise
    run.rq_job_id = job_id
    db.session.commit()


def claim_current_tick(spec: PeriodicJob, now: datetime | None = None) -> JobRun | None:
    """Claim the latest tick of ``spec`` at or before ``now`` for a run started without one (an
    rq-scheduler entry enqueued directly); None when that tick is served already."""
    return claim_tick(spec.name, latest_tick(spec.cron, now or utcnow()))


# --- the ledger: every expected tick of the last days against what served it ---------------

_STATE_ACTIONS = {"job.stop": False, "job.stop_all": False, "job.start": True, "job.start_all": True}


def tick_ledger(spec: PeriodicJob, now: datetime | None = None, days: int = LEDGER_DAYS) -> dict[str, Any]:
    """Return ``{"rows", "counts", "since", "until"}``: every tick ``spec``'s cron expected in the
    last ``days`` days (newest first) with the run that served it, and the count of each state
    (``on-time``, ``caught-up``, ``skipped``, ``paused``, ``missed``, ``due``; see
    ``portal.domain.job_schedule.tick_ledger``)."""
    now = now or utcnow()
    since = now - timedelta(days=days)
    expected = ticks_between(spec.cron, since, now)
    held = db.session.scalars(
        select(JobRun).where(JobRun.job_name == spec.name, JobRun.tick_at > since, JobRun.tick_at <= now)
    ).all()
    records = [
        TickRecord(
            tick=run.tick_at,
            covers_from=run.covers_from,
            run_id=run.id,
            status=run.status,
            skipped_by_policy=bool(run.summary and run.summary.get("policy") == "skip" and run.status == "skipped"),
        )
        for run in held
    ]
    rows = domain_ledger(expected, records, now, grace(), _stopped_spans(spec.name, since, now))
    counts = {state: 0 for state in ("on-time", "caught-up", "skipped", "paused", "missed", "due")}
    for row in rows:
        counts[row.state] += 1
    return {"rows": rows, "counts": counts, "since": since, "until": now}


def _stopped_spans(job_name: str, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
    """The spans in which ``job_name`` was stopped, from the audit log's stops and starts."""
    about_job = (AuditLog.target == job_name) | (AuditLog.target == "all")
    changes = select(AuditLog.at, AuditLog.action).where(
        about_job, AuditLog.action.in_(_STATE_ACTIONS), AuditLog.outcome == "success"
    )
    before = db.session.execute(changes.where(AuditLog.at <= since).order_by(AuditLog.at.desc()).limit(1)).first()
    inside = db.session.execute(changes.where(AuditLog.at > since, AuditLog.at <= until).order_by(AuditLog.at)).all()
    spans, stopped_at = [], since if before is not None and not _STATE_ACTIONS[before.action] else None
    for at, action in inside:
        if not _STATE_ACTIONS[action] and stopped_at is None:
            stopped_at = at
        elif _STATE_ACTIONS[action] and stopped_at is not None:
            spans.append((stopped_at, at))
            stopped_at = None
    if stopped_at is not None:
        spans.append((stopped_at, until + timedelta(seconds=1)))
    return spans
