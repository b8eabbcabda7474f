"""One student's alerts, newest first, as the student app shows them (``GET /api/students/<n>/alerts``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal.alerts.outlook import AlertOutlook
from portal.clock import iso_utc
from portal.extensions import db
from portal.models import Alert, Course


def student_alerts(student_id: int) -> list[dict[str, Any]]:
    """Return every alert of the student (open and resolved, suppressed included), newest first;
    rates as exact decimal text, times ISO 8601 UTC. A student has a handful: no paging."""
    outlook = AlertOutlook.load(db.session)
    rows = db.session.execute(
        select(Alert, Course.code, Course.title)
        .join(Course, Course.id == Alert.course_id)
        .where(Alert.student_id == student_id)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    )
    return [
        {
            "id": alert.id,
            "kind": alert.kind,
            "status": alert.status,
            "suppressed": alert.suppressed,
            "courseCode": code,
            "courseTitle": title,
            "rate": str(alert.rate),
            "threshold": str(alert.threshold),
            "heldHours": str(alert.held_hours),
            "absentHours": str(alert.absent_hours),
            "excusedHours": str(alert.excused_hours),
            "openedAt": iso_utc(alert.opened_at),
            "resolvedAt": iso_utc(alert.resolved_at),
            "resolvedReason": alert.resolved_reason,
            **outlook.fields(alert.term_id, alert.course_id, alert.absent_hours),
        }
        for alert, code, title in rows
    ]
