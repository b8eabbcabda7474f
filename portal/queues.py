"""All Redis and RQ wiring: connections, queue names, enqueue helpers, the scheduler factory.

Nothing else in the project builds a ``Redis()`` or a ``Queue()`` (the clients come from
``portal/redis_connection.py``, which this module re-exports).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue, Worker
from rq.exceptions import AbandonedJobError, NoSuchJobError
from rq.job import Job, get_current_job
from rq.registry import StartedJobRegistry
from rq.results import Result
from rq_scheduler import Scheduler

from portal.redis_connection import (  # noqa: F401 - re-exported: the rest of the project imports them from here
    PROBE_RETRY_SECONDS,
    RedisUnavailable,
    check_redis,
    redis_client,
    redis_from_url,
    redis_location,
    redis_setting_names,
    uses_sentinel,
)

log = logging.getLogger(__name__)

URGENT = "urgent"
THRESHOLDS = "thresholds"
NOTIFICATIONS = "notifications"
MAINTENANCE = "maintenance"
# Order matters: a worker listening on all of them takes urgent work first.
QUEUE_NAMES = (URGENT, THRESHOLDS, NOTIFICATIONS, MAINTENANCE)

# Job results are kept for a day (for the portal and `rq info`), never forever.
RESULT_TTL_SECONDS = 24 * 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600

# The job functions the workers run, by dotted path (services enqueue by name, never by import:
# importing ``workers`` from a service would close an import loop through the app factory).
# tests/test_queue_names.py imports every one of them.
PERIODIC_DISPATCHER = "workers.periodic.dispatch"
RUN_THRESHOLD_MONITOR = "workers.periodic.run_threshold_monitor"
RUN_RETRY_PROCESSOR = "workers.periodic.run_retry_processor"
RUN_CACHE_REFRESH = "workers.periodic.run_cache_refresh"
RUN_COURSE_STATS_REFRESH = "workers.periodic.run_course_stats_refresh"
RUN_AUDIT_ARCHIVAL = "workers.periodic.run_audit_archival"
SCAN_BATCH = "workers.thresholds.scan_batch"
CHECK_PAIRS = "workers.thresholds.check_pairs"
NOTIFY_ALERTS = "workers.deliveries.notify"
DELIVER = "workers.deliveries.deliver"
RUN_IMPORT = "workers.imports.run_import"
JOB_FUNCTIONS = (PERIODIC_DISPATCHER, RUN_THRESHOLD_MONITOR, RUN_RETRY_PROCESSOR, RUN_CACHE_REFRESH)
JOB_FUNCTIONS += (RUN_COURSE_STATS_REFRESH, RUN_AUDIT_ARCHIVAL, SCAN_BATCH, CHECK_PAIRS)
JOB_FUNCTIONS += (NOTIFY_ALERTS, DELIVER, RUN_IMPORT)

# RQ job ids: each format is built here and matched here, nowhere else.
DELIVERY_RETRY_PREFIX = "delivery-retry-"


def manual_run_job_id(job_name: str, run_id: int) -> str:
    """The RQ job id of a manually triggered run of a periodic job."""
    return f"{job_name}-run-{run_id}"


def tick_run_job_id(job_name: str, run_id: int) -> str:
    """The RQ job id of run ``run_id`` serving one scheduled tick of a periodic job."""
    return f"{job_name}-tick-{run_id}"


def scan_batch_job_id(run_id: int, batch_no: int) -> str:
    """The RQ job id of batch ``batch_no`` of scan run ``run_id`` (one job per batch, ever)."""
    return f"scan-{run_id}-{batch_no}"


def scan_fanout_job_id(run_id: int, batch_no: int) -> str:
    """The RQ job id of the fan-out job that notifies what batch ``batch_no`` of run ``run_id`` opened."""
    return f"notify-{run_id}-{batch_no}"


def import_job_id(import_id: int) -> str:
    """The RQ job id of the import of uploaded file ``import_id`` (one job per upload)."""
    return f"import-{import_id}"


def delivery_retry_job_id(delivery_id: int, attempt: int) -> str:
    """The RQ job id of the scheduled retry ``attempt`` of delivery ``delivery_id``."""
    return f"{DELIVERY_RETRY_PREFIX}{delivery_id}-{attempt}"


def is_delivery_retry_job(job_id: str | None) -> bool:
    """True when ``job_id`` names a scheduled delivery retry (see ``delivery_retry_job_id``)."""
    return bool(job_id) and job_id.startswith(DELIVERY_RETRY_PREFIX)


def delivery_batch_job_id(kind: str = "deliveries") -> str:
    """A fresh RQ job id for one batch of delivery attempts (``kind`` says who queued it)."""
    return f"{kind}-{uuid.uuid4().hex}"


def get_redis() -> Redis:
    """Return the app's shared Redis client (one per app, created lazily)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = app.extensions.get("redis")
    if client is None:
        client = redis_client(app.config)
        app.extensions["redis"] = client
    return client


