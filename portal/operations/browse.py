"""Read-only queries behind the portal's pages and list APIs: paginated, filtered, validated.

Filters arrive as request arguments (strings); every parse here raises InvalidQuery with a
message fit for the user, which the web layer answers with 400.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from portal.alerts.outlook import AlertOutlook
from portal.attendance.summary_cache import get_summaries
from portal.clock import iso_utc
from portal.extensions import db
from portal.models import Alert, AuditLog, Course, Delivery, JobRun, Notification, Student
from portal.models.alerts import ALERT_KINDS, CHANNELS, DELIVERY_STATUSES
from portal.notifications.retry_queue import list_deliveries
from portal.operations.charts import bar_slot

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 200
# Far past any real list; keeps OFFSET (page x per page) well inside a 64-bit integer.
MAX_PAGE = 1_000_000
RETRY_TABS = ("pending", "dead")
ALERT_STATUSES = ("open", "resolved")


class InvalidQuery(ValueError):
    """A filter or page argument is malformed; the message says which and why."""


def _whole_number(args: Mapping[str, str], name: str, default: int | None, minimum: int, maximum: int | None = None):
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidQuery(f"'{name}' must be a whole number, got {raw[:20]!r}.") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidQuery(f"'{name}' must be {bound}, got {raw[:20]}.")
    return value


def _choice(args: Mapping[str, str], name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise InvalidQuery(f"'{name}' must be one of {', '.join(choices)}; got {raw[:20]!r}.")
    return raw


def page_args(args: Mapping[str, str]) -> tuple[int, int]:
    """Return ``(page, per_page)`` from ``page`` and ``perPage`` (or ``per_page``) arguments."""
    page = _whole_number(args, "page", 1, 1, MAX_PAGE)
    name = "perPage" if "perPage" in args else "per_page"
    per_page = _whole_number(args, name, DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    return page, per_page


def _text(args: Mapping[str, str], name: str, limit: int = 64) -> str | None:
    value = (args.get(name) or "").strip()
    return value[:limit] or None


def alert_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """Return the alert filters: ``status`` (open/resolved), ``kind``, ``course`` code, ``student`` number."""
    return {
        "status": _choice(args, "status", ALERT_STATUSES),
        "kind": _choice(args, "kind", ALERT_KINDS),
        "course": _text(args, "course"),
        "student": _text(args, "student"),
    }


def delivery_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """Return the retry-queue filters: ``status`` (pending: waiting for a retry; dead), ``type``, ``attempts``, ``channel``."""
    return {
        "status": _choice(args, "status", RETRY_TABS, "pending"),
        "kind": _choice(args, "type", ALERT_KINDS),
        "attempts": _whole_number(args, "attempts", None, 0, 100),
        "channel": _choice(args, "channel", CHANNELS),
    }


def snapshot_args(args: Mapping[str, str]) -> tuple[int, int]:
    """Return ``(count, maxId)``: what a group action's confirmation page showed (both required)."""
    for name in ("count", "maxId"):
        if not (args.get(name) or "").strip():
            raise InvalidQuery(f"'{name}' is required: open the confirmation page again.")
    return _whole_number(args, "count", 0, 0), _whole_number(args, "maxId", 0, 0)


def notification_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """Return the notifications-log filters: ``type``, ``channel``, delivery ``status``, ``q`` (student number)."""
    return {
        "kind": _choice(args, "type", ALERT_KINDS),
        "channel": _choice(args, "channel", CHANNELS),
        "status": _choice(args, "status", DELIVERY_STATUSES),
        "student_number": _text(args, "q", 32),
    }


def audit_filters(args: Mapping[str, str]) -> dict[str, Any]:
    """Return the audit-log filters: ``actor`` and ``action``."""
    return {"actor": _text(args, "actor", 100), "action": _text(args, "action", 64)}


