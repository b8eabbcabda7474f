"""Read-only pages: the notifications log, the alerts, students at risk per course, the audit
log; the alerts and the at-risk list as CSV files with the same filters."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from portal.alerts import course_stats
from portal.auth import require_page_role
from portal.models.alerts import ALERT_KINDS
from portal.operations import browse, exports
from portal.operations.alert_list import alert_lines_page
from portal.operations.at_risk import at_risk_filters, at_risk_page

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
    """Per-course statistics (the materialized view) and the students at risk now: one line per
    (student, course), in one course or, with ``unhandled=1``, every course's unhandled mahroom cases."""
    page, per_page = browse.page_args(request.args)
    filters = at_risk_filters(request.args)
    listed = filters["course"] is not None or filters["unhandled"]
    lines = at_risk_page(page=page, per_page=per_page, **filters) if listed else None
    try:
        stats, stats_missing = course_stats.course_stats(), False
    except course_stats.StatsNotBuilt:
        stats, stats_missing = [], True
    return render_template(
        "browse/at_risk.html",
        stats=stats,
        stats_missing=stats_missing,
        open_alerts={row["code"]: row for row in browse.courses_with_open_alerts()},
        course=filters["course"],
        unhandled=filters["unhandled"],
        students=lines,
        rates=browse.current_rates(lines.items) if lines else {},
    )


@bp.get("/at-risk.csv")
@require_page_role()
def at_risk_csv():
    """The at-risk list with the page's filters (``course``, ``unhandled``), every line, as CSV."""
    name, chunks = exports.at_risk_csv(**at_risk_filters(request.args))
    return _csv_response(name, chunks)


@bp.get("/alerts")
@require_page_role()
def alerts():
    """Every alert, newest first, filtered by status, kind, course code and student number."""
    page, per_page = browse.page_args(request.args)
    filters = browse.alert_filters(request.args)
    return render_template(
        "browse/alerts.html",
        alerts=alert_lines_page(page, per_page, **filters),
        filters=filters,
        statuses=browse.ALERT_STATUSES,
        kinds=ALERT_KINDS,
    )


@bp.get("/alerts.csv")
@require_page_role()
def alerts_csv():
    """The alerts with the page's filters, every one, as CSV."""
    name, chunks = exports.alerts_csv(**browse.alert_filters(request.args))
    return _csv_response(name, chunks)


def _csv_response(name: str, chunks) -> Response:
    response = Response(chunks, content_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


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
