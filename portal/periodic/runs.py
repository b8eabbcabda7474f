"""Periodic job runs: the record of every execution, and the per-job execution lock.

A run moves ``queued -> running -> success | error``, or straight to ``skipped`` when the job
was already executing. The execution lock is a Redis key ``SET NX EX`` holding the id of the
run that owns it, so at most one run of a job executes at a time across every worker.

The threshold monitor's run finishes asynchronously (its scan batches are separate RQ jobs):
the dispatcher leaves that run ``running`` and its lock held. Whoever finalizes the run (the
last scan batch) should call ``finish_run`` (which releases the lock) or, when it writes the
``JobRun`` row itself, ``release_execution_lock(job_name, run_id)``. If neither happens the lock
expires after the job's ``lock_ttl``, and a lock whose run is already finished in the database
is treated as free, so a forgotten release never blocks the job for longer than one run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, func, select, update

from portal.clock import iso_utc, utcnow
from portal.extensions import db
from portal.models import JobRun
from portal.queues import get_probe_redis, get_redis

log = logging.getLogger(__name__)

LOCK_PREFIX = "portal:job-lock:"
FINISHED_OUTCOMES = ("success", "error", "skipped")
ENDED_OUTCOMES = ("success", "error")  # the runs that did the work: their duration and error are shown

# Delete / replace the lock only while it still holds the expected value.
_RELEASE_IF_HELD = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
_REPLACE_IF_HELD = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('set', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3])) end return false"
)


def lock_key(job_name: str) -> str:
    """Return the Redis key of ``job_name``'s execution lock."""
    return f"{LOCK_PREFIX}{job_name}"


# --- runs ----------------------------------------------------------------------------------


def start_run(job_name: str, trigger: str, rq_job_id: str | None = None, requested_by: str | None = None) -> JobRun:
    """Record a new ``queued`` run of ``job_name`` (trigger ``schedule`` or ``manual``) and commit."""
    if trigger not in ("schedule", "manual"):
        raise ValueError(f"unknown trigger {trigger!r}")
    run = JobRun(
        job_name=job_name,
        trigger=trigger,
        status="queued",
        queued_at=utcnow(),
        rq_job_id=rq_job_id,
        requested_by=requested_by,
    )
    db.session.add(run)
    db.session.commit()
    return run


def mark_running(run_id: int, rq_job_id: str | None = None) -> JobRun:
    """Mark run ``run_id`` as started now and commit."""
    run = _get(run_id)
    run.status = "running"
    run.started_at = utcnow()
    if rq_job_id and not run.rq_job_id:
        run.rq_job_id = rq_job_id
    db.session.commit()
    return run


def begin_execution(job_name: str, run_id: int, rq_job_id: str | None = None, *, retake: bool = False) -> bool:
    """Mark run ``run_id`` running (started now), and every earlier run of ``job_name`` still
    ``running`` abandoned, in one transaction; return False (changing nothing) when the run is
    not ``queued``: it was executed or ended before, and must not run twice. With ``retake``
    (RQ put the run's job back after its worker died) a run still ``running`` under that same
    RQ job begins again: its execution died with the worker.

    Called once the run holds the execution lock (see ``abandon_stale_runs``).
    """
    now = utcnow()
    startable = JobRun.status == "queued"
    if retake and rq_job_id is not None:
        startable = startable | ((JobRun.status == "running") & (JobRun.rq_job_id == rq_job_id))
    started = db.session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, startable)
        .values(status="running", started_at=now, rq_job_id=func.coalesce(JobRun.rq_job_id, rq_job_id))
        .execution_options(synchronize_session=False)
    )
    if not started.rowcount:
        db.session.rollback()
        return False
    _abandon_stale(job_name, run_id, now)
    db.session.commit()
    return True


def running_run_of_rq_job(job_name: str, rq_job_id: str | None) -> int | None:
    """The id of ``job_name``'s newest run still ``running`` under RQ job ``rq_job_id`` (its
    execution died with its worker), or None."""
    if rq_job_id is None:
        return None
    return db.session.scalar(
        select(JobRun.id)
        .where(JobRun.job_name == job_name, JobRun.status == "running", JobRun.rq_job_id == rq_job_id)
        .order_by(JobRun.id.desc())
        .limit(1)
    )


def finish_queued_run(run_id: int, outcome: str, summary: dict[str, Any] | None = None) -> bool:
    """End run ``run_id`` as ``outcome`` (never started) if it is still ``queued``; commit; True if it was."""
    ended = db.session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status == "queued")
        .values(status=outcome, finished_at=utcnow(), summary=summary)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return bool(ended.rowcount)


