"""The RQ worker class to run: ``rq worker --worker-class workers.worker.PortalWorker ...``.

Stock ``rq worker`` forks a work horse per job; each horse would build the Flask app, open a
new database connection and compile every SQL statement again, for a job that often takes a
few milliseconds of real work (a scan batch with nothing to change, 100 deliveries). Measured
in ``docs/performance.md``: that overhead was most of an unchanged hourly scan.

``PortalWorker`` runs jobs in its own process (RQ's ``SimpleWorker``), with one app, one
connection pool and SQLAlchemy's compiled-statement cache kept from job to job. What the fork
gave, and what stands in for it here:

- isolation of a crashing job: a job that kills the process (SIGKILL, out of memory) takes the
  worker with it; the supervisor (systemd, compose, honcho) restarts it. The horse's monitor
  beat for the job; here a thread does (``_JobHeartbeat``), so RQ sees the job abandoned 30 s
  after the kill and the next maintenance pass of any worker puts it back on its queue
  (``portal.queues.retake_abandoned_job``; ``docs/reliability.md``);
- state left behind by a job: every job runs in a fresh app context whose session is removed
  at its end (``workers.context.job_context``), so no ORM state or transaction outlives a job;
- job timeouts: enforced by RQ with SIGALRM in this process, as in a horse;
- warm shutdown: SIGTERM lets the job in hand finish, then the worker exits.
"""

from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_JOB_MONITORING_INTERVAL, DEFAULT_MAINTENANCE_TASK_INTERVAL, DEFAULT_WORKER_TTL
from rq.exceptions import DequeueTimeout
from rq.job import Job
from rq.worker import WorkerStatus
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from portal import queues
from portal.extensions import db
from portal.operations.queue_pause import paused_queue_names
from workers.context import worker_app

log = logging.getLogger(__name__)


def _warm_up() -> None:
    """Build the app, configure the ORM mappers and open one database connection before the
    first job, so the first job does not pay for them (a warning if the database is down: the
    jobs connect on their own once it is up)."""
    app = worker_app()
    with app.app_context():
        configure_mappers()
        try:
            with db.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            log.warning("database not reachable at worker start (%s); continuing", exc)


# How long a worker waits for work before it reads the paused queues again.
PAUSE_CHECK_SECONDS = 5


class PausableQueue(Queue):
    """RQ's Queue whose ``dequeue_any`` (what a worker waits in) skips the paused queues."""

    @classmethod
    def dequeue_any(cls, queues, timeout, connection=None, **options):
        """Like ``Queue.dequeue_any`` over the queues not paused, waiting at most
        PAUSE_CHECK_SECONDS at a time (RQ's worker loop calls again on DequeueTimeout)."""
        wait = None if timeout is None else max(1, min(timeout, PAUSE_CHECK_SECONDS))
        while True:
            paused = paused_queue_names(connection)
            open_queues = [queue for queue in queues if queue.name not in paused]
            if not open_queues:
                if wait is None:
                    return None  # burst: nothing it may take
                time.sleep(wait)  # every queue of this worker is paused: wait, then look again
                raise DequeueTimeout(wait, [queue.key for queue in queues])
            result = super().dequeue_any(open_queues, wait, connection=connection, **options)
            if result is None:
                return None
            job, queue = result
            if queue.name not in paused_queue_names(connection):
                return job, queue
            # Paused while this worker waited on it: put the job back where it was, untouched.
            with connection.pipeline() as pipeline:
                pipeline.lrem(queue.intermediate_queue_key, 1, job.id)
                pipeline.lpush(queue.key, job.id)
                pipeline.execute()


class _JobHeartbeat:
    """A thread that keeps the running job's heartbeat (the worker's, the execution's, the job's)
    fresh every ``job_monitoring_interval`` seconds, as a forking worker's horse monitor does."""

    def __init__(self, worker: PortalWorker, job: Job):
        self._worker, self._job = worker, job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job.id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._worker.job_monitoring_interval):
            try:
                self._worker.maintain_heartbeats(self._job)
            except RedisError as exc:  # Redis away for a moment: the next beat tries again
                log.warning("heartbeat of job %s failed: %s", self._job.id, exc)


