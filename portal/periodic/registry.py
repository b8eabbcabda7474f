"""The one registry of periodic jobs: each declared once, as data, in ``PERIODIC_JOBS``.

Crons are UTC. Every rq-scheduler entry calls the same thin dispatcher
(``queues.PERIODIC_DISPATCHER``) under the fixed id ``name``: a cron entry reuses one RQ job
id for every run, so the dispatcher records each run with its own id and holds the job's
execution lock (``portal.periodic.runs``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from portal import queues
from portal.domain.job_schedule import MISSED_TICK_POLICIES


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: when (cron, UTC), where (queue) and what (the work function).

    ``function`` is the dotted path of the work, called by the dispatcher as ``f(run_id)``
    and returning a summary dict. ``timeout`` bounds one execution (seconds); ``result_ttl``
    is how long RQ keeps the result of a manually triggered run. ``lock_ttl`` is how long the
    execution lock may be held (default: the timeout). ``enabled=False`` takes a job out of
    the schedule for every deployment (operators stop jobs at run time with ``flask jobs stop``).
    ``missed_ticks`` says what happens to ticks missed while no scheduler ran: ``once`` (one
    catch-up run when the scheduler is back) or ``skip`` (recorded as skipped, never run).
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
    missed_ticks: str = "once"

    def __post_init__(self) -> None:
        if self.missed_ticks not in MISSED_TICK_POLICIES:
            raise ValueError(
                f"{self.name}: missed_ticks must be one of {', '.join(MISSED_TICK_POLICIES)}, got {self.missed_ticks!r}"
            )

    @property
    def execution_lock_ttl(self) -> int:
        """Seconds the execution lock lives when nobody releases it."""
        return self.lock_ttl or self.timeout

    @property
    def signature(self) -> str:
        """A digest of everything that shapes the rq-scheduler entry (a change means replace it)."""
        parts = (
            queues.PERIODIC_DISPATCHER,
            self.name,
            self.cron,
            self.queue,
            self.function,
            self.timeout,
            self.description,
        )
        return hashlib.sha1(repr(parts).encode()).hexdigest()


THRESHOLD_MONITOR = "notification-threshold-monitor"
RETRY_PROCESSOR = "notification-retry-processor"

PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        name=THRESHOLD_MONITOR,
        description="Scan every active student in batches, open/resolve alerts and queue notifications",
        cron="0 * * * *",
        queue=queues.THRESHOLDS,
        function=queues.RUN_THRESHOLD_MONITOR,
        timeout=300,
        # The scan's batches run as separate RQ jobs after the dispatcher returns; the lock
        # stays held for the whole scan (released when the last batch finishes the run, or
        # after this TTL if it never does), so an hourly tick never starts a second scan.
        lock_ttl=3300,
        missed_ticks="once",
    ),
    PeriodicJob(
        name=RETRY_PROCESSOR,
        description="Re-enqueue deliveries whose attempt is due but that have no job in Redis",
        cron="*/15 * * * *",
        queue=queues.NOTIFICATIONS,
        function=queues.RUN_RETRY_PROCESSOR,
        timeout=600,
        # The scheduler queues one pass at start anyway (portal/periodic/scheduler.py).
        missed_ticks="skip",
    ),
    PeriodicJob(
        name="cache-refresh",
        description="Recompute the per-student attendance summaries cached in Redis",
        cron="*/5 * * * *",
        queue=queues.MAINTENANCE,
        function=queues.RUN_CACHE_REFRESH,
        timeout=240,
        missed_ticks="skip",
    ),
    PeriodicJob(
        name="materialized-view-refresh",
        description="Refresh the per-course statistics (materialized view course_stats)",
        cron="*/10 * * * *",
        queue=queues.MAINTENANCE,
        function=queues.RUN_COURSE_STATS_REFRESH,
        timeout=540,
        missed_ticks="skip",
    ),
    PeriodicJob(
        name="audit-log-archival",
        description="Move audit entries older than AUDIT_RETENTION_DAYS to the archive, in chunks",
        cron="0 2 * * *",
        queue=queues.MAINTENANCE,
        function=queues.RUN_AUDIT_ARCHIVAL,
        timeout=3600,
        result_ttl=7 * 24 * 3600,
        missed_ticks="once",
    ),
)


def get_job(name: str, jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> PeriodicJob | None:
    """Return the registry entry called ``name``, or None."""
    return next((job for job in jobs if job.name == name), None)


def job_names(jobs: tuple[PeriodicJob, ...] = PERIODIC_JOBS) -> list[str]:
    """Return the names of every periodic job, in registry order."""
    return [job.name for job in jobs]
