"""/metrics: Prometheus text computed from the database and RQ, moving after real work, and guarded."""

from __future__ import annotations

import math
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Worker

from portal.periodic.jobs import trigger_job
from portal.queues import SCHEDULER_HEARTBEAT_KEY, enqueue, get_queue, get_redis
from tests import factories


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app_config():
    # A webhook nobody listens on: every webhook attempt fails transiently and waits for a retry.
    return {"WEBHOOK_URL": f"http://127.0.0.1:{_closed_port()}/hook", "DELIVERY_TIMEOUT_SECONDS": 2}


def scrape(client) -> dict[tuple[str, tuple], float]:
    """Return ``{(sample name, sorted labels): value}`` from one GET /metrics."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def students_around_the_thresholds():
    crs = factories.course("CS101")
    for number, statuses in {
        "MAHROOM70": ["absent"] * 3 + ["present"] * 7,
        "WARN78": ["absent"] * 2 + ["present"] * 7,
        "SICK80": ["sick", "leave"] + ["present"] * 8,
        "FINE": ["present"] * 10,
    }.items():
        factories.attend(factories.student(number, email=f"{number.lower()}@uni.example"), crs, statuses)


def test_counters_move_after_a_scan_and_its_deliveries(any_app, run_jobs):
    client = any_app.test_client()
    students_around_the_thresholds()
    before = scrape(client)
    assert value(before, "portal_database_up") == 1 and value(before, "portal_redis_up") == 1
    assert value(before, "portal_job_runs_total", job="notification-threshold-monitor", outcome="success") == 0

    trigger_job("notification-threshold-monitor", actor="test", source="cli")
    queued = scrape(client)
    assert value(queued, "portal_queue_jobs", queue="thresholds") == 1
    assert value(queued, "portal_job_runs_in_flight", job="notification-threshold-monitor", status="queued") == 1
    run_jobs()

    after = scrape(client)
    job = "notification-threshold-monitor"
    assert value(after, "portal_job_runs_total", job=job, outcome="success") == 1
    assert value(after, "portal_job_runs_in_flight", job=job, status="queued") == 0
    assert value(after, "portal_job_run_duration_seconds_count", job=job) == 1
    assert value(after, "portal_job_run_duration_seconds_bucket", job=job, le="+Inf") == 1
    assert value(after, "portal_job_run_duration_seconds_bucket", job=job, le="3600.0") == 1
    assert value(after, "portal_job_run_duration_seconds_sum", job=job) >= 0
    assert value(after, "portal_alerts_opened_total", kind="mahroom") == 1
    assert value(after, "portal_alerts_opened_total", kind="warning") == 2  # one suppressed under mahroom
    assert value(after, "portal_alerts_opened_total", kind="tasdiq") == 1
    assert value(after, "portal_alerts", kind="warning", status="open") == 2
    # One notification per unsuppressed alert (3), each on the inbox and the webhook.
    assert value(after, "portal_deliveries", channel="inbox", status="sent") == 3
    assert value(after, "portal_deliveries", channel="webhook", status="pending") == 3
    assert value(after, "portal_retry_queue_size") == 3
    assert value(after, "portal_retry_queue_deliveries", kind="mahroom", attempts="1") == 1
    assert value(after, "portal_queue_registry_jobs", queue="notifications", registry="scheduled") == 3
    assert value(after, "portal_queue_jobs", queue="thresholds") == 0


def test_job_errors_and_durations_land_in_their_buckets(app):
    from portal.extensions import db
    from portal.models import JobRun

    for duration_ms, status in [(50, "success"), (700, "success"), (45_000, "error"), (None, "skipped")]:
        db.session.add(JobRun(job_name="cache-refresh", trigger="schedule", status=status, duration_ms=duration_ms))
    db.session.commit()
    samples = scrape(app.test_client())
    assert value(samples, "portal_job_runs_total", job="cache-refresh", outcome="success") == 2
    assert value(samples, "portal_job_runs_total", job="cache-refresh", outcome="error") == 1
    assert value(samples, "portal_job_runs_total", job="cache-refresh", outcome="skipped") == 1
    buckets = {
        le: value(samples, "portal_job_run_duration_seconds_bucket", job="cache-refresh", le=le)
        for le in ("0.1", "1.0", "30.0", "60.0", "+Inf")
    }
    assert buckets == {"0.1": 1, "1.0": 2, "30.0": 2, "60.0": 3, "+Inf": 3}
    assert value(samples, "portal_job_run_duration_seconds_sum", job="cache-refresh") == pytest.approx(45.75)


def test_workers_and_scheduler_heartbeat_are_reported_from_redis(app):
    client = app.test_client()
    samples = scrape(client)
    assert value(samples, "portal_workers_alive") == 0
    assert math.isinf(value(samples, "portal_scheduler_heartbeat_age_seconds"))

    worker = Worker([get_queue("urgent")], connection=get_redis(), name="metrics-test-worker")
    worker.register_birth()
    get_redis().set(SCHEDULER_HEARTBEAT_KEY, str(time.time() - 5))
    enqueue("maintenance", "workers.periodic.dispatch", "cache-refresh")
    try:
        samples = scrape(client)
    finally:
        worker.register_death()
    assert value(samples, "portal_workers_alive") == 1
    assert 4 <= value(samples, "portal_scheduler_heartbeat_age_seconds") < 60
    assert value(samples, "portal_queue_jobs", queue="maintenance") == 1


def test_metrics_still_answer_with_redis_down(tmp_path, sqlite_template, redis_url):
    import shutil

    from tests.conftest import _make_app
    from workers import context as worker_context

    path = tmp_path / "db.sqlite"
    shutil.copyfile(sqlite_template, path)
    application = _make_app(f"sqlite:///{path}", f"redis://127.0.0.1:{_closed_port()}/0")
    try:
        samples = scrape(application.test_client())
    finally:
        worker_context.use_app(None)
    assert value(samples, "portal_redis_up") == 0 and value(samples, "portal_database_up") == 1
    assert ("portal_workers_alive", ()) not in samples


def test_metrics_refused_from_outside_the_allowed_networks(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    # Through a reverse proxy on the same machine the peer is 127.0.0.1; the client is not.
    behind_proxy = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert behind_proxy.status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    app.config["METRICS_ALLOW_NETWORKS"] = ("10.0.0.0/8",)
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
    assert client.get("/metrics").status_code == 403


def test_metrics_token_required_when_configured_from_any_address(app):
    app.config["METRICS_TOKEN"] = "s3cret-scrape-token"
    client = app.test_client()
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    good = client.get(
        "/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    assert good.status_code == 200 and b"portal_database_up" in good.data


def test_behind_a_trusted_proxy_the_clients_address_decides(tmp_path, sqlite_template, redis_url):
    import shutil

    from tests.conftest import _make_app
    from workers import context as worker_context

    path = tmp_path / "db.sqlite"
    shutil.copyfile(sqlite_template, path)
    application = _make_app(f"sqlite:///{path}", redis_url, TRUSTED_PROXY_COUNT=1)
    try:
        client = application.test_client()
        # nginx appends the real client to whatever the client claimed.
        forged = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.9"})
        assert forged.status_code == 403
        assert client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200
    finally:
        worker_context.use_app(None)
