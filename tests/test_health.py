"""System health from RQ's worker registry, the scheduler heartbeat and the jobs' last runs."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime

import pytest
import time_machine
from rq import Worker

from portal import queues
from portal.periodic import health, jobs, runs
from portal.periodic.overview import jobs_overview
from tests.conftest import _free_port


def _fail(job_name: str) -> None:
    run = runs.start_run(job_name, "schedule")
    runs.mark_running(run.id)
    runs.finish_run(run.id, "error", error="RuntimeError: boom")


@pytest.fixture
def live_worker(app):
    """A real ``rq worker`` process listening on every queue, registered in Redis."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rq.cli", "worker", "--url", app.config["REDIS_URL"], *queues.QUEUE_NAMES],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    # Registered *and* past start-up (state "starting" until it listens on its queues).
    while not any(w.get_state() == "idle" for w in Worker.all(connection=queues.get_redis())):
        assert time.monotonic() < deadline, "the rq worker did not become idle within 20 s"
        assert proc.poll() is None, "the rq worker exited"
        time.sleep(0.05)
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


def test_health_goes_from_healthy_to_degraded_to_critical(app, live_worker):
    queues.get_scheduler().heartbeat()
    assert health.system_health()["status"] == "healthy"

    _fail("cache-refresh")
    degraded = health.system_health()
    assert degraded["status"] == "degraded" and "1 of 5 jobs in error: cache-refresh" in degraded["reasons"]

    _fail("audit-log-archival")
    assert health.system_health()["status"] == "degraded"  # 2 of 5: under half

    _fail("materialized-view-refresh")
    critical = health.system_health()
    assert critical["status"] == "critical" and critical["errorJobs"] == 3


def test_no_worker_or_no_scheduler_heartbeat_is_degraded(app, live_worker):
    assert health.system_health()["reasons"] == ["no scheduler heartbeat"]
    queues.get_scheduler().heartbeat()
    live_worker.terminate()
    live_worker.wait(timeout=20)

    result = health.system_health()

    assert result["status"] == "degraded" and result["workers"] == 0 and result["schedulerAlive"]
    assert result["reasons"] == ["no RQ worker is alive"]


def test_a_job_that_succeeds_again_leaves_the_error_state(app, live_worker):
    queues.get_scheduler().heartbeat()
    _fail("cache-refresh")
    run = runs.start_run("cache-refresh", "manual")
    runs.mark_running(run.id)
    runs.finish_run(run.id, "success", summary={})

    assert jobs.job_status("cache-refresh")["status"] == "running"
    assert health.system_health()["status"] == "healthy"


def test_redis_unreachable_is_critical(app):
    app.extensions["redis"] = queues.redis_from_url(f"redis://127.0.0.1:{_free_port()}/0")

    result = health.system_health()

    assert result["status"] == "critical" and result["redis"] is False
    assert result["reasons"][0].startswith("Redis is unreachable")


def test_overview_has_the_admin_api_shape(app):
    overview = jobs_overview()

    assert set(overview) == {
        "totalJobs", "runningJobs", "stoppedJobs", "errorJobs", "systemHealth", "jobs",
        "thresholdMonitor", "retryQueue", "serviceInitialized",
    }  # fmt: skip
    assert overview["totalJobs"] == 5 and overview["runningJobs"] == 5
    assert set(overview["retryQueue"]) >= {"totalPending", "byType", "byAttempts"}
    assert overview["serviceInitialized"] is False
    job = overview["jobs"][0]
    assert {
        "name",
        "description",
        "schedule",
        "enabled",
        "status",
        "executing",
        "lastRun",
        "nextRun",
        "lastDuration",
        "errorMessage",
    } <= set(job)


def test_queue_info_gives_length_and_oldest_job_age(app):
    with time_machine.travel(datetime(2026, 3, 1, 10, 0), tick=False):
        queues.enqueue("maintenance", "workers.periodic.run_cache_refresh", 0)
    with time_machine.travel(datetime(2026, 3, 1, 10, 2), tick=False):
        info = {q["name"]: q for q in health.queue_info()}

    assert set(info) == set(queues.QUEUE_NAMES)
    assert info["maintenance"]["length"] == 1 and info["maintenance"]["oldestJobAgeSeconds"] == 120
    assert info["urgent"]["length"] == 0 and info["urgent"]["oldestJobAgeSeconds"] is None


def test_worker_info_lists_the_live_workers(app, live_worker):
    workers = health.worker_info()

    assert len(workers) == 1
    assert workers[0]["queues"] == list(queues.QUEUE_NAMES)
    assert workers[0]["state"] in {"idle", "busy", "started"} and workers[0]["lastHeartbeat"].endswith("Z")


def test_every_job_stopped_is_degraded_and_says_so(app, live_worker):
    queues.get_scheduler().heartbeat()
    jobs.stop_job("cache-refresh", actor="ops", source="cli")
    assert health.system_health()["status"] == "healthy"  # one stopped job is an operator's choice
    jobs.stop_all(actor="ops", source="cli")
    result = health.system_health()
    assert result["status"] == "degraded"
    assert result["reasons"] == ["every job is stopped (5 of 5): nothing runs on its schedule"]
    jobs.start_job("audit-log-archival", actor="ops", source="cli")
    assert health.system_health()["status"] == "healthy"