def get_probe_redis() -> Redis:
    """Return the app's client for readiness probes: like ``get_redis()`` but giving up after
    ``PROBE_RETRY_SECONDS`` during a failover instead of waiting it out."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not uses_sentinel(app.config):
        return get_redis()
    client = app.extensions.get("redis_probe")
    if client is None:
        client = redis_client(app.config, retry_seconds=PROBE_RETRY_SECONDS)
        app.extensions["redis_probe"] = client
    return client


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    """Return the RQ queue ``name`` (one of QUEUE_NAMES)."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; expected one of {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=connection or get_redis(), default_timeout=600)


def all_queues(connection: Redis | None = None) -> list[Queue]:
    """Return every queue the workers listen on, most urgent first."""
    return [get_queue(name, connection) for name in QUEUE_NAMES]


def register_queues(connection: Redis) -> None:
    """Add every queue to RQ's set of known queues, so ``rq info`` lists all four even
    before a job has ever been put on one."""
    connection.sadd(Queue.redis_queues_keys, *(Queue(name, connection=connection).key for name in QUEUE_NAMES))


def enqueue(queue_name: str, func: str, *args: Any, job_id: str | None = None, **options: Any):
    """Enqueue ``func`` (a dotted path) on ``queue_name`` and return the RQ job."""
    options.setdefault("result_ttl", RESULT_TTL_SECONDS)
    options.setdefault("failure_ttl", FAILURE_TTL_SECONDS)
    return get_queue(queue_name).enqueue(func, *args, job_id=job_id, **options)


def enqueue_many(queue_name: str, calls: Iterable[tuple[str, tuple, dict]]) -> list:
    """Enqueue many ``(func, args, options)`` calls in one Redis pipeline; return the jobs."""
    queue = get_queue(queue_name)
    prepared = []
    for func, args, options in calls:
        options = dict(options)
        options.setdefault("result_ttl", RESULT_TTL_SECONDS)
        options.setdefault("failure_ttl", FAILURE_TTL_SECONDS)
        prepared.append(Queue.prepare_data(func, args=args, **options))
    if not prepared:
        return []
    return queue.enqueue_many(prepared)


# --- rq-scheduler -----------------------------------------------------------------------
# The scheduler process refreshes this key on every loop; health reads it.
SCHEDULER_HEARTBEAT_KEY = "portal:scheduler:heartbeat"
SCHEDULER_INTERVAL_SECONDS = 10


class PortalScheduler(Scheduler):
    """rq-scheduler's Scheduler that also writes the portal's heartbeat key on every loop.

    ``on_tick`` (when set) runs before each enqueue pass while the scheduler holds its lock,
    which is where the scheduler process (``portal/periodic/scheduler.py``) re-syncs the registry
    with the job states. ``on_due_entry`` (when set) is offered every due entry with its
    scheduled time; when it returns True it has served the entry (and moved it to its next
    time), else rq-scheduler enqueues the entry as it is.
    """

    on_tick: Callable[[], None] | None = None
    on_due_entry: Callable[[Any, Any], bool] | None = None

    def heartbeat(self) -> None:
        super().heartbeat()
        self.connection.set(SCHEDULER_HEARTBEAT_KEY, str(time.time()), ex=int(self._interval) * 3 + 10)

    def enqueue_jobs(self):
        if self.on_tick is not None:
            try:
                self.on_tick()
            except Exception:  # noqa: BLE001 - a failed re-sync must not stop due jobs from being enqueued
                log.exception("schedule re-sync failed; enqueuing what Redis holds")
        return self.enqueue_due(list(self.get_jobs_to_queue(with_times=True)))

    def enqueue_due(self, due: list[tuple[Any, Any]]) -> list:
        """Enqueue (or offer to ``on_due_entry``) each ``(job, scheduled_time)``; return the jobs."""
        for job, scheduled_at in due:
            try:
                if self.on_due_entry is None or not self.on_due_entry(job, scheduled_at):
                    self.enqueue_job(job)
            except Exception:  # noqa: BLE001 - the entry stays due and is served on a later pass
                log.exception("could not serve the due entry %s; retrying on the next pass", job.id)
        return [job for job, _ in due]


