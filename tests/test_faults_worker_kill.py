"""A real `rq worker` SIGKILLed in the middle of a scan batch and of a delivery: nothing is lost.

The kill happens at a real synchronisation point, not after a sleep: the scan batch is
blocked on a PostgreSQL row lock the test holds (pg_locks shows it waiting), the delivery is
held by a webhook sink that has received the request and not answered yet.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import create_engine, select, text

from portal.alerts.scan import run_threshold_check
from portal.clock import utcnow
from portal.extensions import db
from portal.models import Delivery, JobRun
from portal.models.alerts import ScanBatch
from portal.notifications.retry_queue import requeue_due_deliveries
from tests import factories
from tests.faultkit import MONITOR, job_run, wait_for, waiting_on_a_lock
from tests.test_scan_concurrency import many_students, one_alert_per_crossing
from workers.periodic import dispatch, run_retry_processor

pytestmark = pytest.mark.slow


def _statuses(channel: str) -> list[tuple[str, int]]:
    db.session.expire_all()
    query = select(Delivery.status, Delivery.attempts).where(Delivery.channel == channel).order_by(Delivery.id)
    return [tuple(row) for row in db.session.execute(query)]


def test_worker_killed_inside_a_scan_batch_is_rerun_by_the_retry_processor_with_one_alert_per_crossing(
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
        worker.kill()  # SIGKILL to the worker and its work horse, transaction open
        hold.rollback()
    engine.dispose()

    db.session.expire_all()
    assert one_alert_per_crossing() == Counter()  # the killed transaction wrote nothing
    assert db.session.get(ScanBatch, (run.id, 0)).status == "queued"
    assert job_run(run.id).status == "running"

    # RQ holds the killed job as "started" until its heartbeat lapses (the job timeout, 600 s,
    # plus 60 s: a non-forking worker cannot beat while its job runs); the retry processor,
    # twelve minutes later, sees it abandoned and enqueues the batch again.
    with time_machine.travel(utcnow() + timedelta(minutes=12), tick=True):
        assert run_retry_processor(0) == {
            "requeued": 0,
            "notificationsRequeued": 0,
            "batchesRequeued": 1,
            "batchesFailed": 0,
        }
    pg_procs.worker(WEBHOOK_URL=sink.url)
    wait_for(lambda: job_run(run.id).status == "success", 60, "the re-run batch to finish the run")
    wait_for(
        lambda: len(sink.documents) >= 20 and not any(s == "pending" for s, _ in _statuses("webhook")), 60, "deliveries"
    )

    db.session.expire_all()
    assert one_alert_per_crossing() == Counter({1: 30})
    assert job_run(run.id).summary["alertsOpened"] == {"warning": 10, "mahroom": 10, "tasdiq": 10}
    assert Counter(sink.alert_ids()) == Counter({alert_id: 1 for alert_id in set(sink.alert_ids())})
    assert _statuses("webhook") == [("sent", 1)] * 20


def test_worker_killed_between_send_and_commit_sends_the_delivery_at_most_twice_and_loses_nothing(
    app, procs, sink, run_jobs
):
    app.config["WEBHOOK_URL"] = sink.url
    crs = factories.course("CS101")
    stu = factories.student("S1")
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %: mahroom
    run_threshold_check()  # the webhook delivery waits in Redis for a worker
    sink.hold = True
    worker = procs.worker(WEBHOOK_URL=sink.url)
    wait_for(sink.arrived.is_set, 60, "the worker to send the webhook")
    worker.kill()  # the gateway has the message; the worker never commits "sent"
    sink.release()

    assert len(sink.documents) == 1
    assert _statuses("webhook") == [("pending", 1)]  # claimed: attempt counted, lease running
    assert requeue_due_deliveries() == 0  # within the claim lease nobody resends it

    # Sixteen minutes on (simulated in this process: the worker's clock cannot be moved), the
    # lease is over and RQ's started registry shows the job abandoned: the retry processor
    # re-enqueues the delivery and the next attempt sends it again.
    with time_machine.travel(utcnow() + timedelta(minutes=16), tick=True):
        assert requeue_due_deliveries() == 1
        run_jobs()
        assert requeue_due_deliveries() == 0

    assert _statuses("webhook") == [("sent", 2)]
    assert len(sink.documents) == 2 and len(set(sink.alert_ids())) == 1  # at most twice, documented
    assert _statuses("inbox") == [("sent", 1)]
