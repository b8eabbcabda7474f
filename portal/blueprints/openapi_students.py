"""The OpenAPI document's student endpoints (``/api/students/...``): schemas, examples, operations.

``portal.blueprints.openapi`` merges them into the document it serves.
"""

from __future__ import annotations

from typing import Any

from portal.blueprints.openapi_build import ERROR, READ, WRITE, answer, failure, ok, operation, query, shared
from portal.blueprints.openapi_fields import ALERT_TERM_FIELDS
from portal.blueprints.openapi_spec import (
    BOOL,
    COUNT,
    DECIMAL,
    INT,
    KINDS,
    STR,
    TIME,
    TIME_OR_NULL,
    Schema,
    done,
    obj,
    ref,
)
from portal.domain.letters import LANGUAGES
from portal.notifications.inbox import PER_PAGE
from portal.operations.browse import ALERT_STATUSES, MAX_PAGE

MESSAGE = obj(
    {
        "id": INT,
        "kind": KINDS,
        "courseCode": STR,
        "subject": STR,
        "body": STR,
        "language": {
            "type": "string",
            "enum": list(LANGUAGES),
            "description": "The letter's language: fa (Dari), ps (Pashto) or en (the student's, else DEFAULT_LANGUAGE).",
        },
        "createdAt": TIME,
        "readAt": {**TIME_OR_NULL, "description": "When it was first marked read; null while unread."},
    }
)
INBOX_PAGE = obj(
    {
        "unread": {**COUNT, "description": "The student's unread messages (whatever `unread` asked)."},
        "page": {"type": "integer", "minimum": 1},
        "pages": {"type": "integer", "minimum": 1, "description": f"Pages of {PER_PAGE} (1 when there is none)."},
        "messages": {"type": "array", "items": ref("InboxMessage"), "maxItems": PER_PAGE},
    }
)
STUDENT_ALERT = obj(
    {
        "id": INT,
        "kind": KINDS,
        "status": {"type": "string", "enum": list(ALERT_STATUSES)},
        "suppressed": BOOL,
        "courseCode": STR,
        "courseTitle": STR,
        "rate": DECIMAL,
        "threshold": DECIMAL,
        "heldHours": DECIMAL,
        "absentHours": DECIMAL,
        "excusedHours": DECIMAL,
        "openedAt": TIME,
        "resolvedAt": TIME_OR_NULL,
        **ALERT_TERM_FIELDS,
    }
)
STUDENT_SCHEMAS: dict[str, Schema] = {
    "InboxMessage": MESSAGE,
    "InboxPage": INBOX_PAGE,
    "StudentAlert": STUDENT_ALERT,
    "StudentAlerts": obj({"alerts": {"type": "array", "items": ref("StudentAlert")}}),
}

# fmt: off
MESSAGE_EXAMPLE = {
    "id": 41, "kind": "warning", "courseCode": "CS101", "subject": "Attendance warning: CS101",
    "body": "Dear Ada Lovelace, your attendance in CS101 is 70.00% ...", "language": "en",
    "createdAt": "2026-12-01T22:00:05Z", "readAt": None,
}
STUDENT_ALERT_EXAMPLE = {
    "id": 1, "kind": "warning", "status": "open", "suppressed": False, "courseCode": "CS101",
    "courseTitle": "Programming", "rate": "70.00", "threshold": "80.00", "heldHours": "10.00",
    "absentHours": "3.00", "excusedHours": "0.00", "openedAt": "2026-12-01T22:00:04Z", "resolvedAt": None,
    "termCode": "1405-AUT", "resolvedReason": None, "plannedHours": "64.00", "warningAbsentLimit": "12.8",
    "mahroomAbsentLimit": "16", "hoursLeftBeforeWarning": "9.8", "hoursLeftBeforeMahroom": "13",
    "warningCertain": False, "mahroomCertain": False,
}
# fmt: on

STUDENT = {
    "name": "student_number",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "minLength": 1, "maxLength": 32},
    "example": "S1001",
    "description": "The student's number (an unknown one: 404).",
}
MESSAGE_ID = {
    "name": "message_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
    "example": 41,
    "description": "The message's id (not one of this student's messages: 404).",
}
NOT_FOUND = answer(
    "No student with that number, or (marking read) no such message of theirs.",
    ERROR,
    failure("No student with number 'S9999'."),
)
ERRORS = {"401": shared("Unauthorized"), "403": shared("Forbidden"), "404": NOT_FOUND, "503": shared("Unavailable")}
READER = "any signed-in user (viewer or admin) or a token of scope inbox or admin"
WRITER = "admin (a session needs X-CSRFToken); a token of scope inbox or admin whose user is an admin"


def _inbox_get() -> dict[str, Any]:
    return operation(
        "getStudentInbox",
        f"A page of the student's inbox, {PER_PAGE} messages, newest first, with the unread count.",
        READER,
        READ,
        {
            **ok(ref("InboxPage"), done({"unread": 1, "page": 1, "pages": 1, "messages": [MESSAGE_EXAMPLE]})),
            "400": shared("BadRequest"),
            **ERRORS,
        },
        scope="inbox",
        parameters=[
            STUDENT,
            query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}, "Page, from 1."),
            query("unread", {"type": "integer", "enum": [0, 1], "default": 0}, "1: only the unread messages."),
        ],
    )


def _mark_read() -> dict[str, Any]:
    return operation(
        "markInboxMessageRead",
        "Mark one of the student's messages read; again: 200 with the first read time kept.",
        WRITER,
        WRITE,
        {
            **ok(ref("InboxMessage"), done({**MESSAGE_EXAMPLE, "readAt": "2026-12-02T07:30:00Z"}), "The message."),
            "400": answer(
                "(session calls) a missing or wrong X-CSRFToken.", ERROR, failure("The CSRF token is missing.")
            ),
            **ERRORS,
        },
        scope="inbox",
        parameters=[STUDENT, MESSAGE_ID],
    )


def _alerts_get() -> dict[str, Any]:
    return operation(
        "getStudentAlerts",
        "The student's alerts (open and resolved, suppressed ones too), newest first.",
        READER,
        READ,
        {**ok(ref("StudentAlerts"), done({"alerts": [STUDENT_ALERT_EXAMPLE]})), **ERRORS},
        scope="inbox",
        parameters=[STUDENT],
    )


STUDENT_PATHS = {
    "/api/students/{student_number}/inbox": {"get": _inbox_get()},
    "/api/students/{student_number}/inbox/{message_id}/read": {"post": _mark_read()},
    "/api/students/{student_number}/alerts": {"get": _alerts_get()},
}