def get_scheduler(connection: Redis | None = None, interval: int = SCHEDULER_INTERVAL_SECONDS) -> PortalScheduler:
    """Return an rq-scheduler Scheduler on the app's Redis (entries carry their own queue name)."""
    return PortalScheduler(queue_name=MAINTENANCE, connection=connection or get_redis(), interval=interval)


def scheduler_alive(connection: Redis | None = None) -> bool:
    """Return True when a scheduler process refreshed its heartbeat recently."""
    return bool((connection or get_redis()).exists(SCHEDULER_HEARTBEAT_KEY))


# --- delayed jobs (delivery retries) -----------------------------------------------------
# A job counts as "in Redis" while it can still run: waiting, scheduled or running.
LIVE_JOB_STATUSES = frozenset({"queued", "scheduled", "started", "deferred"})


def enqueue_at(queue_name: str, when, func: str, *args: Any, job_id: str | None = None, **options: Any):
    """Schedule ``func`` on ``queue_name`` at ``when`` (naive UTC); return the RQ job.

    Fired by workers running ``--with-scheduler``. RQ reads a naive datetime as server-local
    time, so ``when`` is made explicitly UTC here.
    """
    options.setdefault("result_ttl", RESULT_TTL_SECONDS)
    options.setdefault("failure_ttl", FAILURE_TTL_SECONDS)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return get_queue(queue_name).enqueue_at(when, func, *args, job_id=job_id, **options)


def live_job_ids(job_ids: Iterable[str]) -> set[str]:
    """Return those of ``job_ids`` whose RQ job is still waiting, scheduled or running."""
    ids = [job_id for job_id in dict.fromkeys(job_ids) if job_id]
    live: set[str] = set()
    connection = get_redis()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        for job in Job.fetch_many(chunk, connection=connection):
            status = job.get_status(refresh=False) if job is not None else None
            if status is not None and getattr(status, "value", status) in LIVE_JOB_STATUSES:
                live.add(job.id)
    return live


# --- a dead worker's jobs: RQ's abandoned-job handling, configured -------------------------
# PortalWorker beats for a running job every JOB_HEARTBEAT_SECONDS (a thread); RQ counts the job
# abandoned once JOB_HEARTBEAT_TTL_SECONDS pass without a beat, and every worker's maintenance
# pass (every MAINTENANCE_INTERVAL_SECONDS, checked each time an idle worker stops waiting for
# work: every 5 s) runs StartedJobRegistry.cleanup, which hands such jobs to
# ``retake_abandoned_job``. Worst case from the kill to the job queued again: 30 + 25 s.
JOB_HEARTBEAT_SECONDS = 10
JOB_HEARTBEAT_TTL_SECONDS = 30
MAINTENANCE_INTERVAL_SECONDS = 20
WORKER_TTL_SECONDS = 35
# A job that kills its worker this many times (a poison job) is left failed for the operator.
MAX_ABANDONED_RETAKES = 2
RETAKES_META_KEY = "abandonedRetakes"
RETAKEN_META_KEY = "retakenAfterAbandon"


def retake_abandoned_job(job: Job, exc_type, exc_value, tb) -> bool:
    """RQ exception handler: give a job of ours that RQ found abandoned (its worker died) one
    retry, so ``StartedJobRegistry.cleanup`` puts it back on its queue instead of failing it.

    Only abandonment is retried this way (other failures keep their own handling); the job's
    ``meta`` counts the retakes and flags the next execution as a retake (``is_retake``).
    """
    if exc_type is not AbandonedJobError or job.func_name not in JOB_FUNCTIONS:
        return True
    retakes = int(job.meta.get(RETAKES_META_KEY, 0))
    if retakes >= MAX_ABANDONED_RETAKES:
        log.error("job %s abandoned %d times: left failed", job.id, retakes + 1)
        return True
    job.meta[RETAKES_META_KEY] = retakes + 1
    job.meta[RETAKEN_META_KEY] = True
    job.retries_left = 1  # read by StartedJobRegistry.cleanup right after the handlers: re-enqueue
    log.warning("job %s was abandoned by its worker: queued again (retake %d)", job.id, retakes + 1)
    return True


