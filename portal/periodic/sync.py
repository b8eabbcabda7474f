"""Keeping rq-scheduler's entries equal to the registry: register, cancel, sync.

The scheduler process syncs the registry (minus the jobs an operator stopped, see
``job_states``) into rq-scheduler: it adds missing entries, replaces changed ones and removes
entries that are no longer defined or are disabled, so restarting it never duplicates a job.

rq-scheduler computes the next time of a cron entry with a naive ``datetime.now()`` (the
server's local time), so ``register_entry`` writes the first run time computed here in UTC
whatever process (web, CLI, scheduler) registers it.
"""

from __future__ import annotations

from rq.exceptions import NoSuchJobError
from rq.job import Job

from portal import queues
from portal.periodic.cron import next_run_after, unix_seconds
from portal.periodic.registry import PERIODIC_JOBS, PeriodicJob

# Marks the rq-scheduler entries this registry owns (other code schedules delivery retries).
ENTRY_MARKER = "periodic_job"
ENTRIES_KEY = "portal:periodic:entries"


def register_entry(scheduler, job: PeriodicJob) -> None:
    """Create or overwrite the rq-scheduler cron entry of ``job`` (id = its name), next run in UTC."""
    entry = scheduler.cron(
        job.cron,
        func=queues.PERIODIC_DISPATCHER,
        args=[job.name, "schedule"],
        id=job.name,
        queue_name=job.queue,
        timeout=job.timeout,
        description=f"{job.name}: {job.description}",
        meta={ENTRY_MARKER: True, "signature": job.signature},
        # rq-scheduler's default for cron entries, stated on purpose: the entry's job hash must
        # outlive every run or rq-scheduler drops the entry when the hash expires. The hash is
        # one small record per job; runs themselves are recorded in job_runs, and manual runs
        # are separate RQ jobs kept for ``job.result_ttl`` only.
        result_ttl=-1,
    )
    connection = scheduler.connection
    # A hash given an expiry earlier (removal, failure) keeps it across cron()'s HSET.
    connection.persist(entry.key)
    connection.zadd(scheduler.scheduled_jobs_key, {job.name: unix_seconds(next_run_after(job.cron))})
    connection.sadd(ENTRIES_KEY, job.name)


def reschedule_entry(scheduler, job: PeriodicJob, now=None) -> bool:
    """Move the entry of ``job`` to its next cron time after ``now`` (UTC); False when it is not
    scheduled (cancelled meanwhile: it stays cancelled)."""
    moved = scheduler.connection.zadd(
        scheduler.scheduled_jobs_key, {job.name: unix_seconds(next_run_after(job.cron, now))}, xx=True, ch=True
    )
    return bool(moved) or job.name in scheduler


def cancel_entry(scheduler, name: str) -> bool:
    """Remove the rq-scheduler entry ``name``; return True when one was scheduled.

    The entry's job hash is left to expire in a day rather than deleted, so a run under way
    can still report its result.
    """
    connection = scheduler.connection
    was_scheduled = name in scheduler
    scheduler.cancel(name)
    connection.srem(ENTRIES_KEY, name)
    connection.expire(Job.key_for(name), 24 * 3600)
    return was_scheduled


def sync_schedule(
    scheduler, enabled_names: set[str], jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS
) -> dict[str, list[str]]:
    """Make rq-scheduler hold exactly the enabled registry jobs; return what changed.

    ``enabled_names`` are the jobs enabled in the database. Returns
    ``{"added": [...], "replaced": [...], "removed": [...], "unchanged": [...]}``.
    """
    connection = scheduler.connection
    wanted = {job.name: job for job in jobs if job.enabled and job.name in enabled_names}
    result: dict[str, list[str]] = {"added": [], "replaced": [], "removed": [], "unchanged": []}
    for name, job in wanted.items():
        try:
            current = Job.fetch(name, connection=connection)
        except NoSuchJobError:
            current = None
        if current is None or name not in scheduler:
            register_entry(scheduler, job)
            result["added"].append(name)
        elif current.meta.get("signature") != job.signature:
            register_entry(scheduler, job)
            result["replaced"].append(name)
        else:
            result["unchanged"].append(name)
    known = {m.decode() for m in connection.smembers(ENTRIES_KEY)} | {job.name for job in jobs}
    for name in sorted(known - set(wanted)):
        if cancel_entry(scheduler, name):
            result["removed"].append(name)
    return result
