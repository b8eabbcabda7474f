"""The database becomes unreachable in the middle of a scan batch (the worker's connections go
through a TCP proxy the test cuts): nothing is half-written, the run ends ``error`` with a clear
message once the database is back, health turns degraded, and the next run succeeds."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from portal import queues
from portal.alerts.scan import batch_job_id
from portal.clock import utcnow
from portal.extensions import db
from portal.models import JobRun, Notification
from portal.models.alerts import ScanBatch
from portal.periodic import health, jobs
from tests.faultkit import MONITOR, Processes, TcpProxy, job_run, wait_for, waiting_on_a_lock
from tests.test_scan_concurrency import many_students, one_alert_per_crossing
from workers.periodic import dispatch, run_retry_processor

pytestmark = pytest.mark.slow


@pytest.fixture
def proxy(postgres_url):
    url = make_url(postgres_url)
    server = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield server
    server.close()


@pytest.fixture
def proxied_procs(pg_app, proxy, tmp_path):
    """Processes whose database connections go through ``proxy``."""
    proxied = make_url(pg_app.config["SQLALCHEMY_DATABASE_URI"]).set(host="127.0.0.1", port=proxy.port)
    group = Processes(proxied.render_as_string(hide_password=False), pg_app.config["REDIS_URL"], tmp_path)
    yield group
    group.stop_all()


def test_database_unreachable_mid_batch_writes_nothing_ends_the_run_in_error_and_the_next_run_succeeds(
    pg_app, postgres_url, proxy, proxied_procs
):
    many_students(6)
    run = JobRun(job_name=MONITOR, trigger="manual", status="queued", queued_at=utcnow())
    db.session.add(run)
    db.session.commit()
    engine = create_engine(postgres_url)
    with engine.connect() as hold:
        dispatch(MONITOR, "manual", run.id)
        hold.execute(text("SELECT * FROM scan_batches WHERE run_id = :r FOR UPDATE"), {"r": run.id})
        worker = proxied_procs.worker()
        wait_for(lambda: waiting_on_a_lock(engine), 60, "the batch to reach its bookkeeping update")
        proxy.cut()  # the worker's connection drops mid-transaction; new ones are refused
        wait_for(lambda: queues.failure_of(batch_job_id(run.id, 0)), 60, "the batch job to fail in RQ")
        hold.rollback()
    engine.dispose()

    # Nothing half-written: the batch's alerts, notifications and bookkeeping all rolled back.
    db.session.expire_all()
    assert one_alert_per_crossing() == Counter()
    assert db.session.execute(select(func.count()).select_from(Notification)).scalar_one() == 0
    assert db.session.get(ScanBatch, (run.id, 0)).status == "queued"
    assert "Connection refused" in queues.failure_of(batch_job_id(run.id, 0))

    proxy.restore()
    assert run_retry_processor(0) == {
        "requeued": 0,
        "notificationsRequeued": 0,
        "batchesRequeued": 0,
        "batchesFailed": 1,
    }
    failed = job_run(run.id)
    assert failed.status == "error" and failed.error.startswith("batch 0: its job failed: ")
    assert "OperationalError" in failed.error and "Connection refused" in failed.error
    queues.get_scheduler().heartbeat()
    status = health.system_health()
    assert status["status"] == "degraded" and f"1 of 5 jobs in error: {MONITOR}" in status["reasons"]
    assert jobs.job_status(MONITOR)["errorMessage"] == failed.error

    second = jobs.trigger_job(MONITOR, "alice", "api")  # the worker, reconnected through the proxy
    wait_for(lambda: job_run(second.id).status == "success", 60, "the next run to succeed")
    assert worker.alive()
    db.session.expire_all()
    assert one_alert_per_crossing() == Counter({1: 18})
    assert job_run(second.id).summary["alertsOpened"] == {"warning": 6, "mahroom": 6, "tasdiq": 6}
    assert health.system_health()["status"] == "healthy"
