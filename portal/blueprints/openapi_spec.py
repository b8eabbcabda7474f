"""The JSON API's OpenAPI 3.1 document as data: schemas, examples, info and security schemes.

The operations are in ``portal.blueprints.openapi``, which serves the document.

Every enum, limit and name is read from the code that enforces it (the actions, the job
registry, the filters' allowed values, the record limits), so the document cannot drift
from them; ``tests/test_openapi.py`` checks it covers every ``/api/`` rule of the URL map and
``tests/test_api_contract.py`` runs schemathesis against the real endpoints.
"""

from __future__ import annotations

from typing import Any

from portal.blueprints.admin_api import VALID_ACTIONS
from portal.blueprints.attendance_api import MAX_RECORDS
from portal.blueprints.openapi_fields import ALERT_TERM_FIELDS
from portal.domain.records import ATTENDANCE_FIELDS, ATTENDANCE_STATUSES, MAX_SLOT
from portal.models.alerts import ALERT_KINDS, CHANNELS
from portal.operations.browse import ALERT_STATUSES, DEFAULT_PER_PAGE, MAX_PER_PAGE, RETRY_TABS
from portal.periodic.registry import job_names

Schema = dict[str, Any]
ISO = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
STR, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
COUNT = {"type": "integer", "minimum": 0}
STR_OR_NULL = {"type": ["string", "null"]}
MS_OR_NULL = {"type": ["integer", "null"], "minimum": 0, "description": "Milliseconds."}
SUMMARY = {"type": ["object", "null"], "description": "The last finished run's summary (its keys depend on the job)."}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: list[str] | None = None, **more: Any) -> Schema:
    """A closed object: every property listed (all required unless told), no other."""
    required = list(properties) if required is None else required
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False, **more}


def envelope(data: Schema, message: str | None = None) -> Schema:
    """``{"success": true, "data": ...}``; ``message`` (what an action did) is ``required``, ``optional`` or absent."""
    props = {"success": {"const": True}, "data": data}
    if message:
        props["message"] = STR
    return obj(props, ["success", "data", "message"] if message == "required" else ["success", "data"])


def error(**extra: Schema) -> Schema:
    return obj({"success": {"const": False}, "error": STR, **extra})


JOB_NAMES = job_names()
TIME = {"type": "string", "format": "date-time", "pattern": ISO, "description": "ISO 8601 UTC."}
TIME_OR_NULL = {**TIME, "type": ["string", "null"]}
DECIMAL = {"type": "string", "pattern": r"^[0-9]+\.[0-9]{2}$", "description": "An exact decimal as text."}
KINDS = {"type": "string", "enum": list(ALERT_KINDS)}
BY_KIND = obj({kind: COUNT for kind in ALERT_KINDS})
CODE_TEXT = {"type": "string", "pattern": r"^\s*[A-Za-z0-9][A-Za-z0-9._/-]{0,31}\s*$"}
CODE = {
    "anyOf": [CODE_TEXT, {"type": "integer", "minimum": 0, "maximum": 10**32 - 1}],
    "description": "Letters, digits and . _ / - (at most 32, starting with a letter or digit); "
    "surrounding spaces are ignored and a whole number is read as its digits.",
}

