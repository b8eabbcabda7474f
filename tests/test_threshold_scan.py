"""The scan opens one alert per crossing, escalates, resolves and re-opens, on both databases."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select, update

from portal.alerts.scan import check_pairs, run_threshold_check, start_full_scan
from portal.extensions import db
from portal.models import Alert, Delivery, InboxMessage, JobRun, Notification
from portal.models.alerts import ScanBatch
from portal.queues import get_queue
from tests import factories


def alerts(status: str | None = None) -> list[tuple[str, str, str, bool]]:
    query = select(Alert).order_by(Alert.id)
    if status:
        query = query.where(Alert.status == status)
    return [(a.student.student_number, a.kind, a.status, a.suppressed) for a in db.session.execute(query).scalars()]


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def university():
    """Students around every threshold (2-hour sessions)."""
    crs = factories.course("CS101")
    cases = {
        "MAHROOM70": ["absent"] * 3 + ["present"] * 7,  # 70 %: mahroom, warning suppressed
        "EXACT80": ["absent"] + ["present"] * 4,  # exactly 80 %: nothing
        "EXACT75": ["absent"] + ["late"] * 3,  # exactly 75 % (late is present): mahroom
        "WARN78": ["absent"] * 2 + ["present"] * 7,  # 77.78 %: warning only
        "SICK80": ["sick", "leave"] + ["present"] * 8,  # presence 80 %, attendance 100 %: tasdiq
    }
    students = {}
    for number, statuses in cases.items():
        stu = factories.student(number, email=f"{number.lower()}@uni.example")
        factories.attend(stu, crs, statuses)
        students[number] = stu
    gone = factories.student("INACTIVE", active=False)
    factories.attend(gone, crs, ["absent"] * 4)
    return crs, students


def test_scan_opens_each_kind_at_its_boundary_and_suppresses_warning_under_mahroom(any_app):
    university()
    summary = run_threshold_check()
    assert sorted(alerts()) == sorted(
        [
            ("MAHROOM70", "warning", "open", True),
            ("MAHROOM70", "mahroom", "open", False),
            ("EXACT75", "warning", "open", True),
            ("EXACT75", "mahroom", "open", False),
            ("WARN78", "warning", "open", False),
            ("SICK80", "tasdiq", "open", False),
        ]
    )
    assert summary["totalStudentsChecked"] == 5
    assert summary["alertsOpened"] == {"warning": 3, "mahroom": 2, "tasdiq": 1}
    assert summary["alertsSuppressed"] == 2 and summary["notificationsQueued"] == 4
    assert count(Notification) == 4 and count(InboxMessage) == 4
    kinds = Counter(n.kind for n in db.session.execute(select(Notification)).scalars())
    assert kinds == {"mahroom": 2, "warning": 1, "tasdiq": 1}


def test_scan_run_twice_leaves_one_alert_and_one_notification_per_crossing(any_app):
    university()
    run_threshold_check()
    second = run_threshold_check()
    assert second["alertsOpened"] == {"warning": 0, "mahroom": 0, "tasdiq": 0}
    assert second["notificationsQueued"] == 0 and second["alertsResolved"] == 0
    assert len(alerts()) == 6 and count(Notification) == 4


def test_dry_run_reports_the_changes_but_writes_nothing(any_app):
    university()
    summary = run_threshold_check(dry_run=True)
    assert summary["alertsOpened"] == {"warning": 3, "mahroom": 2, "tasdiq": 1}
    assert count(Alert) == 0 and count(Notification) == 0 and count(Delivery) == 0


def test_recovering_resolves_and_falling_again_opens_a_second_alert(any_app):
    crs = factories.course("CS101")
    stu = factories.student("S1")
    factories.attend(stu, crs, ["absent", "present", "present", "present"])  # 75 %: mahroom
    run_threshold_check()
    factories.attend(stu, crs, ["present"] * 4, slot=2)  # 87.5 %: recovered
    recovered = run_threshold_check()
    assert recovered["alertsResolved"] == 2
    assert sorted(alerts()) == [("S1", "mahroom", "resolved", False), ("S1", "warning", "resolved", True)]
    factories.attend(stu, crs, ["absent"] * 4, slot=3)  # 7 of 12 sessions: 58.33 %
    fell = run_threshold_check()
    assert fell["alertsOpened"] == {"warning": 1, "mahroom": 1, "tasdiq": 0}
    assert Counter((k, s) for _, k, s, _ in alerts()) == {
        ("mahroom", "resolved"): 1,
        ("warning", "resolved"): 1,
        ("mahroom", "open"): 1,
        ("warning", "open"): 1,
    }
    assert count(Notification) == 2  # one per mahroom crossing; suppressed warnings send nothing
    resolved = db.session.execute(select(Alert).where(Alert.kind == "mahroom", Alert.status == "resolved")).scalar_one()
    assert str(resolved.resolved_rate) == "87.50" and resolved.resolved_at is not None


def test_warning_then_mahroom_escalates_and_suppressed_warning_stays_suppressed(any_app):
    crs = factories.course("CS101")
    early, late = factories.student("EARLY"), factories.student("LATE")
    factories.attend(early, crs, ["absent"] * 2 + ["present"] * 7)  # 77.78 %: warning
    factories.attend(late, crs, ["absent"] * 3 + ["present"] * 7)  # 70 %: mahroom, warning suppressed
    run_threshold_check()
    factories.attend(early, crs, ["absent"] * 2, slot=2)  # 4 of 11 absent: 63.6 %
    factories.attend(late, crs, ["present"] * 3, slot=2)  # 3 of 13 absent: 76.9 %: mahroom resolves
    run_threshold_check()
    assert sorted(alerts()) == [
        ("EARLY", "mahroom", "open", False),
        ("EARLY", "warning", "open", False),
        ("LATE", "mahroom", "resolved", False),
        ("LATE", "warning", "open", True),
    ]
    sent = sorted((n.alert.student.student_number, n.kind) for n in db.session.execute(select(Notification)).scalars())
    assert sent == [("EARLY", "mahroom"), ("EARLY", "warning"), ("LATE", "mahroom")]


def test_immediate_check_of_pairs_opens_mahroom_at_once(any_app):
    crs = factories.course("CS101")
    stu = factories.student("S1")
    factories.attend(stu, crs, ["absent", "absent", "present"])
    summary = check_pairs([[stu.id, crs.id]])
    assert summary["alertsOpened"]["mahroom"] == 1
    assert ("S1", "mahroom", "open", False) in alerts()


def test_zero_held_hours_and_inactive_enrollments_are_not_evaluated(any_app):
    crs = factories.course("CS101")
    stu = factories.student("S1")
    factories.attend(stu, crs, ["absent"] * 3)
    enrollment = stu.enrollments[0]
    enrollment.active = False
    db.session.commit()
    assert run_threshold_check()["alertsOpened"] == {"warning": 0, "mahroom": 0, "tasdiq": 0}
    assert count(Alert) == 0


def test_hourly_scan_runs_one_job_per_batch_and_the_last_records_the_summary(any_app, run_jobs):
    any_app.config["SCAN_BATCH_SIZE"] = 2
    university()
    run = JobRun(job_name="notification-threshold-monitor", trigger="schedule", status="running")
    db.session.add(run)
    db.session.commit()
    assert start_full_scan(run.id) == {"batches": 3, "async": True}
    run_jobs(["thresholds"])
    assert sorted(get_queue("thresholds").finished_job_registry.get_job_ids()) == [
        f"scan-{run.id}-{n}" for n in range(3)
    ]
    db.session.expire_all()
    run = db.session.get(JobRun, run.id)
    assert run.status == "success" and run.finished_at is not None and run.duration_ms >= 0
    assert run.summary["totalStudentsChecked"] == 5
    assert run.summary["alertsOpened"] == {"warning": 3, "mahroom": 2, "tasdiq": 1}
    assert run.summary["notificationsQueued"] == 4 and run.summary["errors"] == []
    assert Counter(k for _, k, s, _ in alerts("open")) == {"warning": 3, "mahroom": 2, "tasdiq": 1}


def test_a_scan_finished_before_the_dispatcher_records_its_progress_keeps_its_summary(any_app, run_jobs):
    from portal.periodic import runs

    any_app.config["SCAN_BATCH_SIZE"] = 2
    university()
    run = JobRun(job_name="notification-threshold-monitor", trigger="manual", status="running")
    db.session.add(run)
    db.session.commit()
    progress = start_full_scan(run.id)
    run_jobs(["thresholds"])  # every batch finishes before the dispatcher gets to its next line
    runs.update_summary(run.id, progress)
    db.session.expire_all()
    finished = db.session.get(JobRun, run.id)
    assert finished.status == "success" and finished.summary["totalStudentsChecked"] == 5


def test_a_batch_job_that_finds_its_batch_done_by_a_twin_changes_and_counts_nothing(any_app, run_jobs):
    from workers.thresholds import scan_batch

    any_app.config["SCAN_BATCH_SIZE"] = 2
    university()
    run = JobRun(job_name="notification-threshold-monitor", trigger="manual", status="running")
    db.session.add(run)
    db.session.commit()
    start_full_scan(run.id)
    run_jobs(["thresholds"])
    first, last = db.session.execute(
        select(ScanBatch.first_student_id, ScanBatch.last_student_id).where(
            ScanBatch.run_id == run.id, ScanBatch.batch_no == 0
        )
    ).one()
    db.session.execute(update(Alert).values(status="resolved"))  # a twin would open these again
    db.session.commit()
    assert scan_batch(run.id, 0, first, last)["skipped"] == "already done"
    assert alerts("open") == []  # its evaluation was rolled back with the refused bookkeeping


def test_batch_job_run_again_after_its_commit_is_not_counted_twice(any_app, run_jobs):
    from workers.thresholds import scan_batch

    any_app.config["SCAN_BATCH_SIZE"] = 2
    university()
    run = JobRun(job_name="notification-threshold-monitor", trigger="manual", status="running")
    db.session.add(run)
    db.session.commit()
    start_full_scan(run.id)
    run_jobs(["thresholds"])
    # The worker "died" after committing batch 0 and RQ hands the job out again.
    assert scan_batch(run.id, 0)["skipped"] == "already done"
    db.session.expire_all()
    batches = db.session.execute(select(ScanBatch).where(ScanBatch.run_id == run.id)).scalars().all()
    assert {b.status for b in batches} == {"done"} and len(batches) == 3
    assert db.session.get(JobRun, run.id).summary["alertsOpened"] == {"warning": 3, "mahroom": 2, "tasdiq": 1}
    assert len(alerts()) == 6 and count(Notification) == 0  # the batches queued their fan-out
    run_jobs(["notifications"])
    assert count(Notification) == 4


def test_scan_with_no_active_students_finishes_its_run_at_once(any_app):
    run = JobRun(job_name="notification-threshold-monitor", trigger="manual", status="running")
    db.session.add(run)
    db.session.commit()
    assert start_full_scan(run.id)["batches"] == 0
    db.session.expire_all()
    assert db.session.get(JobRun, run.id).status == "success"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize("size", [1, 3, 4, 10, 11])
def test_student_batches_cover_every_active_student_once_in_ranges_of_the_batch_size(request, backend, size):
    from portal.alerts.scan import student_batches
    from portal.models import Student

    request.getfixturevalue("app" if backend == "sqlite" else "pg_app")
    students = [factories.student(f"S{n:03d}") for n in range(10)]
    for n in (0, 4, 5, 9):  # inactive ones inside, at the start and at the end of the id range
        students[n].active = False
    db.session.commit()
    active = [s.id for s in students if s.active]
    batches = student_batches(size)
    assert [[i for i in active if first <= i <= last] for first, last in batches] == [
        active[k : k + size] for k in range(0, len(active), size)
    ]
    assert all(first in active and last in active for first, last in batches)
    Student.query.update({"active": False})
    db.session.commit()
    assert student_batches(size) == []


def test_a_batch_with_nothing_to_change_sends_three_statements_and_writes_only_its_bookkeeping(pg_app, run_jobs):
    from tests.sqltrace import sql_statements
    from workers.thresholds import scan_batch

    pg_app.config["SCAN_BATCH_SIZE"] = 2
    university()
    run_threshold_check()  # every crossing is open: the next scan has nothing to change
    run = JobRun(job_name="notification-threshold-monitor", trigger="manual", status="running")
    db.session.add(run)
    db.session.commit()
    start_full_scan(run.id)
    first, last = db.session.execute(
        select(ScanBatch.first_student_id, ScanBatch.last_student_id).where(
            ScanBatch.run_id == run.id, ScanBatch.batch_no == 0
        )
    ).one()
    db.session.remove()
    with sql_statements() as statements:
        assert scan_batch(run.id, 0, first, last) == {"batch": 0, "studentsChecked": 2}
    # The pre-filter (with the student count), the batch's bookkeeping, "any batch still queued?"
    assert [statement.split()[0] for statement, _ in statements] == ["WITH", "UPDATE", "SELECT"]
    assert "FROM enrollments" in statements[0][0] and "scan_batches" in statements[1][0] + statements[2][0]
    assert db.session.get(ScanBatch, (run.id, 0)).status == "done"
