"""The one registry of periodic jobs, and the scheduler entry point (``python schedules.py``).

Every periodic job is declared once, as data, in ``PERIODIC_JOBS``. The scheduler process
syncs that list (minus the jobs an operator stopped, see ``job_states``) into rq-scheduler:
it adds missing entries, replaces changed ones and removes entries that are no longer defined
or are disabled, so restarting it never duplicates a job. Then it runs rq-scheduler's loop,
re-syncing about once a minute (a flushed Redis or a missed stop/start heals itself).

Crons are UTC. rq-scheduler computes the next time of a cron entry with a naive
``datetime.now()`` (the server's local time), so this process sets ``TZ=UTC`` before anything
else runs, and ``register_entry`` writes the first run time computed here in UTC whatever
process (web, CLI) registers it.

Every entry calls the same thin dispatcher, ``workers.periodic.dispatch(name, "schedule")``,
under the fixed id ``name``: an rq-scheduler cron entry reuses one RQ job id for every run,
so the dispatcher records each run with its own id and holds the job's execution lock.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from crontab import CronTab

log = logging.getLogger("schedules")

DISPATCHER = "workers.periodic.dispatch"
# Marks the rq-scheduler entries this registry owns (other code schedules delivery retries).
ENTRY_MARKER = "periodic_job"
ENTRIES_KEY = "portal:periodic:entries"
RESYNC_EVERY_SECONDS = 60


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: when (cron, UTC), where (queue) and what (the work function).

    ``function`` is the dotted path of the work, called by the dispatcher as ``f(run_id)``
    and returning a summary dict. ``timeout`` bounds one execution (seconds); ``result_ttl``
    is how long RQ keeps the result of a manually triggered run. ``lock_ttl`` is how long the
    execution lock may be held (default: the timeout). ``enabled=False`` takes a job out of
    the schedule for every deployment (operators stop jobs at run time with ``flask jobs stop``).
    """

    name: str
    description: str
    cron: str
    queue: str
    function: str
    timeout: int
    result_ttl: int = 24 * 3600
    lock_ttl: int | None = None
    enabled: bool = True

    @property
    def execution_lock_ttl(self) -> int:
        """Seconds the execution lock lives when nobody releases it."""
        return self.lock_ttl or self.timeout

    @property
    def signature(self) -> str:
        """A digest of everything that shapes the rq-scheduler entry (a change means replace it)."""
        parts = (DISPATCHER, self.name, self.cron, self.queue, self.function, self.timeout, self.description)
        return hashlib.sha1(repr(parts).encode()).hexdigest()


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        name="notification-threshold-monitor",
        description="Scan every active student in batches, open/resolve alerts and queue notifications",
        cron="0 * * * *",
        queue="thresholds",
        function="workers.periodic.run_threshold_monitor",
        timeout=300,
        # The scan's batches run as separate RQ jobs after the dispatcher returns; the lock
        # stays held for the whole scan (released when the last batch finishes the run, or
        # after this TTL if it never does), so an hourly tick never starts a second scan.
        lock_ttl=3300,
    ),
    PeriodicJob(
        name="notification-retry-processor",
        description="Re-enqueue deliveries whose attempt is due but that have no job in Redis",
        cron="*/15 * * * *",
        queue="notifications",
        function="workers.periodic.run_retry_processor",
        timeout=600,
    ),
    PeriodicJob(
        name="cache-refresh",
        description="Recompute the per-student attendance summaries cached in Redis",
        cron="*/5 * * * *",
        queue="maintenance",
        function="workers.periodic.run_cache_refresh",
        timeout=240,
    ),
    PeriodicJob(
        name="materialized-view-refresh",
        description="Refresh the per-course statistics (materialized view course_stats)",
        cron="*/10 * * * *",
        queue="maintenance",
        function="workers.periodic.run_course_stats_refresh",
        timeout=540,
    ),
    PeriodicJob(
        name="audit-log-archival",
        description="Move audit entries older than AUDIT_RETENTION_DAYS to the archive, in chunks",
        cron="0 2 * * *",
        queue="maintenance",
        function="workers.periodic.run_audit_archival",
        timeout=3600,
        result_ttl=7 * 24 * 3600,
    ),
)