JOB = obj(
    {
        "name": {"type": "string", "enum": JOB_NAMES},
        "description": STR,
        "schedule": {"type": "string", "description": "Cron expression, UTC."},
        "enabled": BOOL,
        "status": {
            "type": "string",
            "enum": ["running", "stopped", "error"],
            "description": "`stopped`: disabled; `error`: its last finished run failed; `running`: enabled and scheduled.",
        },
        "executing": {"type": "boolean", "description": "A run holds the job's execution lock now."},
        "lastRun": TIME_OR_NULL,
        "nextRun": {**TIME_OR_NULL, "description": "ISO 8601 UTC; null while the job is stopped."},
        "lastDuration": MS_OR_NULL,
        "errorMessage": {**STR_OR_NULL, "description": "The last finished run's error, when it failed."},
        "queue": STR,
        "lastOutcome": {"enum": ["queued", "running", "success", "error", "skipped", None]},
        "lastSummary": SUMMARY,
        "missedTicks": {
            "enum": ["once", "skip"],
            "description": "Ticks missed while no scheduler ran: `once` = one catch-up run, `skip` = not run.",
        },
        "lastTickMissed": {"type": "boolean", "description": "Its latest expected tick has no run (grace over)."},
        "pausedBy": {**STR_OR_NULL, "description": "Who stopped it (null while it is not stopped)."},
        "pausedAt": {**TIME_OR_NULL, "description": "When it was stopped, ISO 8601 UTC."},
        "pauseReason": {**STR_OR_NULL, "description": "Why, as given with the stop."},
        "resumeAt": {**TIME_OR_NULL, "description": "When it starts again by itself (null: no end set)."},
        "pausedForSeconds": {"type": ["integer", "null"], "minimum": 0, "description": "How long it has been stopped."},
    }
)
RETRY_SUMMARY = obj(
    {
        "totalPending": {**COUNT, "description": "Deliveries waiting for a retry (pending, at least one attempt)."},
        "byType": {**BY_KIND, "additionalProperties": COUNT},
        "byAttempts": {
            "type": "object",
            "propertyNames": {"pattern": "^[0-9]+$"},
            "additionalProperties": {"type": "integer", "minimum": 1},
            "description": "Waiting deliveries by attempts made (keys are the attempt counts as text).",
        },
        "grid": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "propertyNames": {"pattern": "^[0-9]+$"},
                "additionalProperties": {"type": "integer", "minimum": 1},
            },
            "description": 'Waiting deliveries by alert kind, then attempts made: `grid.warning["2"]`.',
        },
        "dead": {**COUNT, "description": "Deliveries that gave up (dead), visible for a manual retry."},
    }
)
MONITOR = obj(
    {
        "enabled": BOOL,
        "status": JOB["properties"]["status"],
        "executing": BOOL,
        "lastRun": TIME_OR_NULL,
        "nextRun": TIME_OR_NULL,
        "lastSummary": SUMMARY,
        "batchSize": {"type": "integer", "minimum": 1, "description": "SCAN_BATCH_SIZE: students per scan batch."},
        "thresholds": obj({kind: {"type": "string", "description": "Percent, as text."} for kind in ALERT_KINDS}),
    }
)
OVERVIEW = obj(
    {
        "totalJobs": COUNT,
        "runningJobs": COUNT,
        "stoppedJobs": COUNT,
        "errorJobs": COUNT,
        "systemHealth": {
            "type": "string",
            "enum": ["healthy", "degraded", "critical"],
            "description": "`critical`: Redis or the database unreachable, or half the jobs or more in error; "
            "`degraded`: a job in error, every job stopped, no live RQ worker or no scheduler heartbeat.",
        },
        "jobs": {"type": "array", "items": ref("Job")},
        "thresholdMonitor": MONITOR,
        "retryQueue": ref("RetryQueueSummary"),
        "serviceInitialized": {"type": "boolean", "description": "A scheduler process is alive."},
    }
)
CHECK_SUMMARY = obj(
    {
        "totalStudentsChecked": COUNT,
        "alertsOpened": BY_KIND,
        "alertsSuppressed": COUNT,
        "alertsResolved": COUNT,
        "notificationsQueued": COUNT,
        "executionTime": {**COUNT, "description": "Milliseconds."},
        "timestamp": TIME,
        "errors": {"type": "array", "items": STR, "description": "One entry per failed batch (rolled back)."},
        "dryRun": {"const": True, "description": "Present on a dry run: nothing was written or sent."},
        "wouldOpen": {
            "type": "array",
            "items": obj({"studentNumber": STR, "courseCode": STR, "kind": KINDS, "rate": DECIMAL, "suppressed": BOOL}),
            "description": "Dry run: the alerts that would open (at most `listedAtMost`).",
        },
        "wouldResolve": {
            "type": "array",
            "items": obj({"studentNumber": STR, "courseCode": STR, "kind": KINDS, "rate": DECIMAL}),
            "description": "Dry run: the alerts that would resolve (at most `listedAtMost`).",
        },
        "listedAtMost": COUNT,
    },
    required=[
        "totalStudentsChecked",
        "alertsOpened",
        "alertsSuppressed",
        "alertsResolved",
        "notificationsQueued",
        "executionTime",
        "timestamp",
        "errors",
    ],
)
ALERT = obj(
    {
        "id": INT,
        "studentNumber": STR,
        "studentName": STR,
        "courseCode": STR,
        "kind": KINDS,
        "status": {"type": "string", "enum": list(ALERT_STATUSES)},
        "suppressed": BOOL,
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
DELIVERY = obj(
    {
        "id": INT,
        "notificationId": INT,
        "kind": KINDS,
        "channel": {"type": "string", "enum": list(CHANNELS)},
        "recipient": STR,
        "status": {"type": "string", "enum": list(RETRY_TABS)},
        "attempts": COUNT,
        "nextAttemptAt": TIME_OR_NULL,
        "lastAttemptAt": TIME_OR_NULL,
        "lastError": STR_OR_NULL,
        "sentAt": TIME_OR_NULL,
        "createdAt": TIME,
        "studentNumber": STR,
        "courseCode": STR,
    }
)


def page_of(item: str, **extra: Schema) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "page": {"type": "integer", "minimum": 1},
            "perPage": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
            "total": COUNT,
            "pages": {**COUNT, "description": "Number of pages (0 or 1 when there is nothing)."},
            **extra,
        }
    )


