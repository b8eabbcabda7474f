"""Soak: the `make dev` processes (web, two workers, scheduler) on PostgreSQL under a stream of
attendance writes and job triggers for SOAK_SECONDS (default 300). Afterwards the open alerts
are exactly what a fresh full evaluation says, every webhook went exactly once, and nothing is
left `started`, queued or running."""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from rq.registry import StartedJobRegistry
from sqlalchemy import func, select

from portal import queues
from portal.alerts.scan import run_threshold_check
from portal.clock import utcnow
from portal.extensions import db
from portal.models import Alert, Delivery, JobRun
from tests import factories
from tests.faultkit import Process, Processes, WebhookSink, free_port, process_env, wait_for

pytestmark = pytest.mark.slow
SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "300"))
# Attendance saves per second: a steady stream two workers keep up with (each save
# queues an immediate check; every 15th request also triggers a periodic job).
SOAK_RATE = float(os.environ.get("SOAK_RATE", "4"))
STUDENTS, COURSES = 30, ("CS101", "MATH110", "PHY120")
STATUSES = ("present", "present", "present", "late", "absent", "absent", "sick", "leave")
TRIGGERS = ("notification-threshold-monitor", "notification-retry-processor", "cache-refresh")


@pytest.fixture
def sink():
    server = WebhookSink()
    yield server
    server.close()


@pytest.fixture
def system(pg_app, sink, tmp_path):
    """Web, two workers and the scheduler, as Procfile.dev runs them; yields the web's base URL."""
    database, redis = pg_app.config["SQLALCHEMY_DATABASE_URI"], pg_app.config["REDIS_URL"]
    group = Processes(database, redis, tmp_path)
    port = free_port()
    flask = str(Path(sys.executable).with_name("flask"))
    web = Process(
        [flask, "--app", "wsgi", "run", "--host", "127.0.0.1", "--port", str(port)],
        process_env(database, redis, WEBHOOK_URL=sink.url),
        tmp_path / "web.log",
    )
    group.started.append(web)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{base}/healthz"), 60, "the web process to answer")
    group.worker(WEBHOOK_URL=sink.url)
    group.worker(WEBHOOK_URL=sink.url)
    scheduler = group.scheduler("--interval", "1")
    yield base, scheduler
    group.stop_all()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _post(url: str, token: str, document) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def _seed() -> str:
    courses = [factories.course(code, code) for code in COURSES]
    for n in range(STUDENTS):
        stu = factories.student(f"S{n:03d}", email=None)
        for crs in courses:
            factories.attend(stu, crs, ["present"] * 4, start=utcnow().date() - timedelta(days=70))
    return factories.token_for(factories.user())


def _quiet() -> bool:
    """True when no RQ job waits, runs or is scheduled and no run or delivery is in flight."""
    connection = queues.get_redis()
    for name in queues.QUEUE_NAMES:
        queue = queues.get_queue(name, connection)
        if queue.count or StartedJobRegistry(name, connection=connection).count or queue.scheduled_job_registry.count:
            return False
    db.session.expire_all()
    busy_runs = db.session.scalar(select(func.count()).where(JobRun.status.in_(("queued", "running"))))
    pending = db.session.scalar(select(func.count()).where(Delivery.status == "pending"))
    db.session.rollback()
    return busy_runs == 0 and pending == 0


def test_soak_under_writes_and_triggers_ends_consistent_with_a_fresh_evaluation(pg_app, system, sink):
    base, scheduler = system
    token = _seed()
    rng = random.Random(7)
    today = utcnow().date()
    deadline, requests, triggered = time.monotonic() + SOAK_SECONDS, 0, Counter()
    next_request = time.monotonic()
    while time.monotonic() < deadline:
        next_request += 1 / SOAK_RATE
        time.sleep(max(0.0, next_request - time.monotonic()))  # the load's pace, not a wait on a process
        records, keys = [], set()
        for _ in range(rng.randint(1, 6)):
            key = (rng.randrange(STUDENTS), rng.choice(COURSES), rng.randint(1, 60), rng.randint(1, 3))
            if key in keys:
                continue
            keys.add(key)
            number, course, days_ago, slot = key
            day = (today - timedelta(days=days_ago)).isoformat()
            records.append(
                {
                    "student_number": f"S{number:03d}",
                    "course_code": course,
                    "date": day,
                    "slot": slot,
                    "hours": rng.choice(("1", "1.5", "2")),
                    "status": rng.choice(STATUSES),
                }
            )
        assert _post(f"{base}/api/attendance", token, records)["success"] is True
        requests += 1
        if requests % 15 == 0:
            job = TRIGGERS[(requests // 15) % len(TRIGGERS)]
            answer = _post(f"{base}/api/admin/background-jobs", token, {"action": "trigger", "jobName": job})
            assert answer["success"] is True, answer
            triggered[job] += 1

    scheduler.terminate()
    assert scheduler.wait(60) == 0, scheduler.log()
    wait_for(_quiet, 300, "the workers to drain every queue after the soak")

    db.session.expire_all()
    fresh = run_threshold_check(dry_run=True)  # what a full evaluation now would change: nothing
    assert fresh["errors"] == []
    assert (fresh["alertsOpened"], fresh["alertsSuppressed"], fresh["alertsResolved"]) == (
        {"warning": 0, "mahroom": 0, "tasdiq": 0},
        0,
        0,
    ), f"after {requests} writes and {dict(triggered)} triggers"
    assert fresh["notificationsQueued"] == 0
    for name in queues.QUEUE_NAMES:
        assert StartedJobRegistry(name, connection=queues.get_redis()).count == 0, f"a job stuck in {name}"
        assert queues.get_queue(name).failed_job_registry.count == 0, f"failed jobs in {name}"
    outcomes = Counter(db.session.scalars(select(JobRun.status)))
    assert set(outcomes) <= {"success", "skipped"}, outcomes
    statuses = Counter(db.session.scalars(select(Delivery.status).where(Delivery.channel == "webhook")))
    assert set(statuses) <= {"sent"}, statuses
    sent = Counter(sink.alert_ids(accepted_only=True))
    assert set(sent.values()) <= {1}, "a webhook was sent twice"
    assert sum(sent.values()) == statuses["sent"]
    assert db.session.scalar(select(func.count()).select_from(Alert)) > 0  # the stream did cross thresholds