def tick_of(run_id: int) -> datetime | None:
    """Return the tick run ``run_id`` serves (None for a manual run)."""
    return db.session.scalar(select(JobRun.tick_at).where(JobRun.id == run_id))


def update_summary(run_id: int, summary: dict[str, Any]) -> None:
    """Store ``summary`` on a run still under way (an asynchronous run's progress) and commit.

    A run that finished meanwhile (its last scan batch can beat the dispatcher here) keeps
    the summary it finished with.
    """
    db.session.execute(
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status == "running")
        .values(summary=summary)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def finish_run(
    run_id: int,
    outcome: str,
    summary: dict[str, Any] | None = None,
    error: str | None = None,
    traceback: str | None = None,
) -> JobRun:
    """Record how run ``run_id`` ended (``success``, ``error`` or ``skipped``), commit, release its lock.

    Duration is ``finished_at - started_at`` in milliseconds (None for a run that never started).
    """
    if outcome not in FINISHED_OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(FINISHED_OUTCOMES)}")
    run = _get(run_id)
    now = utcnow()
    run.status = outcome
    run.finished_at = now
    if run.started_at is not None:
        run.duration_ms = max(0, int((now - run.started_at).total_seconds() * 1000))
    if summary is not None:
        run.summary = summary
    run.error = error
    run.traceback = traceback
    db.session.commit()
    if outcome != "skipped":
        release_execution_lock(run.job_name, run.id)
    return run


def abandon_stale_runs(job_name: str, keep_run_id: int) -> int:
    """Mark earlier ``running`` runs of ``job_name`` as errors and commit; return how many.

    Called once a new run holds the execution lock: a run still ``running`` then lost its lock
    (its worker died or it outlived the lock TTL) and will never record its own outcome.
    """
    abandoned = _abandon_stale(job_name, keep_run_id, utcnow())
    db.session.commit()
    return abandoned