def get_job(name: str, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> PeriodicJob | None:
    """Return the registry entry called ``name``, or None."""
    return next((job for job in jobs if job.name == name), None)


def next_run_after(cron: str, moment: datetime | None = None) -> datetime:
    """Return the next time (naive UTC) ``cron`` fires strictly after ``moment`` (default: now), in UTC."""
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    nxt = CronTab(cron).next(now=moment, return_datetime=True, default_utc=True)
    return nxt.astimezone(UTC).replace(tzinfo=None)


# --- rq-scheduler entries ------------------------------------------------------------------


def register_entry(scheduler, job: PeriodicJob) -> None:
    """Create or overwrite the rq-scheduler cron entry of ``job`` (id = its name), next run in UTC."""
    entry = scheduler.cron(
        job.cron,
        func=DISPATCHER,
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
    connection.zadd(scheduler.scheduled_jobs_key, {job.name: _unix(next_run_after(job.cron))})
    connection.sadd(ENTRIES_KEY, job.name)


def cancel_entry(scheduler, name: str) -> bool:
    """Remove the rq-scheduler entry ``name``; return True when one was scheduled.

    The entry's job hash is left to expire in a day rather than deleted, so a run under way
    can still report its result.
    """
    from rq.job import Job

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
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

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


def _unix(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


# --- the scheduler process ----------------------------------------------------------------


def _enabled_names() -> set[str]:
    from portal.services.jobs import enabled_job_names

    return enabled_job_names()


def run_scheduler(burst: bool = False, interval: int | None = None, sync_only: bool = False) -> None:
    """Sync the registry into rq-scheduler, queue the start-up safety net, then run the loop."""
    import time

    from portal import create_app
    from portal.queues import SCHEDULER_INTERVAL_SECONDS, get_redis, get_scheduler, register_queues

    app = create_app()
    with app.app_context():
        register_queues(get_redis())
        scheduler = get_scheduler(interval=interval or SCHEDULER_INTERVAL_SECONDS)
        changes = sync_schedule(scheduler, _enabled_names())
        log.info("schedule synced: %s", {k: v for k, v in changes.items() if v})
        if sync_only:
            return
        if not burst:
            _requeue_pending_at_start()
        last_sync = time.monotonic()

        def resync() -> None:
            nonlocal last_sync
            if time.monotonic() - last_sync >= RESYNC_EVERY_SECONDS:
                last_sync = time.monotonic()
                changed = sync_schedule(scheduler, _enabled_names())
                if changed["added"] or changed["replaced"] or changed["removed"]:
                    log.info("schedule re-synced: %s", {k: v for k, v in changed.items() if v and k != "unchanged"})

        scheduler.on_tick = resync
        scheduler.run(burst=burst)


def _requeue_pending_at_start() -> None:
    """Run the retry processor once at start: Redis may have lost queued deliveries (DESIGN 2)."""
    from portal.services.jobs import enabled_job_names, trigger_job

    if "notification-retry-processor" in enabled_job_names():
        try:
            trigger_job("notification-retry-processor", actor="scheduler", source="system")
        except Exception:  # noqa: BLE001 - the 15-minute schedule is the fallback
            log.exception("could not queue the start-up retry pass")


def main(argv: list[str] | None = None) -> None:
    """``python schedules.py [--burst] [--sync-only] [--interval SECONDS]``."""
    import argparse
    import os
    import time
    import warnings

    # Before anything computes a time: rq-scheduler's cron maths uses local time.
    os.environ["TZ"] = "UTC"
    time.tzset()
    # crontab warns about its own future default on every call rq-scheduler makes; we pass UTC explicitly.
    warnings.filterwarnings("ignore", message="Version 0.22.0", category=FutureWarning)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", action="store_true", help="enqueue what is due once, then exit")
    parser.add_argument("--sync-only", action="store_true", help="sync the registry into rq-scheduler and exit")
    parser.add_argument("--interval", type=int, default=None, help="seconds between scheduler passes")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_scheduler(burst=args.burst, interval=args.interval, sync_only=args.sync_only)


if __name__ == "__main__":
    main()