# RQ's defaults (what `rq worker` passes when no flag is given) and the portal's values.
_PORTAL_DEFAULTS = {
    "worker_ttl": (DEFAULT_WORKER_TTL, queues.WORKER_TTL_SECONDS),
    "job_monitoring_interval": (DEFAULT_JOB_MONITORING_INTERVAL, queues.JOB_HEARTBEAT_SECONDS),
    "maintenance_interval": (DEFAULT_MAINTENANCE_TASK_INTERVAL, queues.MAINTENANCE_INTERVAL_SECONDS),
}


class PortalWorker(SimpleWorker):
    """A non-forking RQ worker that keeps the Flask app, its connection pool and its compiled
    statements from one job to the next, beats while a job runs, puts abandoned jobs back on
    their queue and takes nothing from a paused queue.

    ``--worker-ttl``, ``--job-monitoring-interval`` and ``--maintenance-interval`` left at RQ's
    defaults get the portal's (35 s, 10 s, 20 s); any other value given is kept.
    """

    def __init__(self, *args, **kwargs):
        for option, (rq_default, portal_value) in _PORTAL_DEFAULTS.items():
            if kwargs.get(option) in (None, rq_default):
                kwargs[option] = portal_value
        kwargs.pop("default_worker_ttl", None)  # deprecated alias `rq worker` still passes
        super().__init__(*args, **kwargs)
        self.queue_class = PausableQueue
        self.push_exc_handler(queues.retake_abandoned_job)
        self._job_heartbeat: _JobHeartbeat | None = None
        _warm_up()
        queues.register_queues(self.connection)

    def set_state(self, state: str, pipeline=None) -> None:
        """Record the state; an idle worker names its paused queues in it (what `rq info` prints)."""
        if state == WorkerStatus.IDLE:
            paused = sorted(paused_queue_names(self.connection) & set(self.queue_names()))
            if paused:
                state = f"{WorkerStatus.IDLE.value} (paused: {', '.join(paused)})"
        super().set_state(state, pipeline)

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        super().heartbeat(timeout, pipeline)
        state = self.get_state()
        if pipeline is None and str(getattr(state, "value", state)).startswith(WorkerStatus.IDLE.value):
            self.set_state(WorkerStatus.IDLE)  # a queue paused or resumed while this worker waits

    def get_heartbeat_ttl(self, job: Job) -> int:
        """A running job counts as abandoned this long after its last beat (SimpleWorker's own
        value is the job's whole timeout plus a minute, since it cannot beat)."""
        return self.job_monitoring_interval + queues.JOB_HEARTBEAT_TTL_SECONDS - queues.JOB_HEARTBEAT_SECONDS

    def execute_job(self, job: Job, queue) -> None:
        self._job_heartbeat = _JobHeartbeat(self, job)
        self._job_heartbeat.start()
        try:
            super().execute_job(job, queue)
        finally:
            self._stop_heartbeat()

    def _stop_heartbeat(self) -> None:
        # Before RQ ends the execution: a beat after that would write its keys back.
        if self._job_heartbeat is not None:
            self._job_heartbeat.stop()
            self._job_heartbeat = None

    def handle_job_success(self, job: Job, queue, started_job_registry) -> None:
        self._stop_heartbeat()
        if job.meta.pop(queues.RETAKES_META_KEY, None) is not None:
            job.save_meta()  # a cron entry's job id lives on: its next tick starts with a full budget
        super().handle_job_success(job, queue, started_job_registry)

    def handle_job_failure(self, job: Job, queue, started_job_registry=None, exc_string="") -> None:
        self._stop_heartbeat()
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string)
