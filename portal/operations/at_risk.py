"""Who is at risk now: one line per (student, course) of the terms in progress.

The scan opens up to three alerts per (student, course, term): a mahroom with its suppressed
warning (they open together when the rate falls from above 80 % to 75 % or less) and, apart,
a tasdiq. Listing alerts showed a barred student twice; a line instead carries the most severe
of mahroom and warning (mahroom wins), and tasdiq, a different condition (the sick or leave
hours need a certificate), as a mark of its own on the same line. A line with only a tasdiq
alert is a tasdiq line. Alerts of ended terms are left out: they are history, not risk now.

The page and the CSV export read the same statement, the CSV streamed in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import aliased

from portal.alerts.case_views import CaseView, state_of
from portal.attendance.terms import terms_in_progress
from portal.extensions import db
from portal.models import Alert, AlertCase, Course, Student, Term, User
from portal.operations.browse import DEFAULT_PER_PAGE, InvalidQuery, PageOf
from portal.operations.csv_export import streamed_rows

EXPORT_CHUNK = 1000


@dataclass
class AtRiskLine:
    """One (student, course, term) at risk: its most severe alert, the tasdiq mark, the case."""

    student_id: int
    course_id: int
    student_number: str
    student_name: str
    course_code: str
    term_code: str | None
    alert_id: int
    kind: str
    rate: Decimal
    threshold: Decimal
    held_hours: Decimal
    absent_hours: Decimal
    excused_hours: Decimal
    opened_at: datetime
    also_warning: bool  # a mahroom line whose (suppressed) warning is open too
    tasdiq_since: datetime | None
    case: CaseView


def _flag(args: Mapping[str, str], name: str) -> bool:
    raw = (args.get(name) or "").strip()
    if raw not in ("", "0", "1"):
        raise InvalidQuery(f"'{name}' must be 0 or 1, got {raw[:20]!r}.")
    return raw == "1"


def at_risk_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """Return ``course`` (a course code; unknown: InvalidQuery) and ``unhandled`` (1: only lines
    with an open mahroom alert whose case is not handled)."""
    code = (args.get("course") or "").strip()[:32] or None
    if code is not None and db.session.scalar(select(Course.id).where(Course.code == code)) is None:
        raise InvalidQuery(f"'course': no course has the code {code!r}.")
    return {"course": code, "unhandled": _flag(args, "unhandled")}


def _lines(course: str | None, unhandled: bool):
    """One row per (student, course, term) with an open alert in a term in progress."""
    by_kind = {
        kind: func.max(case((Alert.kind == kind, Alert.id))).label(f"{kind}_id")
        for kind in ("mahroom", "warning", "tasdiq")
    }
    stmt = (
        select(Alert.student_id, Alert.course_id, Alert.term_id, *by_kind.values())
        .where(Alert.status == "open", Alert.term_id.in_(terms_in_progress(db.session)))
        .group_by(Alert.student_id, Alert.course_id, Alert.term_id)
    )
    if course:
        # The course's id as a value, not a join: the scan of its open alerts is then a range
        # of the partial index on open alerts (course_id, term_id), the count index-only.
        stmt = stmt.where(Alert.course_id == select(Course.id).where(Course.code == course).scalar_subquery())
    if unhandled:
        open_mahroom = and_(Alert.kind == "mahroom", AlertCase.handled_at.is_(None))
        stmt = stmt.outerjoin(AlertCase, AlertCase.alert_id == Alert.id).having(
            func.max(case((open_mahroom, 1), else_=0)) == 1
        )
    return stmt.subquery("lines")


def _statement(course: str | None, unhandled: bool):
    # Columns, not ORM entities: building two objects a row cost more than the query itself
    # (13 ms of the busiest course's 26 ms export). portal/operations/exports.py unpacks them
    # in this order (tests/test_exports.py checks every column of the file).
    lines = _lines(course, unhandled)
    main, tasdiq, assignee = aliased(Alert), aliased(Alert), aliased(User)
    main_id = func.coalesce(lines.c.mahroom_id, lines.c.warning_id, lines.c.tasdiq_id)
    stmt = (
        select(
            main.student_id,
            main.course_id,
            Student.student_number,
            Student.name.label("student_name"),
            Course.code.label("course_code"),
            Term.code.label("term_code"),
            main.id.label("alert_id"),
            main.kind,
            main.rate,
            main.threshold,
            main.held_hours,
            main.absent_hours,
            main.excused_hours,
            main.opened_at,
            lines.c.warning_id,
            tasdiq.opened_at.label("tasdiq_since"),
            AlertCase.alert_id.label("case_id"),
            AlertCase.acknowledged_at,
            AlertCase.handled_at,
            AlertCase.outcome,
            assignee.username.label("assignee"),
        )
        .select_from(lines)
        .join(main, main.id == main_id)
        .join(Student, Student.id == lines.c.student_id)
        .join(Course, Course.id == lines.c.course_id)
        .join(Term, Term.id == lines.c.term_id)
        .outerjoin(tasdiq, and_(tasdiq.id == lines.c.tasdiq_id, main.kind != "tasdiq"))
        .outerjoin(AlertCase, AlertCase.alert_id == main.id)
        .outerjoin(assignee, assignee.id == AlertCase.assigned_to_id)
        .order_by(main.rate.asc(), Student.student_number.asc(), Course.code.asc(), main.id.asc())
    )
    return lines, stmt


def _line(row) -> AtRiskLine:
    view = CaseView(row.alert_id)
    if row.case_id is not None:
        view.state = state_of(row.handled_at is not None, row.assignee, row.acknowledged_at is not None)
        view.assignee, view.outcome = row.assignee, row.outcome
    return AtRiskLine(
        row.student_id,
        row.course_id,
        row.student_number,
        row.student_name,
        row.course_code,
        row.term_code,
        row.alert_id,
        row.kind,
        row.rate,
        row.threshold,
        row.held_hours,
        row.absent_hours,
        row.excused_hours,
        row.opened_at,
        row.kind == "mahroom" and row.warning_id is not None,
        row.tasdiq_since,
        view,
    )


def at_risk_page(
    course: str | None = None, unhandled: bool = False, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> PageOf:
    """Return a page of at-risk lines, worst rate first (two statements: the count, the page)."""
    lines, stmt = _statement(course, unhandled)
    total = db.session.scalar(select(func.count()).select_from(lines))
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page))
    return PageOf([_line(row) for row in rows], total or 0, page, per_page)


def at_risk_rows(course: str | None = None, unhandled: bool = False) -> Iterator:
    """Return an iterator over every at-risk line's row (the columns of ``_statement``) in the
    page's order, read ``EXPORT_CHUNK`` rows at a time: the CSV export writes them as they come."""
    _, stmt = _statement(course, unhandled)
    return streamed_rows(stmt, EXPORT_CHUNK)
