"""Every alert, streamed oldest first, as the CLI lists and exports them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from portal.alerts.outlook import AlertOutlook
from portal.clock import iso_utc
from portal.extensions import db
from portal.models import Alert, Course, Student

STREAM_CHUNK = 2000


def iter_alerts(status: str | None = None) -> Iterator[dict[str, Any]]:
    """Yield every alert (``status``: only ``open`` or ``resolved`` ones), oldest first, as
    ``{id, studentNumber, courseCode, termCode, kind, status, suppressed, openedAt, resolvedAt,
    resolvedReason, rate, threshold, absentHours}`` and the forecast's fields (``AlertOutlook``;
    times ISO 8601 UTC, rates and hours as strings), reading ``STREAM_CHUNK`` rows at a time."""
    outlook = AlertOutlook.load(db.session)
    query = (
        select(Alert, Student.student_number, Course.code)
        .join(Student, Student.id == Alert.student_id)
        .join(Course, Course.id == Alert.course_id)
        .order_by(Alert.id)
        .execution_options(yield_per=STREAM_CHUNK)
    )
    if status:
        query = query.where(Alert.status == status)
    for alert, number, code in db.session.execute(query).tuples():
        yield {
            "id": alert.id,
            "studentNumber": number,
            "courseCode": code,
            "kind": alert.kind,
            "status": alert.status,
            "suppressed": bool(alert.suppressed),
            "openedAt": iso_utc(alert.opened_at),
            "resolvedAt": iso_utc(alert.resolved_at),
            "resolvedReason": alert.resolved_reason,
            "rate": str(alert.rate),
            "threshold": str(alert.threshold),
            "absentHours": str(alert.absent_hours),
            **outlook.fields(alert.term_id, alert.course_id, alert.absent_hours),
        }
