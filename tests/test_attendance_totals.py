"""Enrollment totals stay equal to a recompute over the records, even under concurrent writers."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from portal.attendance.saving import totals_mismatches, write_records
from portal.domain.records import AttendanceInput
from portal.extensions import db
from portal.models import Enrollment
from tests import factories


def _row(student, course, day: int, status: str, hours: str = "2"):
    return (
        student.id,
        course.id,
        AttendanceInput(student.student_number, course.code, date(2026, 10, day), 1, Decimal(hours), status),
    )


def test_totals_follow_status_changes_on_both_databases(any_app):
    s, c = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    write_records(db.session, [_row(s, c, 1, "absent"), _row(s, c, 2, "sick", "1.5"), _row(s, c, 3, "late")])
    db.session.commit()
    write_records(db.session, [_row(s, c, 1, "present")])
    db.session.commit()
    e = db.session.execute(select(Enrollment)).scalar_one()
    assert (e.held_hours, e.absent_hours, e.excused_hours) == (Decimal("5.50"), Decimal("0"), Decimal("1.50"))
    assert totals_mismatches(db.session) == []


def test_two_concurrent_writers_to_one_enrollment_both_count_on_postgresql(pg_app):
    s, c = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    factories.attend(s, c, ["present"])  # the enrollment exists before the race
    engine = db.engine
    first, second = Session(bind=engine), Session(bind=engine)
    try:
        write_records(first, [_row(s, c, 10, "absent")])  # holds the enrollment lock, not committed
        second_pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()
        done = threading.Event()

        def write_second():
            write_records(second, [_row(s, c, 17, "absent")])
            second.commit()
            done.set()

        worker = threading.Thread(target=write_second)
        worker.start()
        deadline = time.monotonic() + 10
        with engine.connect() as probe:
            while (
                probe.execute(
                    text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"), {"pid": second_pid}
                ).scalar()
                != "Lock"
            ):
                assert time.monotonic() < deadline, "the second writer never waited for the first"
        assert not done.is_set()
        first.commit()
        worker.join(timeout=10)
        assert done.is_set()
    finally:
        first.close()
        second.close()
    db.session.expire_all()
    e = db.session.execute(select(Enrollment)).scalar_one()
    assert (e.held_hours, e.absent_hours) == (Decimal("6"), Decimal("4"))
    assert totals_mismatches(db.session) == []
