"""Read-only pages: the notifications log, students at risk per course, the audit log."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from portal.alerts import course_stats
from portal.auth import require_page_role
from portal.operations import browse

bp = Blueprint("browse", __name__)


@bp.get("/notifications")
@require_page_role()
def notifications():
    """Notifications with their deliveries; filter by type, channel, status, search by student number."""
    page, per_page = browse.page_args(request.args)
    filters = browse.notification_filters(request.args)
    return render_template(
        "browse/notifications.html",
        notifications=browse.notifications_page(page=page, per_page=per_page, **filters),
        filters=filters,
    )


@bp.get("/at-risk")
@require_page_role()
def at_risk():
    """Per-course statistics (the materialized view) and, for one course, its students with an open alert."""
    page, per_page = browse.page_args(request.args)
    course = (request.args.get("course") or "").strip()[:32] or None
    students = browse.at_risk_students(course, page, per_page) if course else None
    try:
        stats, stats_missing = course_stats.course_stats(), False
    except course_stats.StatsNotBuilt:
        stats, stats_missing = [], True
    return render_template(
        "browse/at_risk.html",
        stats=stats,
        stats_missing=stats_missing,
        open_alerts={row["code"]: row for row in browse.courses_with_open_alerts()},
        course=course,
        students=students,
        rates=browse.current_rates(students.items) if students else {},
    )


@bp.get("/audit")
@require_page_role()
def audit_log():
    """The audit log of admin actions, newest first."""
    page, per_page = browse.page_args(request.args)
    filters = browse.audit_filters(request.args)
    return render_template(
        "browse/audit.html",
        entries=browse.audit_page(page=page, per_page=per_page, **filters),
        filters=filters,
        actions=browse.audit_actions(),
    )
