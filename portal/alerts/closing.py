"""Closing alerts without a notification: students who left, enrollments withdrawn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from portal.models import Alert, Enrollment

CHUNK = 500


def close_alerts_of_inactive(session: Session, student_ids: Sequence[int], terms: Sequence[int], now: datetime) -> int:
    """Close the open alerts, in ``terms``, of students who left (``active`` false): resolved
    with the reason "inactive" and no notification. Returns how many were closed. A student
    made active again is evaluated afresh by the next scan."""
    closed = 0
    ids = sorted(set(student_ids))
    for start in range(0, len(ids), CHUNK):
        closed += session.execute(
            update(Alert)
            .where(
                Alert.student_id.in_(ids[start : start + CHUNK]),
                Alert.status == "open",
                Alert.term_id.in_(list(terms)),
            )
            .values(status="resolved", resolved_at=now, resolved_reason="inactive")
            .execution_options(synchronize_session=False)
        ).rowcount
    return closed


def close_alerts_of_withdrawn(session: Session, enrollment_ids: Sequence[int], now: datetime) -> int:
    """Close the open alerts of withdrawn enrollments (reason "withdrawn", no notification)."""
    if not enrollment_ids:
        return 0
    keys = select(Enrollment.student_id, Enrollment.course_id, Enrollment.term_id).where(
        Enrollment.id.in_(list(enrollment_ids))
    )
    return session.execute(
        update(Alert)
        .where(tuple_(Alert.student_id, Alert.course_id, Alert.term_id).in_(keys), Alert.status == "open")
        .values(status="resolved", resolved_at=now, resolved_reason="withdrawn")
        .execution_options(synchronize_session=False)
    ).rowcount
