"""RQ's abandoned-job handling as the portal configures it, in-process on a real Redis: the
cleanup puts an abandoned job of ours back (twice at most), leaves other jobs and ordinary
failures alone, and a retaken periodic run takes over only its own dead execution's lock."""

from __future__ import annotations

import time

from rq.executions import Execution
from rq.job import Job
from rq.registry import FailedJobRegistry

from portal import queues
from portal.periodic import runs
from workers.worker import PortalWorker

RETRY_PROCESSOR = "notification-retry-processor"


def _abandon(job: Job) -> None:
    """Put ``job`` in its queue's started registry as a dead worker leaves it: an execution whose
    heartbeat has lapsed (removed from the queue, as a dequeue does)."""
    connection = queues.get_redis()
    queues.get_queue(job.origin).remove(job.id)
    with connection.pipeline() as pipeline:
        execution = Execution.create(job, ttl=30, pipeline=pipeline, worker_name="dead")
        pipeline.execute()
    # Its last beat more than the heartbeat TTL ago: RQ's hold on it ran out a second ago.
    connection.zadd(f"rq:wip:{job.origin}", {execution.composite_key: time.time() - 1}, xx=True)


def _queued_ids(name: str) -> list[str]:
    return queues.get_queue(name).get_job_ids()


def test_an_abandoned_job_of_ours_is_queued_again_twice_then_left_failed(app):
    job = queues.enqueue(queues.NOTIFICATIONS, queues.DELIVER, [1], job_id="deliveries-x")
    for retake in (1, 2):
        _abandon(job)
        assert _queued_ids(queues.NOTIFICATIONS) == []
        queues.clean_abandoned_jobs()
        assert _queued_ids(queues.NOTIFICATIONS) == ["deliveries-x"]
        job = Job.fetch("deliveries-x", connection=queues.get_redis())
        assert job.get_status() == "queued" and job.args == ([1],)
        assert job.meta[queues.RETAKES_META_KEY] == retake and job.meta[queues.RETAKEN_META_KEY] is True
    _abandon(job)
    queues.clean_abandoned_jobs()
    assert _queued_ids(queues.NOTIFICATIONS) == []
    assert "deliveries-x" in FailedJobRegistry(queues.NOTIFICATIONS, connection=queues.get_redis()).get_job_ids()


def test_an_abandoned_job_that_is_not_ours_is_failed_as_rq_does(app):
    job = queues.get_queue(queues.MAINTENANCE).enqueue("os.getcwd", job_id="foreign")
    _abandon(job)
    queues.clean_abandoned_jobs()
    assert _queued_ids(queues.MAINTENANCE) == []
    assert Job.fetch("foreign", connection=queues.get_redis()).get_status() == "failed"


def test_a_job_that_raises_is_not_retaken(app):
    queues.enqueue(queues.NOTIFICATIONS, queues.DELIVER, "not a list of ids", "extra", job_id="broken")
    worker = PortalWorker([queues.get_queue(queues.NOTIFICATIONS)], connection=queues.get_redis())
    worker.work(burst=True)
    job = Job.fetch("broken", connection=queues.get_redis())
    assert job.get_status() == "failed" and job.retries_left is None
    assert queues.RETAKES_META_KEY not in job.meta and _queued_ids(queues.NOTIFICATIONS) == []


def test_portal_worker_replaces_rqs_defaults_and_keeps_other_values(app):
    connection = queues.get_redis()
    worker = PortalWorker([queues.get_queue(queues.URGENT)], connection=connection, worker_ttl=420)
    assert (worker.worker_ttl, worker.job_monitoring_interval, worker.maintenance_interval) == (35, 10, 20)
    worker = PortalWorker([queues.get_queue(queues.URGENT)], connection=connection, job_monitoring_interval=4)
    assert worker.job_monitoring_interval == 4
    assert worker.get_heartbeat_ttl(Job.create("os.getcwd", connection=connection, timeout=600)) == 24


def test_a_retake_takes_the_lock_only_from_a_run_of_its_own_rq_job(app):
    dead = runs.start_run(RETRY_PROCESSOR, "schedule", rq_job_id=RETRY_PROCESSOR)
    assert runs.acquire_execution_lock(RETRY_PROCESSOR, dead.id, 60)
    runs.begin_execution(RETRY_PROCESSOR, dead.id, RETRY_PROCESSOR)
    other = runs.start_run(RETRY_PROCESSOR, "manual", rq_job_id="notification-retry-processor-run-99")
    assert not runs.acquire_execution_lock(RETRY_PROCESSOR, other.id, 60)
    assert not runs.take_over_execution_lock(RETRY_PROCESSOR, other.id, "notification-retry-processor-run-99", 60)
    assert runs.lock_holder(RETRY_PROCESSOR) == dead.id
    retake = runs.start_run(RETRY_PROCESSOR, "schedule", rq_job_id=RETRY_PROCESSOR)
    assert runs.take_over_execution_lock(RETRY_PROCESSOR, retake.id, RETRY_PROCESSOR, 60)
    assert runs.lock_holder(RETRY_PROCESSOR) == retake.id
