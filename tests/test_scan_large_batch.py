"""A scan batch of more than 500 students (the default batch of 5000 reads the open alerts of
its whole student-id range in one statement) resolves the alerts that stopped holding and opens
a new alert for a later crossing, with the rates of every step, on both databases."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from portal.alerts.evaluation import CHUNK
from portal.alerts.scan import run_threshold_check, start_full_scan, student_batches
from portal.attendance.saving import write_records
from portal.domain.records import AttendanceInput
from portal.extensions import db
from portal.models import Alert, JobRun, Notification, Student
from tests import factories

STUDENTS = 600  # more than CHUNK (500): one batch, its open alerts read by id range
NONE_OPENED = {"warning": 0, "mahroom": 0, "tasdiq": 0}


def record(students: list[Student], crs, slot: int, statuses_of) -> None:
    """Write one session per status (weekly, in ``slot``) for every student, in one transaction."""
    rows = []
    for stu in students:
        for week, status in enumerate(statuses_of(stu)):
            day = factories.TERM_START + timedelta(days=7 * week)
            rows.append((stu.id, crs.id, AttendanceInput(stu.student_number, crs.code, day, slot, Decimal(2), status)))
    write_records(db.session, rows)
    db.session.commit()


def scanner(how: str, run_jobs):
    """A full scan in this process, or as the hourly job runs it: one RQ batch job, then fan-out."""

    def scan() -> dict:
        if how == "in-process":
            return run_threshold_check()
        run = JobRun(job_name="notification-threshold-monitor", trigger="manual", status="running")
        db.session.add(run)
        db.session.commit()
        assert start_full_scan(run.id)["batches"] == 1
        run_jobs(["thresholds"])
        run_jobs(["notifications"])
        db.session.expire_all()
        return db.session.get(JobRun, run.id).summary

    return scan


def history() -> Counter:
    """How many alerts of each (group, kind, status, rate, rate at resolution) exist."""
    db.session.expire_all()
    rows = db.session.execute(
        select(Student.student_number, Alert.kind, Alert.status, Alert.rate, Alert.resolved_rate).join(
            Student, Student.id == Alert.student_id
        )
    ).all()
    return Counter(
        (number[0], kind, status, str(rate), None if resolved is None else str(resolved))
        for number, kind, status, rate, resolved in rows
    )


@pytest.mark.parametrize("how", ["in-process", "batch-job"])
def test_a_batch_of_600_students_resolves_and_reopens_alerts_with_the_rates_of_each_step(any_app, run_jobs, how):
    assert STUDENTS > CHUNK
    run_scan = scanner(how, run_jobs)
    any_app.config["SCAN_BATCH_SIZE"] = 5000  # the default: one batch for all 600
    crs = factories.course("CS101")
    students = [
        Student(student_number=f"{'AB'[n % 2]}{n:04d}", name=f"Student {n}", email=None, active=True)
        for n in range(STUDENTS)
    ]
    db.session.add_all(students)
    db.session.commit()
    group = {stu.id: stu.student_number[0] for stu in students}  # A and B alternate in the id range
    assert student_batches() == [(students[0].id, students[-1].id)]  # one batch holds them all

    # Everyone 2 of 4 sessions absent: 50 %, mahroom with a suppressed warning.
    record(students, crs, 1, lambda s: ["absent", "absent", "present", "present"])
    first = run_scan()
    assert first["totalStudentsChecked"] == STUDENTS and first["errors"] == []
    assert first["alertsOpened"] == {"warning": 600, "mahroom": 600, "tasdiq": 0}
    assert (first["alertsSuppressed"], first["alertsResolved"], first["notificationsQueued"]) == (600, 0, 600)

    # A: 6 more present, 2 of 10 absent = 80.00 %: both alerts resolve.
    # B: 5 more present, 2 of 9 absent = 77.77 %: mahroom resolves, the warning stays open.
    record(students, crs, 2, lambda s: ["present"] * (6 if group[s.id] == "A" else 5))
    second = run_scan()
    assert second["alertsOpened"] == NONE_OPENED
    assert (second["alertsResolved"], second["notificationsQueued"]) == (900, 0)
    assert history() == {
        ("A", "warning", "resolved", "50.00", "80.00"): 300,
        ("A", "mahroom", "resolved", "50.00", "80.00"): 300,
        ("B", "warning", "open", "50.00", None): 300,
        ("B", "mahroom", "resolved", "50.00", "77.77"): 300,
    }

    # A falls again: 6 of 14 absent = 57.14 %, a second mahroom (and suppressed warning) opens.
    # B: 3 sick sessions, 2 of 12 absent = 83.33 % (the warning resolves), presence
    # 7 of 12 = 58.33 % with excused hours: tasdiq opens at the presence rate.
    record(students, crs, 3, lambda s: ["absent"] * 4 if group[s.id] == "A" else ["sick"] * 3)
    third = run_scan()
    assert third["totalStudentsChecked"] == STUDENTS and third["errors"] == []
    assert third["alertsOpened"] == {"warning": 300, "mahroom": 300, "tasdiq": 300}
    assert (third["alertsSuppressed"], third["alertsResolved"], third["notificationsQueued"]) == (300, 300, 600)
    assert history() == {
        ("A", "warning", "resolved", "50.00", "80.00"): 300,
        ("A", "mahroom", "resolved", "50.00", "80.00"): 300,
        ("A", "warning", "open", "57.14", None): 300,
        ("A", "mahroom", "open", "57.14", None): 300,
        ("B", "warning", "resolved", "50.00", "83.33"): 300,
        ("B", "mahroom", "resolved", "50.00", "77.77"): 300,
        ("B", "tasdiq", "open", "58.33", None): 300,
    }
    suppressed = db.session.scalars(select(Alert.kind).where(Alert.status == "open", Alert.suppressed)).all()
    assert Counter(suppressed) == {"warning": 300}
    sent = db.session.execute(select(Notification.kind, Notification.payload)).all()
    assert Counter(kind for kind, _ in sent) == {"mahroom": 900, "tasdiq": 300}
    assert Counter(payload["rate"] for kind, payload in sent if kind == "tasdiq") == {"58.33": 300}

    # Nothing changed since: a fourth scan of the same batch finds every alert in its place.
    fourth = run_scan()
    assert fourth["alertsOpened"] == NONE_OPENED and fourth["alertsResolved"] == 0
    assert sum(history().values()) == 2100
