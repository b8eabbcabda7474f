"""The at-risk list and the alerts list as CSV files, with the pages' filters.

Each export is a header and a generator of rows over a streamed query (``yield_per``): memory
stays flat whatever the list's length, and the first bytes leave before the last row is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import current_app

from portal.alerts.case_views import state_of, status_text
from portal.attendance.terms import university_today
from portal.operations.alert_list import alert_lines
from portal.operations.at_risk import at_risk_rows
from portal.operations.csv_export import LocalTimes, attachment_name, csv_chunks, utc


def _zone() -> LocalTimes:
    return LocalTimes(current_app.config.get("UNIVERSITY_TIMEZONE", "UTC"))


def _at_risk_row(row, local: LocalTimes) -> list:
    # Straight from the query's row, unpacked as a tuple (no AtRiskLine per row, no attribute
    # lookups by name: the export is the longest list the pages produce).
    (_, _, number, name, course, term, alert_id, kind, rate, threshold, held, absent, excused, opened_at) = row[:14]
    (_, tasdiq_since, case_id, acknowledged_at, handled_at, outcome, assignee) = row[14:]
    if case_id is None:
        case = "new"
    else:
        case = status_text(state_of(handled_at is not None, assignee, acknowledged_at is not None), assignee, outcome)
    due = "certificate due" if tasdiq_since else ""
    when = (utc(opened_at), local(opened_at))
    return [number, name, course, term, kind, alert_id, due, rate, threshold, held, absent, excused, *when, case]


def at_risk_csv(course: str | None = None, unhandled: bool = False) -> tuple[str, Iterator[str]]:
    """Return the file name and the chunks of the at-risk list (one line per student and course)."""
    local = _zone()
    header = [
        "student_number",
        "student_name",
        "course",
        "term",
        "alert",
        "alert_id",
        "tasdiq",
        "rate",
        "threshold",
        "held_hours",
        "absent_hours",
        "excused_hours",
        "opened_at_utc",
        f"opened_at_local ({local.zone})",
        "case",
    ]
    rows = (_at_risk_row(row, local) for row in at_risk_rows(course, unhandled))
    name = attachment_name("at-risk", university_today(), course, "unhandled" if unhandled else None)
    return name, csv_chunks(header, rows)


def alerts_csv(**filters: Any) -> tuple[str, Iterator[str]]:
    """Return the file name and the chunks of the alerts matching ``filters``, newest first."""
    local = _zone()
    header = [
        "alert_id",
        "student_number",
        "student_name",
        "course",
        "term",
        "kind",
        "status",
        "suppressed",
        "rate",
        "threshold",
        "held_hours",
        "absent_hours",
        "excused_hours",
        "opened_at_utc",
        f"opened_at_local ({local.zone})",
        "resolved_at_utc",
        f"resolved_at_local ({local.zone})",
        "case",
    ]
    rows = (
        [
            line.alert.id,
            line.student_number,
            line.student_name,
            line.course_code,
            line.term_code,
            line.alert.kind,
            line.alert.status,
            "yes" if line.alert.suppressed else "no",
            line.alert.rate,
            line.alert.threshold,
            line.alert.held_hours,
            line.alert.absent_hours,
            line.alert.excused_hours,
            utc(line.alert.opened_at),
            local(line.alert.opened_at),
            utc(line.alert.resolved_at),
            local(line.alert.resolved_at),
            line.case.status_text,
        ]
        for line in alert_lines(**filters)
    )
    parts = [filters.get(key) for key in ("status", "kind", "course", "student")]
    return attachment_name("alerts", university_today(), *parts), csv_chunks(header, rows)
