"""``/api/students/<student_number>/...``: what the university's student app reads.

The inbox (a page of 20 messages, newest first, with the unread count), marking a message read,
and the student's alerts. A token needs the ``inbox`` scope (or ``admin``); a signed-in viewer
may read, marking read needs the admin role (as every change does); session POSTs need the
CSRF header (portal/forms.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, abort, jsonify, request

from portal.alerts.for_student import student_alerts
from portal.auth import require_api_role
from portal.models import Student
from portal.notifications import inbox
from portal.operations.browse import MAX_PAGE, InvalidQuery

bp = Blueprint("students_api", __name__, url_prefix="/api/students")

UNREAD_VALUES = ("0", "1")


def _ok(data):
    return jsonify({"success": True, "data": data})


def _student(student_number: str) -> Student:
    student = inbox.find_student(student_number)
    if student is None:
        abort(404, description=f"No student with number {student_number[:40]!r}.")
    return student


def inbox_args(args: Mapping[str, str]) -> tuple[int, bool]:
    """Return ``(page, unread_only)`` from ``page`` (1 to MAX_PAGE) and ``unread`` (0 or 1);
    raise InvalidQuery (400) naming the argument."""
    raw = args.get("page") or "1"
    try:
        page = int(raw)
    except ValueError:
        raise InvalidQuery(f"'page' must be a whole number, got {raw[:20]!r}.") from None
    if not 1 <= page <= MAX_PAGE:
        raise InvalidQuery(f"'page' must be between 1 and {MAX_PAGE}, got {raw[:20]}.")
    unread = args.get("unread") or "0"
    if unread not in UNREAD_VALUES:
        raise InvalidQuery(f"'unread' must be 0 or 1; got {unread[:20]!r}.")
    return page, unread == "1"


@bp.get("/<student_number>/inbox")
@require_api_role()
def student_inbox(student_number: str):
    """A page of the student's messages, newest first; ``unread=1``: only the unread ones."""
    page, unread_only = inbox_args(request.args)
    student = _student(student_number)
    return _ok(inbox.inbox_page(student.id, page, unread_only).as_json())


@bp.post("/<student_number>/inbox/<message_id>/read")
@require_api_role("admin")
def mark_message_read(student_number: str, message_id: str):
    """Mark one of the student's messages read (the first read time is kept); 404 if not theirs."""
    student = _student(student_number)
    number = int(message_id) if message_id.isascii() and message_id.isdigit() and len(message_id) <= 18 else None
    message = None if number is None else inbox.mark_read(student.id, number)
    if message is None:
        abort(404, description=f"Student {student.student_number!r} has no inbox message {message_id[:20]!r}.")
    return _ok(message)


@bp.get("/<student_number>/alerts")
@require_api_role()
def alerts(student_number: str):
    """The student's alerts, newest first."""
    return _ok({"alerts": student_alerts(_student(student_number).id)})