def take_retake_flag() -> bool:
    """True when the RQ job running now is a retake of an abandoned execution (and clear the flag,
    so a later run under the same job id, such as a cron entry's next tick, is not one)."""
    job = get_current_job()
    if job is None or not job.meta.get(RETAKEN_META_KEY):
        return False
    job.meta.pop(RETAKEN_META_KEY, None)
    job.save_meta()
    return True


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b.*:")


def clean_abandoned_jobs(connection: Redis | None = None) -> None:
    """Re-enqueue (or fail, past their retakes) the jobs whose worker died: RQ's
    ``StartedJobRegistry`` entries past their heartbeat, through ``retake_abandoned_job``.

    Every worker does this in its maintenance pass; the retry processor calls it first too, so
    it never counts an abandoned job as live.
    """
    connection = connection or get_redis()
    for name in QUEUE_NAMES:
        StartedJobRegistry(name, connection=connection).cleanup(exception_handlers=[retake_abandoned_job])


def failure_of(job_id: str) -> str | None:
    """Return the last line of the error of RQ job ``job_id`` when it failed; None otherwise.

    A job whose worker died reads ``...AbandonedJobError...``; a job Redis lost reads ``None``.
    """
    try:
        job = Job.fetch(job_id, connection=get_redis())
    except NoSuchJobError:
        return None
    result = job.latest_result()
    if result is None or result.type != Result.Type.FAILED:
        return None
    lines = [line.strip() for line in (result.exc_string or "").splitlines() if line.strip()]
    # The exception's own line, not a trailer such as SQLAlchemy's "(Background on this error ...)".
    named = [line for line in lines if _EXCEPTION_LINE.match(line)]
    return (named or lines or ["failed"])[-1]


def remove_job(job_id: str) -> bool:
    """Delete job ``job_id`` from Redis (its queue, the scheduled registry); True when it existed."""
    try:
        job = Job.fetch(job_id, connection=get_redis())
    except NoSuchJobError:
        return False
    job.delete(remove_from_queue=True)
    return True


# --- what RQ holds, read once for the dashboard, health and metrics ------------------------


def queue_snapshot(connection: Redis | None = None) -> list[dict[str, Any]]:
    """Return per queue ``{name, length, started, failed, scheduled, oldestEnqueuedAt}``, most
    urgent first (``oldestEnqueuedAt``: naive UTC of the job waiting longest, or None)."""
    result = []
    for queue in all_queues(connection):
        oldest = None
        first = queue.get_job_ids(0, 0)
        if first:
            job = queue.fetch_job(first[0])
            if job is not None and job.enqueued_at is not None:
                oldest = job.enqueued_at.replace(tzinfo=None)
        result.append(
            {
                "name": queue.name,
                "length": queue.count,
                "started": queue.started_job_registry.count,
                "failed": queue.failed_job_registry.count,
                "scheduled": queue.scheduled_job_registry.count,
                "oldestEnqueuedAt": oldest,
            }
        )
    return result


def live_worker_count(connection: Redis | None = None) -> int:
    """Return how many RQ workers are alive (registered and not yet expired)."""
    return len(Worker.all(connection=connection or get_redis()))


def worker_snapshot(connection: Redis | None = None) -> list[dict[str, Any]]:
    """Return per live worker ``{name, state, queues, currentJob, lastHeartbeat, successful, failed}``
    sorted by name (``state`` as a string: busy, idle, ...; ``lastHeartbeat`` as RQ gives it)."""
    result = []
    for worker in Worker.all(connection=connection or get_redis()):
        state = worker.get_state()
        result.append(
            {
                "name": worker.name,
                "state": str(getattr(state, "value", state)),
                "queues": worker.queue_names(),
                "currentJob": worker.get_current_job_id(),
                "lastHeartbeat": worker.last_heartbeat,
                "successful": worker.successful_job_count,
                "failed": worker.failed_job_count,
            }
        )
    return sorted(result, key=lambda w: w["name"])
