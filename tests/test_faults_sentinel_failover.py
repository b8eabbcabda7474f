"""The Redis master SIGKILLed behind Redis Sentinel, with real processes on loopback: a master, a
replica and three sentinels (tests/sentinelkit.py), `rq worker` and `python schedules.py`
finding the master through the sentinels, the `flask` CLI too.

Before the kill the test cuts the replica off the master (``cut_replication``), so what the
master queued last is provably lost with it, as asynchronous replication allows: the retry
processor must bring that work back from the database. The worker and the scheduler started
before the failover must carry on after it without a restart.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select, text

from portal import queues
from portal.alerts.scan import run_threshold_check
from portal.clock import utcnow
from portal.extensions import db
from portal.models import Delivery, JobRun, Student
from portal.periodic.registry import RETRY_PROCESSOR
from tests import factories
from tests.faultkit import MONITOR, ROOT, free_port, job_run, process_env, wait_for, waiting_on_a_lock
from tests.sentinelkit import SentinelCluster
from tests.test_deliveries import Mailbox
from tests.test_scan_concurrency import many_students, one_alert_per_crossing
from workers.periodic import dispatch

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path):
    deployment = SentinelCluster(tmp_path).start()
    yield deployment
    deployment.stop()


@pytest.fixture
def app_config(cluster):
    return cluster.config()


def _on_cluster(procs, cluster):
    """Point the test's processes at the sentinels (and read their registrations through them)."""
    procs.env = cluster.env()
    procs.connection = queues.get_redis()
    return procs


def _trigger_retry_processor(app, cluster) -> None:
    """`flask --app wsgi jobs trigger notification-retry-processor`, as an operator would, through the sentinels."""
    env = process_env(app.config["SQLALCHEMY_DATABASE_URI"], app.config["REDIS_URL"], **cluster.env())
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "jobs", "trigger", RETRY_PROCESSOR],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _retry_runs_succeeded() -> int:
    db.session.expire_all()
    return len(
        db.session.scalars(select(JobRun).where(JobRun.job_name == RETRY_PROCESSOR, JobRun.status == "success")).all()
    )


def _statuses(channel: str) -> list[tuple[str, int]]:
    db.session.expire_all()
    query = select(Delivery.status, Delivery.attempts).where(Delivery.channel == channel).order_by(Delivery.id)
    return [tuple(row) for row in db.session.execute(query)]


def test_master_killed_mid_scan_the_run_finishes_with_one_alert_per_crossing_and_each_webhook_once(
    pg_app, pg_procs, postgres_url, cluster, sink, capsys
):
    pg_app.config.update(WEBHOOK_URL=sink.url, SCAN_BATCH_SIZE=4)
    many_students(10)  # 3 batches (4, 4, 2 students); 10 x (mahroom + suppressed warning + tasdiq)
    procs = _on_cluster(pg_procs, cluster)
    worker = procs.worker(WEBHOOK_URL=sink.url)
    scheduler = procs.scheduler("--interval", "1")
    wait_for(lambda: queues.scheduler_alive() and _retry_runs_succeeded() == 1, 60, "the scheduler's start-up pass")

    engine = create_engine(postgres_url)
    with engine.connect() as hold:
        first_four = [s.id for s in db.session.scalars(select(Student).order_by(Student.id).limit(4))]
        db.session.rollback()
        hold.execute(text("SELECT 1 FROM enrollments WHERE student_id = ANY(:ids) FOR UPDATE"), {"ids": first_four})
        cluster.master().wait(1, 5000)  # the worker's and the scheduler's registrations are on the replica
        cluster.cut_replication()
        run = JobRun(job_name=MONITOR, trigger="manual", status="queued", queued_at=utcnow())
        db.session.add(run)
        db.session.commit()
        dispatch(MONITOR, "manual", run.id)  # three batch jobs, on the master only
        wait_for(lambda: waiting_on_a_lock(engine), 60, "batch 0 to wait on the held enrollments")
        old = cluster.kill_master()  # mid scan: batch 0 inside its transaction, batches 1 and 2 queued
        hold.rollback()
    engine.dispose()
    cluster.wait_for_failover(old)
    new_master = cluster.master()
    assert not new_master.exists(f"rq:job:scan-{run.id}-1") and not new_master.exists(f"rq:job:scan-{run.id}-2")

    wait_for(lambda: len(sink.documents) >= 8, 60, "batch 0's webhooks, sent through the new master")
    resumed = time.monotonic() - cluster.killed_at
    assert job_run(run.id).status == "running"  # batches 1 and 2 went down with the master
    _trigger_retry_processor(pg_app, cluster)
    wait_for(lambda: job_run(run.id).status == "success", 60, "the re-enqueued batches to finish the run")
    wait_for(lambda: _statuses("webhook") == [("sent", 1)] * 20, 60, "every webhook to be sent")
    finished = time.monotonic() - cluster.killed_at

    assert worker.alive() and scheduler.alive(), worker.log() + scheduler.log()
    assert "raised an exception" not in worker.log()  # RQ's scheduler in the worker, polling through the failover
    assert queues.scheduler_alive()  # its heartbeat, refreshed on the new master
    assert job_run(run.id).summary["alertsOpened"] == {"warning": 10, "mahroom": 10, "tasdiq": 10}
    assert one_alert_per_crossing() == Counter({1: 30})
    assert sorted(Counter(sink.alert_ids()).values()) == [1] * 20
    stopping = time.monotonic()
    worker.terminate()  # warm shutdown through the sentinels' connections, as after any failover
    scheduler.terminate()
    assert (worker.wait(30), scheduler.wait(30)) == (0, 0), worker.log() + scheduler.log()
    assert time.monotonic() - stopping < 10
    with capsys.disabled():
        print(
            f"\n[sentinel failover, mid scan] master killed -> replica promoted {cluster.failover_seconds:.1f} s,"
            f" -> worker sending again {resumed:.1f} s, -> run success after the retry pass {finished:.1f} s"
        )


