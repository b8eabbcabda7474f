"""A real `rq worker` SIGKILLed in the middle of a scan batch, of a delivery and of a periodic
run: RQ finds the job abandoned and puts it back on its queue within 90 s, and nothing is lost
or doubled.

The kill happens at a real synchronisation point, not after a sleep: the scan batch and the
periodic run are blocked on a PostgreSQL lock the test holds (pg_locks shows them waiting), the
delivery is held by a webhook sink that has received the request and not answered yet. A second
worker, idle, is what finds the job abandoned (its maintenance pass: RQ's registry cleanup); the
time from the kill to the job queued again is measured and printed.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from rq.job import Job
from sqlalchemy import create_engine, select, text

from portal import queues
from portal.alerts.scan import run_threshold_check
from portal.clock import utcnow
from portal.extensions import db
from portal.models import Delivery, JobRun
from portal.models.alerts import ScanBatch
from portal.periodic.jobs import trigger_job
from tests import factories
from tests.faultkit import MONITOR, job_run, wait_for, waiting_on_a_lock
from tests.test_scan_concurrency import many_students, one_alert_per_crossing
from workers.periodic import dispatch

pytestmark = pytest.mark.slow

BACK_WITHIN_SECONDS = 90
RETRY_PROCESSOR = "notification-retry-processor"


def _statuses(channel: str) -> list[tuple[str, int]]:
    db.session.expire_all()
    query = select(Delivery.status, Delivery.attempts).where(Delivery.channel == channel).order_by(Delivery.id)
    return [tuple(row) for row in db.session.execute(query)]


def _retaken_by_rq(job_id: str) -> bool:
    """True when RQ's cleanup put job ``job_id`` back after its worker died (``Job.retry`` took the
    one retry ``retake_abandoned_job`` gave it: ``retries_left`` went from none to 0)."""
    job = Job.fetch(job_id, connection=queues.get_redis())
    return job.retries_left == 0


def _started_until(queue_name: str, job_id: str) -> float | None:
    """The time RQ holds a running job ``job_id`` for before it counts as abandoned (its score
    in the queue's StartedJobRegistry: the last heartbeat plus the heartbeat TTL)."""
    for member, score in queues.get_redis().zrange(f"rq:wip:{queue_name}", 0, -1, withscores=True):
        if member.decode().split(":")[0] == job_id:
            return score
    return None


def _back_after(killed_at: float, done, what: str) -> float:
    """Wait until ``done()`` (the killed job's work finished by its retake); return and print the seconds."""
    wait_for(done, BACK_WITHIN_SECONDS + 30, what)
    seconds = time.monotonic() - killed_at
    print(f"\n{what}: done {seconds:.1f} s after the SIGKILL")
    return seconds


def test_worker_killed_inside_a_scan_batch_has_the_batch_back_within_90_s_with_one_alert_per_crossing(
    pg_app, pg_procs, postgres_url, sink
):
    pg_app.config["WEBHOOK_URL"] = sink.url
    many_students(10)  # 10 x (mahroom + suppressed warning + tasdiq); 20 webhook deliveries
    run = JobRun(job_name=MONITOR, trigger="manual", status="queued", queued_at=utcnow())
    db.session.add(run)
    db.session.commit()
    engine = create_engine(postgres_url)
    with engine.connect() as hold:
        dispatch(MONITOR, "manual", run.id)  # creates the batch row and enqueues its job
        hold.execute(text("SELECT * FROM scan_batches WHERE run_id = :r FOR UPDATE"), {"r": run.id})
        worker = pg_procs.worker(WEBHOOK_URL=sink.url)
        wait_for(lambda: waiting_on_a_lock(engine), 60, "the batch to wait on the held row")
        # The worker beats while the job runs: RQ's hold on the job moves forward, 30 s at a time.
        job_id = queues.scan_batch_job_id(run.id, 0)
        first = _started_until(queues.THRESHOLDS, job_id)
        assert first is not None and first - time.time() <= queues.JOB_HEARTBEAT_TTL_SECONDS + 1
        wait_for(lambda: _started_until(queues.THRESHOLDS, job_id) > first, 30, "a heartbeat of the running batch")
        pg_procs.worker(WEBHOOK_URL=sink.url)  # the one that stays (a supervisor's restart)
        worker.kill()  # SIGKILL to the worker, transaction open
        killed_at = time.monotonic()
        hold.rollback()
    engine.dispose()

    db.session.expire_all()
    assert one_alert_per_crossing() == Counter()  # the killed transaction wrote nothing
    assert db.session.get(ScanBatch, (run.id, 0)).status == "queued"
    back = _back_after(killed_at, lambda: job_run(run.id).status == "success", "the killed scan batch")
    assert back < BACK_WITHIN_SECONDS
    assert _retaken_by_rq(job_id)
    wait_for(
        lambda: len(sink.documents) >= 20 and not any(s == "pending" for s, _ in _statuses("webhook")), 60, "deliveries"
    )

    db.session.expire_all()
    assert one_alert_per_crossing() == Counter({1: 30})
    assert job_run(run.id).summary["alertsOpened"] == {"warning": 10, "mahroom": 10, "tasdiq": 10}
    assert Counter(sink.alert_ids()) == Counter({alert_id: 1 for alert_id in set(sink.alert_ids())})
    assert _statuses("webhook") == [("sent", 1)] * 20


def test_worker_killed_between_send_and_commit_has_the_delivery_back_within_90_s_sent_at_most_twice(app, procs, sink):
    app.config["WEBHOOK_URL"] = sink.url
    crs = factories.course("CS101")
    stu = factories.student("S1")
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %: mahroom
    run_threshold_check()  # the webhook delivery waits in Redis for a worker
    sink.hold = True
    worker = procs.worker(WEBHOOK_URL=sink.url)
    wait_for(sink.arrived.is_set, 60, "the worker to send the webhook")
    job_id = db.session.scalars(select(Delivery.job_id).where(Delivery.channel == "webhook")).one()
    procs.worker(WEBHOOK_URL=sink.url)
    worker.kill()  # the gateway has the message; the worker never commits "sent"
    killed_at = time.monotonic()
    sink.release()
    assert len(sink.documents) == 1
    assert _statuses("webhook") == [("pending", 1)]  # claimed: attempt counted, lease running

    back = _back_after(killed_at, lambda: _statuses("webhook") == [("sent", 2)], "the killed delivery job")
    assert back < BACK_WITHIN_SECONDS
    assert _retaken_by_rq(job_id)
    assert len(sink.documents) == 2 and len(set(sink.alert_ids())) == 1  # at most twice, documented
    assert _statuses("inbox") == [("sent", 1)]


def test_worker_killed_inside_a_periodic_run_has_the_run_back_within_90_s_and_finished_once(
    pg_app, pg_procs, postgres_url
):
    run_id = trigger_job(RETRY_PROCESSOR, "tester", "cli").id
    engine = create_engine(postgres_url)
    with engine.connect() as hold:
        hold.execute(text("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE"))
        worker = pg_procs.worker("notifications")
        wait_for(lambda: waiting_on_a_lock(engine), 60, "the run to wait on the locked table")
        assert job_run(run_id).status == "running"
        pg_procs.worker("notifications")
        worker.kill()
        killed_at = time.monotonic()
        hold.rollback()
    engine.dispose()

    back = _back_after(killed_at, lambda: job_run(run_id).status == "success", "the killed periodic run")
    assert back < BACK_WITHIN_SECONDS
    assert _retaken_by_rq(queues.manual_run_job_id(RETRY_PROCESSOR, run_id))
    db.session.expire_all()
    runs = db.session.scalars(select(JobRun).where(JobRun.job_name == RETRY_PROCESSOR)).all()
    assert [(r.id, r.status) for r in runs] == [(run_id, "success")]  # the same run, finished once
    assert job_run(run_id).summary["requeued"] == 0


def test_worker_killed_inside_a_stock_scheduled_tick_runs_that_tick_again_within_90_s_once(
    pg_app, pg_procs, postgres_url
):
    # As stock rq-scheduler enqueues a cron entry: one RQ job id (the job's name) for every tick,
    # no run id (the run claims the current tick).
    queues.enqueue(
        queues.NOTIFICATIONS, queues.PERIODIC_DISPATCHER, RETRY_PROCESSOR, "schedule", job_id=RETRY_PROCESSOR
    )
    engine = create_engine(postgres_url)
    with engine.connect() as hold:
        hold.execute(text("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE"))
        worker = pg_procs.worker("notifications")
        wait_for(lambda: waiting_on_a_lock(engine), 60, "the tick to wait on the locked table")
        pg_procs.worker("notifications")
        worker.kill()
        killed_at = time.monotonic()
        hold.rollback()
    engine.dispose()

    def runs() -> list[tuple[str, str]]:
        db.session.expire_all()
        query = select(JobRun.status, JobRun.error).where(JobRun.job_name == RETRY_PROCESSOR).order_by(JobRun.id)
        return [(status, error or "") for status, error in db.session.execute(query)]

    # The tick's one run, retaken from its dead execution, ends success: the tick runs once.
    back = _back_after(killed_at, lambda: [s for s, _ in runs()] == ["success"], "the killed scheduled tick")
    assert back < BACK_WITHIN_SECONDS
    assert db.session.execute(select(JobRun.tick_at).where(JobRun.job_name == RETRY_PROCESSOR)).scalar_one()
    job = Job.fetch(RETRY_PROCESSOR, connection=queues.get_redis())
    assert job.retries_left == 0 and queues.RETAKEN_META_KEY not in job.meta  # the next tick is no retake