def _abandon_stale(job_name: str, keep_run_id: int, now: datetime) -> int:
    result = db.session.execute(
        update(JobRun)
        .where(JobRun.job_name == job_name, JobRun.status == "running", JobRun.id != keep_run_id)
        .values(
            status="error",
            finished_at=now,
            error="abandoned: the run lost its execution lock (worker lost or timed out)",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def get_run(run_id: int) -> JobRun | None:
    """Return run ``run_id`` or None."""
    return db.session.get(JobRun, run_id)


@dataclass(frozen=True)
class LatestRuns:
    """What a job's status is computed from (see ``latest_runs``)."""

    last: JobRun | None  # the newest run that was not skipped
    finished: JobRun | None  # the newest run that ended in success or error
    executing: int | None  # the id of the run executing now, or None
    tick_served: bool = False  # a scheduled row was recorded at or after the job's latest tick


def latest_runs(
    job_names: list[str], holders: Mapping[str, int] | None = None, ticks: Mapping[str, datetime] | None = None
) -> dict[str, LatestRuns]:
    """Return per job its newest run, newest finished run and executing run, in one SQL statement.

    ``ticks`` (each job's latest expected tick) adds whether a scheduled row (a tick's run, a
    skip record) was recorded at or after it: an index range scan of (job_name, queued_at).

    ``holders`` (from ``lock_holders``) gives the run holding each job's execution lock; that run
    is executing unless the database shows it finished (its owner forgot to release the lock).
    Without ``holders`` no job is executing. Each job's two newest runs are found by a backward
    walk of the ``(job_name, id)`` index, however long the history.
    """
    holders = dict(holders or {})
    wanted: list[Any] = list(holders.values())
    for name in job_names:
        wanted.append(_newest_run_id(name, JobRun.status != "skipped"))
        wanted.append(_newest_run_id(name, JobRun.status.in_(ENDED_OUTCOMES)))
        if ticks and name in ticks:
            wanted.append(
                select(JobRun.id)
                .where(JobRun.job_name == name, JobRun.queued_at >= ticks[name], JobRun.trigger == "schedule")
                .order_by(JobRun.queued_at.desc())
                .limit(1)
                .scalar_subquery()
            )
    rows = db.session.scalars(select(JobRun).where(JobRun.id.in_(wanted))).all() if wanted else []
    newest_first = sorted(rows, key=lambda run: run.id, reverse=True)
    statuses = {run.id: run.status for run in rows}
    found = {}
    for name in job_names:
        # A lock holder's row is never newer than the job's newest run, so it cannot displace it.
        own = [run for run in newest_first if run.job_name == name]
        holder = holders.get(name)
        found[name] = LatestRuns(
            last=next((run for run in own if run.status != "skipped"), None),
            finished=next((run for run in own if run.status in ENDED_OUTCOMES), None),
            executing=holder if holder is not None and statuses.get(holder) not in FINISHED_OUTCOMES else None,
            tick_served=bool(ticks and name in ticks)
            and any(run.trigger == "schedule" and run.queued_at >= ticks[name] for run in own),
        )
    return found


def _newest_run_id(job_name: str, condition: ColumnElement[bool]) -> ScalarSelect[int]:
    return (
        select(JobRun.id)
        .where(JobRun.job_name == job_name, condition)
        .order_by(JobRun.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def run_to_dict(run: JobRun) -> dict[str, Any]:
    """Return a run as the JSON the portal and API show (times ISO 8601 UTC, duration in ms)."""
    return {
        "id": run.id,
        "jobName": run.job_name,
        "trigger": run.trigger,
        "status": run.status,
        "queuedAt": iso_utc(run.queued_at),
        "startedAt": iso_utc(run.started_at),
        "finishedAt": iso_utc(run.finished_at),
        "durationMs": run.duration_ms,
        "summary": run.summary,
        "error": run.error,
        "traceback": run.traceback,
        "rqJobId": run.rq_job_id,
        "requestedBy": run.requested_by,
        "tick": iso_utc(run.tick_at),
        "coversFrom": iso_utc(run.covers_from),
    }


def _get(run_id: int) -> JobRun:
    run = db.session.get(JobRun, run_id)
    if run is None:
        raise LookupError(f"no job run {run_id}")
    return run


# --- the execution lock --------------------------------------------------------------------


def acquire_execution_lock(job_name: str, run_id: int, ttl_seconds: int) -> bool:
    """Take ``job_name``'s execution lock for ``run_id`` (expiring after ``ttl_seconds``); True if taken.

    A lock still held by a run that the database shows as finished is stale (its owner
    forgot to release it) and is taken over.
    """
    redis = get_redis()
    key = lock_key(job_name)
    if redis.set(key, str(run_id), nx=True, ex=ttl_seconds):
        return True
    holder = lock_holder(job_name)
    if holder is None:
        return bool(redis.set(key, str(run_id), nx=True, ex=ttl_seconds))
    holder_run = db.session.get(JobRun, holder)
    if holder_run is not None and holder_run.status not in FINISHED_OUTCOMES:
        return False
    log.warning("execution lock of %s held by finished run %s: taking it over", job_name, holder)
    return bool(redis.eval(_REPLACE_IF_HELD, 1, key, str(holder), str(run_id), str(ttl_seconds)))


def take_over_execution_lock(job_name: str, run_id: int, rq_job_id: str | None, ttl_seconds: int) -> bool:
    """Take ``job_name``'s lock for ``run_id`` from the run that holds it when that run was
    executed by RQ job ``rq_job_id`` (the dead execution of the job retaking it now); True if taken.

    Only for a retake: RQ found the holder's execution abandoned (no heartbeat), so it runs no more.
    """
    holder = lock_holder(job_name)
    if holder is None or rq_job_id is None:
        return False
    holder_run = db.session.get(JobRun, holder)
    if holder_run is None or holder_run.rq_job_id != rq_job_id:
        return False
    log.warning("%s: run %s died with its worker; run %s takes its execution lock", job_name, holder, run_id)
    key = lock_key(job_name)
    return bool(get_redis().eval(_REPLACE_IF_HELD, 1, key, str(holder), str(run_id), str(ttl_seconds)))


def release_execution_lock(job_name: str, run_id: int | None = None) -> bool:
    """Release ``job_name``'s execution lock (only if ``run_id`` holds it, when given); True if released."""
    redis = get_redis()
    if run_id is None:
        return bool(redis.delete(lock_key(job_name)))
    return bool(redis.eval(_RELEASE_IF_HELD, 1, lock_key(job_name), str(run_id)))


def lock_holder(job_name: str) -> int | None:
    """Return the id of the run holding ``job_name``'s execution lock, or None."""
    value = get_redis().get(lock_key(job_name))
    return int(value) if value else None


def lock_holders(job_names: list[str]) -> dict[str, int]:
    """Return, for each job whose execution lock is held, the id of the run holding it (one MGET).

    Raises RedisError.
    """
    # A status read for display: it gives up within seconds during a failover (no run shows executing).
    values = get_probe_redis().mget([lock_key(name) for name in job_names]) if job_names else []
    return {name: int(value) for name, value in zip(job_names, values, strict=True) if value}
