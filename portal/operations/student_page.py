"""The office's page for one student and the header's student search.

Every read here is a fixed number of statements whatever the student's history: the student,
the terms, the enrollments (with course and planned hours), the alerts, the notifications,
their deliveries, and one page of attendance records (count and rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, select

from portal.attendance.terms import TermCalendar, TermSpan, university_today
from portal.domain.forecast import Forecast, forecast, plain
from portal.domain.rates import HourTotals, attendance_rate, format_percent, presence_rate
from portal.domain.rules import Thresholds
from portal.extensions import db
from portal.models import Alert, AttendanceRecord, Course, Delivery, Enrollment, Notification, Offering, Student, Term
from portal.operations.browse import MAX_PER_PAGE, InvalidQuery, PageOf

RECORDS_PER_PAGE = 50
SEARCH_PER_PAGE = 25
# A name search needs this many characters: one letter matches half the university.
MIN_NAME_QUERY = 2


def rate_text(value: Decimal | None) -> str:
    """A rate as the pages show it (``79.99 %``), or '—' when no hour was held yet."""
    return "—" if value is None else f"{format_percent(value)} %"


@dataclass
class CourseLine:
    """One enrollment of the student: hours, both rates and, with planned hours, the forecast."""

    code: str
    title: str
    active: bool
    held: Decimal
    absent: Decimal
    excused: Decimal
    outlook: Forecast | None

    @property
    def attendance_rate(self) -> str:
        return rate_text(attendance_rate(HourTotals(self.held, self.absent, self.excused)))

    @property
    def presence_rate(self) -> str:
        return rate_text(presence_rate(HourTotals(self.held, self.absent, self.excused)))


@dataclass
class TermGroup:
    """A term and the student's courses in it."""

    id: int
    code: str | None
    name: str
    in_progress: bool
    courses: list[CourseLine] = field(default_factory=list)


def find_student(number: str) -> Student | None:
    """Return the student with exactly this student number, or None."""
    return db.session.scalar(select(Student).where(Student.student_number == number))


def _terms() -> tuple[dict[int, Term], set[int]]:
    terms = {t.id: t for t in db.session.scalars(select(Term))}
    calendar = TermCalendar(
        [TermSpan(t.id, t.code, t.starts_on, t.ends_on) for t in terms.values() if t.starts_on is not None]
    )
    return terms, set(calendar.in_progress(university_today()))


def course_terms(student_id: int) -> list[TermGroup]:
    """Return the student's enrollments grouped by term: terms in progress first, then older
    terms newest first (the open-ended term, history once dated terms exist, last)."""
    terms, in_progress = _terms()
    thresholds = Thresholds.from_config(current_app.config)
    rows = db.session.execute(
        select(Enrollment, Course.code, Course.title, Offering.planned_hours)
        .join(Course, Course.id == Enrollment.course_id)
        .outerjoin(Offering, and_(Offering.term_id == Enrollment.term_id, Offering.course_id == Enrollment.course_id))
        .where(Enrollment.student_id == student_id)
        .order_by(Course.code)
    )
    groups: dict[int, TermGroup] = {}
    for enrollment, code, title, planned in rows:
        term = terms[enrollment.term_id]
        group = groups.setdefault(term.id, TermGroup(term.id, term.code, term.name, term.id in in_progress))
        outlook = forecast(
            None if planned is None else plain(planned), enrollment.absent_hours, thresholds.warning, thresholds.mahroom
        )
        group.courses.append(
            CourseLine(
                code,
                title,
                enrollment.active,
                enrollment.held_hours,
                enrollment.absent_hours,
                enrollment.excused_hours,
                outlook,
            )
        )

    def order(group: TermGroup):
        starts = terms[group.id].starts_on
        return (not group.in_progress, starts is None, -(starts.toordinal() if starts else 0))

    return sorted(groups.values(), key=order)


def student_alerts(student_id: int) -> list[dict[str, Any]]:
    """Return every alert of the student, open and past, newest first, with its course and term code."""
    rows = db.session.execute(
        select(Alert, Course.code, Term.code)
        .join(Course, Course.id == Alert.course_id)
        .join(Term, Term.id == Alert.term_id)
        .where(Alert.student_id == student_id)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    )
    return [{"alert": alert, "course": course, "term": term} for alert, course, term in rows]


def student_notifications(student_id: int) -> list[dict[str, Any]]:
    """Return every notification of the student, newest first, each with its course code and
    deliveries (two statements: the notifications, then all their deliveries)."""
    rows = db.session.execute(
        select(Notification, Course.code)
        .join(Alert, Alert.id == Notification.alert_id)
        .join(Course, Course.id == Alert.course_id)
        .where(Notification.student_id == student_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    ).all()
    deliveries: dict[int, list[Delivery]] = {}
    if rows:
        for delivery in db.session.scalars(
            select(Delivery)
            .join(Notification, Notification.id == Delivery.notification_id)
            .where(Notification.student_id == student_id)
            .order_by(Delivery.id)
        ):
            deliveries.setdefault(delivery.notification_id, []).append(delivery)
    return [{"notification": n, "course": code, "deliveries": deliveries.get(n.id, [])} for n, code in rows]


def attendance_records(student_id: int, page: int, per_page: int = RECORDS_PER_PAGE) -> PageOf:
    """Return a page of the student's attendance records, newest first (date, then slot)."""
    total = db.session.scalar(
        select(func.count()).select_from(AttendanceRecord).where(AttendanceRecord.student_id == student_id)
    )
    rows = db.session.execute(
        select(AttendanceRecord, Course.code, Term.code)
        .join(Course, Course.id == AttendanceRecord.course_id)
        .join(Term, Term.id == AttendanceRecord.term_id)
        .where(AttendanceRecord.student_id == student_id)
        .order_by(AttendanceRecord.date.desc(), AttendanceRecord.slot.desc(), AttendanceRecord.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    items = [{"record": record, "course": course, "term": term} for record, course, term in rows]
    return PageOf(items, total or 0, page, per_page)


def search_query(raw: str | None) -> str:
    """Return the search text, stripped; InvalidQuery when it is empty or too short for a name."""
    text = (raw or "").strip()[:200]
    if not text:
        raise InvalidQuery("Type a student number or at least 2 letters of a name to search.")
    return text


def search_by_name(text: str, page: int, per_page: int = SEARCH_PER_PAGE) -> PageOf:
    """Return a page of the students whose name contains ``text`` (any case), by name."""
    if len(text) < MIN_NAME_QUERY:
        raise InvalidQuery(
            f"'{text}' is not a student number, and a name search needs at least {MIN_NAME_QUERY} characters."
        )
    per_page = min(per_page, MAX_PER_PAGE)
    matching = Student.name.icontains(text, autoescape=True)
    total = db.session.scalar(select(func.count()).select_from(Student).where(matching))
    items = db.session.scalars(
        select(Student)
        .where(matching)
        .order_by(Student.name, Student.student_number)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return PageOf(list(items), total or 0, page, per_page)