RECORD = obj(
    {
        "student_number": CODE,
        "course_code": CODE,
        "date": {
            "type": "string",
            "format": "date",
            "description": "YYYY-MM-DD, not after today (UNIVERSITY_TIMEZONE).",
        },
        "slot": {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_SLOT},
                {"type": "string", "pattern": r"^\s*[0-9]+\s*$"},
            ],
            "description": f"The session's slot that day, 1 to {MAX_SLOT} (digits as text are read too).",
        },
        "hours": {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": 24, "multipleOf": 0.01},
                {"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*$"},
            ],
            "description": "More than 0 and at most 24, at most 2 decimal places (a number or decimal text).",
        },
        "status": {
            "type": "string",
            "enum": list(ATTENDANCE_STATUSES),
            "description": "Read case-insensitively; `sick` and `leave` are excused absences.",
        },
    },
    list(ATTENDANCE_FIELDS),
)
PROBLEMS = {
    "type": "array",
    "items": obj({"index": COUNT, "errors": {"type": "array", "items": STR, "minItems": 1}}),
    "description": "Each refused record: its index in the list and every reason.",
}

SCHEMAS: dict[str, Schema] = {
    "Error": error(),
    "ActionError": error(validActions={"type": "array", "items": {"type": "string", "enum": list(VALID_ACTIONS)}}),
    "RecordsError": error(problems=PROBLEMS),
    "Job": JOB,
    "JobName": {"type": "string", "enum": JOB_NAMES, "description": "A job of the registry (an unknown one: 404)."},
    "RetryQueueSummary": RETRY_SUMMARY,
    "Overview": OVERVIEW,
    "TriggeredRun": obj({"runId": INT, "jobName": ref("JobName"), "status": {"const": "queued"}}),
    "Cleared": obj({"cleared": {**COUNT, "description": "Deliveries cancelled."}}),
    "ThresholdCheckSummary": CHECK_SUMMARY,
    "Alert": ALERT,
    "AlertPage": page_of("Alert"),
    "Delivery": DELIVERY,
    "RetryQueuePage": page_of("Delivery", summary=ref("RetryQueueSummary")),
    "AttendanceRecord": RECORD,
    "Records": {"type": "array", "items": ref("AttendanceRecord"), "minItems": 1, "maxItems": MAX_RECORDS},
    "Saved": obj({"saved": {**COUNT, "description": "Records written."}, "pairs": COUNT}),
    "Check": obj({"ok": BOOL, "error": STR}, ["ok"]),
    "MigrationCheck": obj(
        {
            "ok": BOOL,
            "current": {"type": "array", "items": STR},
            "expected": {"type": "array", "items": STR},
            "error": STR,
        },
        ["ok", "current", "expected"],
    ),
    "Health": obj({"status": {"const": "ok"}}),
    "Readiness": obj(
        {
            "status": {"type": "string", "enum": ["ready", "not ready"]},
            "failing": {"type": "array", "items": {"type": "string", "enum": ["database", "redis", "migrations"]}},
            "checks": obj({"database": ref("Check"), "redis": ref("Check"), "migrations": ref("MigrationCheck")}),
        }
    ),
}

INFO = {
    "title": "Attendance monitoring: JSON API",
    "version": "1",
    "description": (
        'Every answer is JSON: `{"success": true, "data": ...}` (some actions add `message`) or '
        '`{"success": false, "error": "..."}` (some errors add `validActions` or `problems`). Times are '
        "ISO 8601 UTC (`2026-12-01T22:45:18Z`), durations milliseconds, rates and hours exact decimals as "
        "text.\n\nAuthentication: a bearer token (`flask --app wsgi tokens create --user NAME` prints it once) "
        "or the portal's session cookie; a session call with an unsafe method also sends `X-CSRFToken` (the "
        "page's `csrf-token` meta tag). A token acts with its user's role (`viewer` may read, `admin` may also "
        "act) within its scope (`x-token-scopes` of each operation): `admin` reaches every endpoint, `inbox` the "
        "`/api/students` endpoints, `attendance` `POST /api/attendance`; elsewhere 403 names the scope needed. "
        "A revoked or expired token gets 401 saying so. Sessions have no scope.\n\nEvery path answers 405 (with `Allow`) to a method it does not list; the endpoints that read a "
        "body answer 413 to one larger than MAX_CONTENT_LENGTH (default 5 MiB); the `/api/admin`, `/api/students` and "
        "`/api/attendance` endpoints answer 503 when the database is unreachable. Answers are sent with "
        "`Cache-Control: no-store`. Refused requests change nothing."
    ),
}
SECURITY_SCHEMES = {
    "bearerToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`att_...`) from `flask --app wsgi tokens create --user NAME "
        "[--scope admin|inbox|attendance] [--expires-in-days N] [--name LABEL]`; it acts with that user's role "
        "within its scope, until it expires or is revoked (`flask --app wsgi tokens revoke ID`). Needs no CSRF token.",
    },
    "sessionCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "The portal's session after signing in at `/login` (a viewer or an admin).",
    },
    "csrfToken": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRFToken",
        "description": "With the session cookie, POST and PUT need the page's `csrf-token` meta tag here (else 400).",
    },
    "metricsToken": {"type": "http", "scheme": "bearer", "description": "METRICS_TOKEN, when it is set."},
}


def page_example(item: dict) -> dict:
    return {"items": [item], "page": 1, "perPage": DEFAULT_PER_PAGE, "total": 1, "pages": 1}


def done(data: Any, message: str | None = None) -> dict[str, Any]:
    """An example success answer."""
    return {"success": True, "data": data, **({"message": message} if message else {})}