@dataclass
class PageOf:
    """A page of results from a service that answers ``{items, total, page, perPage}`` (for the pager)."""

    items: list
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def retry_deliveries(
    page: int = 1, per_page: int = DEFAULT_PER_PAGE, *, status="pending", kind=None, attempts=None, channel=None
) -> PageOf:
    """Return a page of the retry queue (``pending``: waiting for a retry) or of the ``dead`` deliveries."""
    result = list_deliveries(
        "waiting" if status == "pending" else status, page, per_page, kind=kind, attempts=attempts, channel=channel
    )
    return PageOf(result["items"], result["total"], result["page"], result["perPage"])


def _paginate(statement, page: int, per_page: int):
    return db.paginate(statement, page=page, per_page=per_page, error_out=False, max_per_page=MAX_PER_PAGE)


def page_json(pagination, item_json: Callable[[Any], dict] | None = None) -> dict[str, Any]:
    """Return a page of results as ``{items, page, perPage, total, pages}``."""
    return {
        "items": [item_json(item) if item_json else item for item in pagination.items],
        "page": pagination.page,
        "perPage": pagination.per_page,
        "total": pagination.total,
        "pages": pagination.pages,
    }


def alerts_page(page: int = 1, per_page: int = DEFAULT_PER_PAGE, *, status=None, kind=None, course=None, student=None):
    """Return a page of alerts, newest first, with their student and course loaded."""
    stmt = select(Alert).join(Alert.student).join(Alert.course).order_by(Alert.opened_at.desc(), Alert.id.desc())
    return _paginate(filtered_alerts(stmt, status=status, kind=kind, course=course, student=student), page, per_page)


def filtered_alerts(stmt, *, status=None, kind=None, course=None, student=None):
    """``stmt`` (alerts joined to their student and course) narrowed by the alerts lists' filters."""
    if status:
        stmt = stmt.where(Alert.status == status)
    if kind:
        stmt = stmt.where(Alert.kind == kind)
    if course:
        stmt = stmt.where(Course.code == course)
    if student:
        stmt = stmt.where(Student.student_number == student)
    return stmt


