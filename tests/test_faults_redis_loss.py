"""Redis loses everything (FLUSHALL, or the server killed and started again empty) while one
delivery waits for its retry and another for its first attempt: the scheduler's start and the
retry processor re-create the schedule and the work from the database; nothing is lost or sent twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from redis import Redis
from sqlalchemy import select

from portal import queues
from portal.alerts.scan import run_threshold_check
from portal.clock import utcnow
from portal.extensions import db
from portal.models import Delivery
from portal.periodic import registry
from tests import factories
from tests.faultkit import RedisServer, wait_for
from workers.periodic import run_retry_processor

pytestmark = pytest.mark.slow


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def app_config(private_redis):
    return {"REDIS_URL": private_redis.url}


def _mahroom(number: str, course):
    stu = factories.student(number)
    factories.attend(stu, course, ["absent", "absent", "present", "present"])  # 50 %


def _webhooks() -> list[tuple[str, int]]:
    db.session.expire_all()
    query = select(Delivery.status, Delivery.attempts).where(Delivery.channel == "webhook").order_by(Delivery.id)
    return [tuple(row) for row in db.session.execute(query)]


@pytest.mark.parametrize("loss", ["flushall", "restart"])
def test_redis_lost_while_deliveries_wait_loses_none_and_sends_none_twice(
    app, private_redis, procs, sink, run_jobs, loss
):
    app.config["WEBHOOK_URL"] = sink.url
    crs = factories.course("CS101")
    _mahroom("S1", crs)
    sink.status = 503
    run_threshold_check()
    run_jobs()  # S1's webhook fails once: its retry waits in RQ's scheduled registry
    sink.status = 200
    _mahroom("S2", crs)
    run_threshold_check()  # S2's webhook waits in the urgent queue for its first attempt
    assert _webhooks() == [("pending", 1), ("pending", 0)]
    assert queues.get_queue("notifications").scheduled_job_registry.count == 1  # S1's retry
    assert queues.get_queue("urgent").count == 1  # S2's first attempt

    if loss == "flushall":
        Redis.from_url(private_redis.url).flushall()
    else:
        private_redis.kill()
        private_redis.start()
    assert Redis.from_url(private_redis.url).dbsize() == 0

    scheduler = procs.scheduler("--interval", "1")
    rq_scheduler = queues.get_scheduler()
    wait_for(
        lambda: rq_scheduler.connection.zcard(rq_scheduler.scheduled_jobs_key) == len(registry.PERIODIC_JOBS)
        and queues.get_queue("notifications").count
        and queues.scheduler_alive(),
        60,
        "the scheduler to re-register the schedule and queue its start-up retry pass",
    )
    scheduler.terminate()
    assert scheduler.wait(30) == 0, scheduler.log()
    assert {job.id for job, _ in rq_scheduler.get_jobs(with_times=True)} == {j.name for j in registry.PERIODIC_JOBS}

    run_jobs()  # the start-up retry pass re-enqueues S2's first attempt, due now
    assert _webhooks() == [("pending", 1), ("sent", 1)]

    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=True):
        assert run_retry_processor(0)["requeued"] == 1  # S1's retry is due: back from the database
        run_jobs()
        assert run_retry_processor(0)["requeued"] == 0
        run_jobs()

    assert _webhooks() == [("sent", 2), ("sent", 1)]
    assert sorted(Counter(sink.alert_ids(accepted_only=True)).values()) == [1, 1]


def test_redis_lost_during_a_scan_the_retry_processor_reruns_its_batches(app, run_jobs):
    from portal.models import JobRun
    from tests.test_scan_concurrency import many_students, one_alert_per_crossing
    from workers.periodic import dispatch

    app.config["SCAN_BATCH_SIZE"] = 4
    many_students(10)  # three batches
    run = JobRun(job_name="notification-threshold-monitor", trigger="manual", status="queued", queued_at=utcnow())
    db.session.add(run)
    db.session.commit()
    dispatch("notification-threshold-monitor", "manual", run.id)
    Redis.from_url(app.config["REDIS_URL"]).flushall()

    assert run_retry_processor(0) == {
        "requeued": 0,
        "notificationsRequeued": 0,
        "batchesRequeued": 3,
        "batchesFailed": 0,
    }
    assert run_retry_processor(0)["batchesRequeued"] == 0  # their jobs are back in Redis
    run_jobs()
    db.session.expire_all()
    assert db.session.get(JobRun, run.id).status == "success"
    assert one_alert_per_crossing() == Counter({1: 30})


def test_redis_lost_after_a_scan_the_retry_processor_recreates_its_notifications_once(app, run_jobs):
    """The batches committed their alerts and queued the fan-out; Redis loses the fan-out jobs.
    Within the grace period the retry processor leaves the alerts alone (their jobs may still
    be on the way); after it, it re-enqueues the fan-out, and a second pass finds nothing."""
    from portal.models import JobRun, Notification
    from portal.notifications.fanout import FANOUT_GRACE
    from tests.test_scan_concurrency import many_students
    from workers.periodic import dispatch

    app.config["SCAN_BATCH_SIZE"] = 4
    many_students(10)  # 10 x (mahroom + suppressed warning + tasdiq): 20 notifications due
    run = JobRun(job_name="notification-threshold-monitor", trigger="manual", status="queued", queued_at=utcnow())
    db.session.add(run)
    db.session.commit()
    dispatch("notification-threshold-monitor", "manual", run.id)
    run_jobs(["thresholds"])
    db.session.expire_all()
    assert db.session.get(JobRun, run.id).summary["notificationsQueued"] == 20
    assert queues.get_queue("notifications").count == 3  # one fan-out job per batch
    Redis.from_url(app.config["REDIS_URL"]).flushall()

    assert run_retry_processor(0)["notificationsRequeued"] == 0  # still within the grace period
    with time_machine.travel(utcnow() + FANOUT_GRACE + timedelta(seconds=1), tick=True):
        assert run_retry_processor(0)["notificationsRequeued"] == 20
        run_jobs()
        assert run_retry_processor(0)["notificationsRequeued"] == 0
    run_jobs()  # a duplicate fan-out (a lost job that was not lost after all) adds nothing
    from portal.notifications.fanout import notify_alerts

    assert notify_alerts([n.alert_id for n in db.session.scalars(select(Notification))])["notifications"] == 0
    counts = Counter(db.session.scalars(select(Notification.alert_id)))
    assert len(counts) == 20 and set(counts.values()) == {1}
