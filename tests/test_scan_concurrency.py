"""Concurrent scans and a scan batch killed mid-transaction still leave one alert per crossing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from portal.alerts.scan import check_pairs, run_threshold_check, start_full_scan
from portal.extensions import db
from portal.models import Alert, JobRun, Notification
from tests import factories

ROOT = Path(__file__).resolve().parent.parent


def many_students(n: int = 30):
    crs_a, crs_b = factories.course("CS101"), factories.course("MATH110")
    pairs = []
    for i in range(n):
        stu = factories.student(f"S{i:03d}", email=None)
        factories.attend(stu, crs_a, ["absent"] * 3 + ["present"] * 5)  # 62.5 %: mahroom + warning
        factories.attend(stu, crs_b, ["sick"] * 2 + ["present"] * 8)  # presence 80 %: tasdiq
        pairs += [(stu.id, crs_a.id), (stu.id, crs_b.id)]
    return pairs


def one_alert_per_crossing() -> Counter:
    rows = db.session.execute(
        select(Alert.student_id, Alert.course_id, Alert.kind, func.count()).group_by(
            Alert.student_id, Alert.course_id, Alert.kind
        )
    ).all()
    return Counter(n for *_, n in rows)


def run_together(app, calls) -> list:
    barrier, errors = threading.Barrier(len(calls)), []

    def body(call):
        with app.app_context():
            try:
                barrier.wait()
                call()
            except Exception as exc:  # surfaced by the assertion below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=body, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_scans_and_immediate_checks_running_concurrently_open_one_alert_per_crossing(any_app):
    pairs = many_students()
    calls = [run_threshold_check, run_threshold_check, lambda: check_pairs(pairs), run_threshold_check]
    assert run_together(any_app, calls) == []
    db.session.expire_all()
    assert one_alert_per_crossing() == Counter({1: 90})  # 30 students x (mahroom, warning, tasdiq)
    assert db.session.execute(select(func.count()).select_from(Notification)).scalar_one() == 60


def _wait_for_lock_waiter(engine, deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar_one()
            if waiting:
                return
            conn.rollback()
    raise AssertionError("the batch never reached its bookkeeping update")


def test_batch_killed_mid_transaction_and_run_again_leaves_one_alert_per_crossing(pg_app, postgres_url, redis_url):
    from workers.thresholds import scan_batch

    many_students(10)
    run = JobRun(job_name="notification-threshold-monitor", trigger="schedule", status="running")
    db.session.add(run)
    db.session.commit()
    assert start_full_scan(run.id)["batches"] == 1
    blocker = create_engine(postgres_url)
    with blocker.connect() as hold:
        # Hold the batch's progress row: the batch job opens its alerts, then waits here.
        hold.execute(text("SELECT * FROM scan_batches WHERE run_id = :r FOR UPDATE"), {"r": run.id})
        env = {**os.environ, "DATABASE_URL": postgres_url, "REDIS_URL": redis_url, "FLASK_ENV": "development"}
        code = f"from workers.thresholds import scan_batch; scan_batch({run.id}, 0)"
        child = subprocess.Popen(
            [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            _wait_for_lock_waiter(blocker)
        finally:
            child.kill()  # SIGKILL: the worker dies with its transaction open
            child.wait(30)
        hold.rollback()
    blocker.dispose()
    assert scan_batch(run.id, 0)["studentsChecked"] == 10  # RQ (or an operator) runs the batch again
    db.session.expire_all()
    assert one_alert_per_crossing() == Counter({1: 30})
    run = db.session.get(JobRun, run.id)
    assert run.status == "success"
    assert run.summary["alertsOpened"] == {"warning": 10, "mahroom": 10, "tasdiq": 10}
    assert run.summary["notificationsQueued"] == 20
