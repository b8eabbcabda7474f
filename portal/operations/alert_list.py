"""The alerts list behind ``/alerts`` and ``/alerts.csv``: filtered like the API's
(``status``, ``kind``, ``course`` code, ``student`` number), newest first, each alert with
its student, course, term and case state read in the same statement.

Newest first is by id (ids grow with opened_at: one clock, one sequence): a backward walk of
the primary key that stops after the page. Ordering by opened_at then id sorted every
matching alert whenever many share an opened_at, as a scan's do (37 ms for 36,787 open
alerts, against 2 ms).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import func, select

from portal.alerts.case_views import CaseView, state_of
from portal.extensions import db
from portal.models import Alert, AlertCase, Course, Student, Term, User
from portal.operations.browse import DEFAULT_PER_PAGE, PageOf, filtered_alerts
from portal.operations.csv_export import streamed_rows

EXPORT_CHUNK = 1000


@dataclass
class AlertLine:
    """An alert with the names the list shows."""

    alert: Alert
    student_number: str
    student_name: str
    course_code: str
    term_code: str | None
    case: CaseView


def _statement(status=None, kind=None, course=None, student=None):
    stmt = (
        select(Alert, Student.student_number, Student.name, Course.code, Term.code, AlertCase, User.username)
        .join(Student, Student.id == Alert.student_id)
        .join(Course, Course.id == Alert.course_id)
        .join(Term, Term.id == Alert.term_id)
        .outerjoin(AlertCase, AlertCase.alert_id == Alert.id)
        .outerjoin(User, User.id == AlertCase.assigned_to_id)
    )
    return filtered_alerts(stmt, status=status, kind=kind, course=course, student=student)


def _count(status=None, kind=None, course=None, student=None):
    """The count of ``_statement``'s rows, joining only what a filter needs: without a course or
    student filter, the open alerts are counted from their partial index alone."""
    stmt = select(func.count()).select_from(Alert)
    if status:
        stmt = stmt.where(Alert.status == status)
    if kind:
        stmt = stmt.where(Alert.kind == kind)
    if course:
        stmt = stmt.where(Alert.course_id.in_(select(Course.id).where(Course.code == course)))
    if student:
        stmt = stmt.where(Alert.student_id.in_(select(Student.id).where(Student.student_number == student)))
    return stmt


def _line(row) -> AlertLine:
    alert, number, name, course, term, alert_case, assignee = row
    view = CaseView(alert.id)
    if alert_case is not None:
        view.state = state_of(alert_case.handled_at is not None, assignee, alert_case.acknowledged_at is not None)
        view.assignee, view.outcome = assignee, alert_case.outcome
    return AlertLine(alert, number, name, course, term, view)


def alert_lines_page(page: int = 1, per_page: int = DEFAULT_PER_PAGE, **filters) -> PageOf:
    """Return a page of alerts, newest first (two statements: the count and the page)."""
    stmt = _statement(**filters)
    total = db.session.scalar(_count(**filters))
    rows = db.session.execute(stmt.order_by(Alert.id.desc()).limit(per_page).offset((page - 1) * per_page))
    return PageOf([_line(row) for row in rows], total or 0, page, per_page)


def alert_lines(**filters) -> Iterator[AlertLine]:
    """Return an iterator over every alert matching ``filters``, newest first, read ``EXPORT_CHUNK`` at a time."""
    stmt = _statement(**filters).order_by(Alert.id.desc())
    return map(_line, streamed_rows(stmt, EXPORT_CHUNK))
