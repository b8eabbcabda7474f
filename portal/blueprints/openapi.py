"""``GET /api/openapi.json``: the OpenAPI 3.1 document of the JSON API (public, read-only).

The schemas, examples and security schemes are in ``portal.blueprints.openapi_spec``; here are
the operations and the shared error answers. ``docs/api.md`` is the same contract in prose.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, jsonify

from portal.blueprints.admin_api import ACTIONS_NEEDING_JOB, VALID_ACTIONS
from portal.blueprints.attendance_api import MAX_RECORDS
from portal.blueprints.openapi_build import (
    ACTION_ERROR,
    ERROR,
    READ,
    RECORDS_ERROR,
    WRITE,
    answer,
    body,
    choice,
    failure,
    ok,
    operation,
    query,
    shared,
)
from portal.blueprints.openapi_examples import (
    ALERT_EXAMPLE,
    DELIVERY_EXAMPLE,
    JOB_EXAMPLE,
    NOT_READY_EXAMPLE,
    OVERVIEW_EXAMPLE,
    RECORD_EXAMPLE,
    RETRY_EXAMPLE,
)
from portal.blueprints.openapi_fields import PAUSE
from portal.blueprints.openapi_queues import QUEUE_PATHS
from portal.blueprints.openapi_spec import (
    INFO,
    SCHEMAS,
    SECURITY_SCHEMES,
    done,
    envelope,
    page_example,
    ref,
)
from portal.blueprints.openapi_students import STUDENT_PATHS, STUDENT_SCHEMAS
from portal.domain.records import ATTENDANCE_STATUSES
from portal.models.alerts import ALERT_KINDS, CHANNELS
from portal.operations.browse import ALERT_STATUSES, DEFAULT_PER_PAGE, MAX_PER_PAGE, RETRY_TABS

bp = Blueprint("openapi", __name__)


def examples(description: str, values: dict[str, Any]) -> dict[str, Any]:
    """An error answer with several named examples."""
    return {
        "description": description,
        "content": {"application/json": {"schema": ERROR, "examples": {k: {"value": v} for k, v in values.items()}}},
    }


NEEDS_ADMIN = "User 'watcher' has the 'viewer' role; this action needs 'admin'."
RESPONSES = {
    "BadRequest": answer(
        "A bad page or filter value (the message names it).",
        ERROR,
        failure("'page' must be at least 1, got 0."),
    ),
    "Unauthorized": examples(
        "No valid credentials: none, an unknown token, or a token that was revoked or has expired "
        "(the message says which, with the time).",
        {
            "missing": failure("Authentication required: sign in or send 'Authorization: Bearer <token>'."),
            "revoked": failure("This API token was revoked at 2026-12-01T22:45:18Z; ask for a new one."),
            "expired": failure("This API token expired at 2026-12-31T00:00:00Z; ask for a new one."),
        },
    ),
    "Forbidden": examples(
        "The token's scope does not reach this endpoint (the message names the scope needed), or the "
        "user's role is `viewer` and this needs `admin`.",
        {
            "role": failure(NEEDS_ADMIN),
            "scope": failure(
                "This token has the 'inbox' scope; GET /api/admin/alerts needs a token with the 'admin' scope."
            ),
        },
    ),
    "UnknownJob": answer(
        "No job has that name.",
        ERROR,
        failure("No job named 'nope'; jobs are: " + ", ".join(SCHEMAS["JobName"]["enum"]) + "."),
    ),
    "MethodNotAllowed": {
        **answer(
            "The path does not take this method.", ERROR, failure("The method is not allowed for the requested URL.")
        ),
        "headers": {"Allow": {"schema": {"type": "string"}, "description": "The methods the path takes."}},
    },
    "TooLarge": answer(
        "The body is over MAX_CONTENT_LENGTH (default 5 MiB), or more records than allowed.",
        ERROR,
        failure("The request body is larger than the 5,242,880 bytes allowed (MAX_CONTENT_LENGTH)."),
    ),
    "NotJson": answer(
        "The body is not sent as JSON.", ERROR, failure("Send a JSON body (Content-Type: application/json).")
    ),
    "Unavailable": answer(
        "The database (or Redis) is unreachable.", ERROR, failure("The database is not reachable (check DATABASE_URL).")
    ),
}
READ_ERRORS = {"401": shared("Unauthorized"), "503": shared("Unavailable")}
BODY_ERRORS = {"413": shared("TooLarge"), "415": shared("NotJson"), **READ_ERRORS}


PAGING = [
    query("page", {"type": "integer", "minimum": 1, "default": 1}, "Page number (from 1); past the last: no items."),
    query(
        "perPage",
        {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE},
        f"Items per page, 1 to {MAX_PER_PAGE}. `per_page` is read instead when `perPage` is absent.",
    ),
]
ACTION_EXAMPLES = {
    "getJobStatus": {"value": {"action": "getJobStatus", "jobName": "cache-refresh"}},
    "trigger": {"value": {"action": "trigger", "jobName": "cache-refresh"}},
    "stopAll": {"value": {"action": "stopAll"}},
    "dryRun": {"value": {"action": "runThresholdCheck", "dryRun": True}},
    "stop": {
        "value": {
            "action": "stop",
            "jobName": "cache-refresh",
            "reason": "Redis upgrade",
            "until": "2026-12-24T01:30:00Z",
        }
    },
}
JOB_ACTION = {
    "oneOf": [
        {
            "type": "object",
            "properties": {"action": choice(ACTIONS_NEEDING_JOB), "jobName": ref("JobName"), **PAUSE},
            "required": ["action", "jobName"],
        },
        {
            "type": "object",
            "properties": {
                "action": choice(tuple(a for a in VALID_ACTIONS if a not in ACTIONS_NEEDING_JOB)),
                **PAUSE,
                "dryRun": {
                    "type": "boolean",
                    "default": False,
                    "description": "runThresholdCheck: roll every batch back and list who would change.",
                },
            },
            "required": ["action"],
        },
    ],
    "description": "`jobName` is needed by " + ", ".join(ACTIONS_NEEDING_JOB) + " (ignored by the others).",
}
ACTION_RESULT = {
    "oneOf": [ref("Job"), {"type": "array", "items": ref("Job")}, ref("Cleared"), ref("ThresholdCheckSummary")]
}


ANYONE, ADMIN, OPEN = "any signed-in user or token (viewer or admin)", "admin", "anyone (no credentials)"
JOBS_PATH = {
    "get": operation(
        "getBackgroundJobs",
        "Every job's status, the threshold monitor, the retry queue and the system health.",
        ANYONE,
        READ,
        {**ok(ref("Overview"), done(OVERVIEW_EXAMPLE)), **READ_ERRORS},
    ),
    "post": operation(
        "runBackgroundJobAction",
        "Run one action on the jobs (`getJobStatus` for anyone; the others need admin).",
        "admin; `getJobStatus`: any signed-in user or token",
        WRITE,
        {
            **ok(
                ACTION_RESULT,
                done(JOB_EXAMPLE),
                "The job's status (start, stop, getJobStatus), every job's status (startAll, stopAll), "
                "`{cleared}` (clearRetryQueue) or the check's summary (runThresholdCheck); each action but "
                "getJobStatus and runThresholdCheck adds `message`.",
                message="optional",
            ),
            "202": answer(
                "trigger: a run is queued now (even for a stopped job).",
                envelope(ref("TriggeredRun"), "required"),
                done({"runId": 1, "jobName": "cache-refresh", "status": "queued"}, "Triggered cache-refresh."),
            ),
            "400": answer(
                "Missing or unknown `action` (with `validActions`), missing `jobName`, not a JSON object, not JSON, "
                "or (session calls) a missing or wrong X-CSRFToken.",
                {"oneOf": [ERROR, ACTION_ERROR]},
                {**failure("Unknown action 'x'."), "validActions": list(VALID_ACTIONS)},
            ),
            "403": shared("Forbidden"),
            "404": shared("UnknownJob"),
            **BODY_ERRORS,
        },
        requestBody=body(JOB_ACTION, examples=ACTION_EXAMPLES),
    ),
    "put": operation(
        "setBackgroundJobEnabled",
        "Enable (start) or disable (stop) one job.",
        ADMIN,
        WRITE,
        {
            **ok(ref("Job"), done(JOB_EXAMPLE, "Enabled cache-refresh."), "The job's new status.", "required"),
            "400": answer(
                "`enabled` missing or not a boolean, `jobName` missing, not a JSON object, not JSON, "
                "or (session calls) a missing or wrong X-CSRFToken.",
                ERROR,
                failure("'enabled' is required and must be true or false."),
            ),
            "403": shared("Forbidden"),
            "404": shared("UnknownJob"),
            **BODY_ERRORS,
        },
        requestBody=body(
            {
                "type": "object",
                "properties": {"jobName": ref("JobName"), "enabled": {"type": "boolean"}},
                "required": ["jobName", "enabled"],
            },
            example={"jobName": "cache-refresh", "enabled": False},
        ),
    ),
}
ALERT_FILTERS = [
    query("status", choice(ALERT_STATUSES), "Only open or only resolved alerts."),
    query("kind", choice(ALERT_KINDS), "Only alerts of this kind."),
    query("course", {"type": "string"}, "Only this course code (exact; spaces around are ignored)."),
    query("student", {"type": "string"}, "Only this student number (exact; spaces around are ignored)."),
]
RETRY_FILTERS = [
    query(
        "status",
        {**choice(RETRY_TABS), "default": "pending"},
        "`pending`: waiting for a retry (the retry queue); `dead`: given up.",
    ),
    query("type", choice(ALERT_KINDS), "Only deliveries of this alert kind."),
    query("attempts", {"type": "integer", "minimum": 0, "maximum": 100}, "Only deliveries with this many attempts."),
    query("channel", choice(CHANNELS), "Only deliveries on this channel."),
]
READ_LIST_ERRORS = {"400": shared("BadRequest"), **READ_ERRORS}
STATUSES = ", ".join(ATTENDANCE_STATUSES)
PATHS = {
    **STUDENT_PATHS,
    **QUEUE_PATHS,
    "/api/admin/background-jobs": JOBS_PATH,
    "/api/admin/alerts": {
        "get": operation(
            "listAlerts",
            "Alerts, newest first, a page at a time.",
            ANYONE,
            READ,
            {**ok(ref("AlertPage"), done(page_example(ALERT_EXAMPLE))), **READ_LIST_ERRORS},
            parameters=PAGING + ALERT_FILTERS,
        )
    },
    "/api/admin/retry-queue": {
        "get": operation(
            "listRetryQueue",
            "The retry queue's (or the dead) deliveries, newest first, with the queue's summary.",
            ANYONE,
            READ,
            {
                **ok(ref("RetryQueuePage"), done({**page_example(DELIVERY_EXAMPLE), "summary": RETRY_EXAMPLE})),
                **READ_LIST_ERRORS,
            },
            parameters=PAGING + RETRY_FILTERS,
        )
    },
    "/api/attendance": {
        "post": operation(
            "saveAttendance",
            "Save attendance records: every one is checked, then all are written or none.",
            ADMIN,
            WRITE,
            {
                **ok(
                    ref("Saved"), done({"saved": 1, "pairs": 1}), "Saved; the students' checks are queued.", None, "201"
                ),
                "400": answer(
                    "Not a list (nor `{records: [...]}`), an empty list, or invalid records (`problems`: each "
                    f"record's index and reasons: a bad field, an unknown field, a status not one of {STATUSES}, "
                    "a future date, a duplicate, an unknown student or course); or (session calls) a missing or "
                    "wrong X-CSRFToken.",
                    {"oneOf": [ERROR, RECORDS_ERROR]},
                    {
                        **failure("Some records are invalid; nothing was saved."),
                        "problems": [{"index": 0, "errors": ["unknown student 'S9'"]}],
                    },
                ),
                "403": shared("Forbidden"),
                **BODY_ERRORS,
            },
            scope="attendance",
            description=f'A JSON list of 1 to {MAX_RECORDS} records, or `{{"records": [...]}}`; more: 413.',
            requestBody=body(
                {
                    "oneOf": [
                        ref("Records"),
                        {"type": "object", "properties": {"records": ref("Records")}, "required": ["records"]},
                    ]
                },
                example=[RECORD_EXAMPLE],
            ),
        )
    },
    "/api/openapi.json": {
        "get": operation(
            "getOpenApiDocument",
            "This document.",
            OPEN,
            [],
            {"200": answer("The OpenAPI 3.1 document.", {"type": "object", "required": ["openapi", "info", "paths"]})},
        )
    },
    "/healthz": {
        "get": operation(
            "liveness",
            "Liveness: the process answers (touches neither the database nor Redis).",
            OPEN,
            [],
            {"200": answer("Alive.", ref("Health"), {"status": "ok"})},
        )
    },
    "/readyz": {
        "get": operation(
            "readiness",
            "Readiness: the database and Redis answer and the schema is at the newest migration.",
            OPEN,
            [],
            {
                "200": answer("Ready.", ref("Readiness")),
                "503": answer(
                    "Not ready: `failing` names the checks that failed.",
                    ref("Readiness"),
                    NOT_READY_EXAMPLE,
                ),
            },
        )
    },
    "/metrics": {
        "get": operation(
            "metrics",
            "Prometheus metrics, computed now from the database and Redis.",
            "with METRICS_TOKEN set: that bearer token; otherwise clients in METRICS_ALLOW_NETWORKS "
            "(default 127.0.0.1/32 and ::1/128), every X-Forwarded-For hop included",
            [{}, {"metricsToken": []}],
            {
                "200": answer("Prometheus text format.", {"type": "string"}, media="text/plain"),
                "401": {
                    **answer(
                        "METRICS_TOKEN is set and was not sent (or another token was).",
                        ERROR,
                        failure("Send 'Authorization: Bearer <METRICS_TOKEN>'."),
                    ),
                    "headers": {"WWW-Authenticate": {"schema": {"const": 'Bearer realm="metrics"'}}},
                },
                "403": answer(
                    "Not from an allowed network.", ERROR, failure("Metrics are not served to this address.")
                ),
            },
        )
    },
}


def document() -> dict[str, Any]:
    """Return the whole OpenAPI document (a fresh copy the caller may change)."""
    components = {
        "schemas": {**SCHEMAS, **STUDENT_SCHEMAS},
        "responses": RESPONSES,
        "securitySchemes": SECURITY_SCHEMES,
    }
    return copy.deepcopy({"openapi": "3.1.0", "info": INFO, "paths": PATHS, "components": components})


@bp.get("/api/openapi.json")
def openapi_document():
    """The document, as JSON; it needs no sign-in and shows no secret."""
    return jsonify(document())