@pytest.fixture
def smtp_sink():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield mailbox
    controller.stop()


def _mahroom(number: str, course) -> None:
    stu = factories.student(number, email=f"{number.lower()}@uni.example")
    factories.attend(stu, course, ["absent", "absent", "present", "present"])  # 50 %


def test_master_killed_while_deliveries_wait_each_is_sent_exactly_once_after_the_failover(
    app, procs, cluster, smtp_sink, capsys
):
    app.config["SMTP_URL"] = smtp_sink.url
    crs = factories.course("CS101")
    for number in ("A1", "A2", "A3"):
        _mahroom(number, crs)
    run_threshold_check()  # A1-A3's emails wait in the urgent queue, replicated
    cluster.master().wait(1, 5000)
    replicated = set(queues.get_queue("urgent").get_job_ids())
    procs = _on_cluster(procs, cluster)
    scheduler = procs.scheduler("--interval", "1")
    wait_for(queues.scheduler_alive, 60, "the scheduler's heartbeat")
    cluster.cut_replication()
    for number in ("B1", "B2", "B3"):
        _mahroom(number, crs)
    run_threshold_check()  # B1-B3's emails wait too, on the master only
    assert _statuses("email") == [("pending", 0)] * 6 and len(queues.get_queue("urgent").get_job_ids()) == 2

    old = cluster.kill_master()
    cluster.wait_for_failover(old)
    assert set(queues.get_queue("urgent").get_job_ids()) == replicated  # B's job went down with the master

    procs.worker(SMTP_URL=smtp_sink.url)
    wait_for(lambda: _statuses("email").count(("sent", 1)) == 3, 60, "A1-A3's emails, queued before the kill")
    resumed = time.monotonic() - cluster.killed_at
    _trigger_retry_processor(app, cluster)  # B1-B3: pending, due, no job in Redis
    wait_for(lambda: _statuses("email") == [("sent", 1)] * 6, 60, "B1-B3's emails, re-enqueued from the database")
    finished = time.monotonic() - cluster.killed_at

    assert scheduler.alive(), scheduler.log()
    recipients = [to for (to,), _ in smtp_sink.messages]
    assert sorted(recipients) == [f"{n}@uni.example" for n in ("a1", "a2", "a3", "b1", "b2", "b3")]
    with capsys.disabled():
        print(
            f"\n[sentinel failover, deliveries waiting] master killed -> replica promoted"
            f" {cluster.failover_seconds:.1f} s, -> first emails sent {resumed:.1f} s,"
            f" -> lost ones re-enqueued and sent {finished:.1f} s"
        )
