"""What the admin API tests share: the endpoint, a job to act on, test data for the retry queue
and the alert list, and a snapshot of everything a refused request must leave alone.

(The ``admin`` and ``viewer`` bearer headers are fixtures in tests/conftest.py.)
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Alert, AuditLog, Delivery, JobRun, JobState, Notification
from tests import factories

API = "/api/admin/background-jobs"
PASSWORD = "correct horse battery"
JOB = "cache-refresh"


def pending_delivery(number="S1", kind="warning", channel="email", attempts=1, status="pending", course_code="CS101"):
    """One alert with its notification and a delivery in ``status``."""
    student = factories.student(number, email=f"{number.lower()}@uni.example")
    course = factories.course(course_code) if course_code not in _courses() else _courses()[course_code]
    factories.enroll(student, course)
    alert = Alert(
        student=student,
        course=course,
        kind=kind,
        rate=Decimal("70"),
        threshold=Decimal("75"),
        held_hours=Decimal("10"),
        absent_hours=Decimal("3"),
        excused_hours=Decimal("0"),
    )
    notification = Notification(
        alert=alert, student_id=student.id, kind=kind, subject=f"{kind} for {number}", body="..."
    )
    delivery = Delivery(
        notification=notification, kind=kind, channel=channel, recipient=student.email, status=status, attempts=attempts
    )
    db.session.add_all([alert, notification, delivery])
    db.session.commit()
    return delivery


def _courses():
    from portal.models import Course

    return {c.code: c for c in db.session.scalars(select(Course))}


def state_snapshot():
    """Everything a refused request must leave alone."""
    return (
        sorted((s.name, s.enabled) for s in db.session.scalars(select(JobState))),
        db.session.scalar(select(func.count()).select_from(JobRun)),
        db.session.scalar(select(func.count()).select_from(AuditLog)),
        sorted((d.id, d.status) for d in db.session.scalars(select(Delivery))),
    )


def job_enabled(name: str) -> bool:
    state = db.session.get(JobState, name)
    db.session.expire_all()
    state = db.session.get(JobState, name)
    return True if state is None else state.enabled