def alert_json(alert: Alert, outlook: AlertOutlook | None = None) -> dict[str, Any]:
    """Return an alert as the API shows it (camelCase, ISO 8601 UTC times, rates as strings),
    with its term and forecast (``outlook``: read once per page; loaded here when not given)."""
    outlook = outlook or AlertOutlook.load(db.session)
    return {
        "id": alert.id,
        "studentNumber": alert.student.student_number,
        "studentName": alert.student.name,
        "courseCode": alert.course.code,
        "kind": alert.kind,
        "status": alert.status,
        "suppressed": alert.suppressed,
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


def alerts_json(pagination) -> dict[str, Any]:
    """A page of alerts as the API shows it (the terms and planned hours read once)."""
    outlook = AlertOutlook.load(db.session)
    return page_json(pagination, lambda alert: alert_json(alert, outlook))


def notifications_page(
    page: int = 1, per_page: int = DEFAULT_PER_PAGE, *, kind=None, channel=None, status=None, student_number=None
):
    """Return a page of notifications, newest first; channel/status match any of their deliveries."""
    stmt = select(Notification).join(Student, Student.id == Notification.student_id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    if student_number:
        stmt = stmt.where(Student.student_number.startswith(student_number, autoescape=True))
    if channel or status:
        matching = select(Delivery.notification_id)
        if channel:
            matching = matching.where(Delivery.channel == channel)
        if status:
            matching = matching.where(Delivery.status == status)
        stmt = stmt.where(Notification.id.in_(matching))
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id.desc())
    return _paginate(stmt, page, per_page)


def audit_page(page: int = 1, per_page: int = DEFAULT_PER_PAGE, *, actor=None, action=None):
    """Return a page of the audit log, newest first."""
    stmt = select(AuditLog).order_by(AuditLog.at.desc(), AuditLog.id.desc())
    if actor:
        stmt = stmt.where(AuditLog.actor == actor)
    if action:
        stmt = stmt.where(AuditLog.action == action)
    return _paginate(stmt, page, per_page)


def audit_actions() -> list[str]:
    """Return every action name present in the audit log (for the filter menu)."""
    return list(db.session.scalars(select(AuditLog.action).distinct().order_by(AuditLog.action)))


def job_runs_page(job_name: str, page: int = 1, per_page: int = DEFAULT_PER_PAGE):
    """Return a page of ``job_name``'s runs, newest first."""
    stmt = select(JobRun).where(JobRun.job_name == job_name).order_by(JobRun.queued_at.desc(), JobRun.id.desc())
    return _paginate(stmt, page, per_page)


OUTCOME_CLASSES = {"success": "ok", "error": "bad", "skipped": "muted", "running": "busy", "queued": "busy"}


def run_chart(job_name: str, limit: int = 60, width: int = 600, height: int = 140) -> dict[str, Any]:
    """Return the geometry of an SVG bar chart of the latest ``limit`` runs, oldest on the left.

    Bar height is the run's duration (relative to the longest), colour class its outcome.
    """
    runs = list(
        db.session.scalars(
            select(JobRun)
            .where(JobRun.job_name == job_name)
            .order_by(JobRun.queued_at.desc(), JobRun.id.desc())
            .limit(limit)
        )
    )[::-1]
    longest = max((run.duration_ms or 0 for run in runs), default=0) or 1
    slot = bar_slot(len(runs), width, width / limit)  # one run is one narrow bar, not the whole width
    bars = []
    for index, run in enumerate(runs):
        ms = run.duration_ms or 0
        bar_height = max(round((height - 20) * ms / longest), 2)
        bars.append(
            {
                "x": round(index * slot + 1, 1),
                "y": height - bar_height,
                "width": max(round(slot - 2, 1), 1),
                "height": bar_height,
                "css": OUTCOME_CLASSES.get(run.status, "muted"),
                "title": f"#{run.id} {run.status}, {ms} ms, {iso_utc(run.queued_at)}",
            }
        )
    return {"width": width, "height": height, "bars": bars, "longest_ms": longest if runs else 0}


def at_risk_students(course_code: str, page: int = 1, per_page: int = DEFAULT_PER_PAGE):
    """Return a page of the open alerts in ``course_code`` (the students at risk there), worst rate first."""
    stmt = (
        select(Alert)
        .join(Alert.course)
        .join(Alert.student)
        .where(Course.code == course_code, Alert.status == "open")
        .order_by(Alert.rate.asc(), Student.student_number.asc(), Alert.kind.asc())
    )
    return _paginate(stmt, page, per_page)


def courses_with_open_alerts() -> list[dict[str, Any]]:
    """Return ``{code, title, open, mahroom, warning, tasdiq}`` for every course with an open alert."""
    # Counted from the partial index on open alerts alone (course_id and kind are in it), then
    # named: grouping the joined rows by code and title read every open alert's course row.
    counts = (
        select(Alert.course_id, Alert.kind, func.count().label("n"))
        .where(Alert.status == "open")
        .group_by(Alert.course_id, Alert.kind)
        .subquery()
    )
    rows = db.session.execute(
        select(Course.code, Course.title, counts.c.kind, counts.c.n)
        .join(counts, counts.c.course_id == Course.id)
        .order_by(Course.code)
    )
    courses: dict[str, dict[str, Any]] = {}
    for code, title, kind, count in rows:
        entry = courses.setdefault(code, {"code": code, "title": title, "open": 0, **{k: 0 for k in ALERT_KINDS}})
        entry[kind] = count
        entry["open"] += count
    return list(courses.values())


def current_rates(alerts: list[Alert]) -> dict[tuple[int, int], dict[str, Any]]:
    """Return today's rates of the alerts' (student, course) pairs from the per-student cache."""
    rates: dict[tuple[int, int], dict[str, Any]] = {}
    for student_id, summary in get_summaries(alert.student_id for alert in alerts).items():
        for course in summary.get("courses", []):
            rates[(student_id, course["courseId"])] = course
    return rates
