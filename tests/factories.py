"""Small builders for test data, written through the same services production uses."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from werkzeug.security import generate_password_hash

from portal.attendance.saving import write_records
from portal.auth import create_token
from portal.domain.records import AttendanceInput
from portal.extensions import db
from portal.models import Course, Enrollment, Student, User

TERM_START = date(2026, 9, 1)


def student(
    number: str = "S1",
    *,
    active: bool = True,
    email: str | None = "s1@uni.example",
    guardian: str | None = None,
    language: str | None = "en",
) -> Student:
    """A student; letters in English unless ``language`` says otherwise (None: DEFAULT_LANGUAGE)."""
    row = Student(
        student_number=number,
        name=f"Student {number}",
        email=email,
        guardian_email=guardian,
        active=active,
        language=language,
    )
    db.session.add(row)
    db.session.flush()
    return row


def course(code: str = "CS101", title: str = "Programming") -> Course:
    row = Course(code=code, title=title)
    db.session.add(row)
    db.session.flush()
    return row


def enroll(stu: Student, crs: Course) -> Enrollment:
    """Enroll ``stu`` in ``crs`` with no attendance yet (an alert is always about an enrollment)."""
    row = Enrollment(student_id=stu.id, course_id=crs.id)
    db.session.add(row)
    db.session.flush()
    return row


def attend(
    stu: Student, crs: Course, statuses: list[str], *, hours: str = "2", start: date = TERM_START, slot: int = 1
) -> None:
    """Record one session per status (weekly from ``start``) and commit, keeping totals exact."""
    rows = [
        (
            stu.id,
            crs.id,
            AttendanceInput(stu.student_number, crs.code, start + timedelta(days=7 * i), slot, Decimal(hours), status),
        )
        for i, status in enumerate(statuses)
    ]
    write_records(db.session, rows)
    db.session.commit()


def user(username: str = "admin", role: str = "admin", password: str = "correct horse battery") -> User:
    row = User(username=username, role=role, password_hash=generate_password_hash(password))
    db.session.add(row)
    db.session.commit()
    return row


def token_for(u: User) -> str:
    token = create_token(u, "test")
    db.session.commit()
    return token
