"""Field schemas shared by the OpenAPI document's parts: an alert's term and forecast, the
job actions' pause fields."""

from __future__ import annotations

from typing import Any

EXACT_HOURS_OR_NULL = {
    "type": ["string", "null"],
    "pattern": r"^[0-9]+(\.[0-9]+)?$",
    "description": "Exact hours as text (not rounded); null without planned hours for the term's course.",
}
BOOL_OR_NULL = {"type": ["boolean", "null"]}
# An alert's term and forecast (portal.alerts.outlook.AlertOutlook.fields).
ALERT_TERM_FIELDS: dict[str, dict[str, Any]] = {
    "termCode": {"type": ["string", "null"], "description": "null: recorded before any term was defined."},
    "resolvedReason": {
        "type": ["string", "null"],
        "enum": ["inactive", "withdrawn", None],
        "description": "Closed without a notification: `inactive`, the student left; `withdrawn`, the student "
        "withdrew from the course in that term; null otherwise.",
    },
    "plannedHours": EXACT_HOURS_OR_NULL,
    "warningAbsentLimit": EXACT_HOURS_OR_NULL,
    "mahroomAbsentLimit": EXACT_HOURS_OR_NULL,
    "hoursLeftBeforeWarning": EXACT_HOURS_OR_NULL,
    "hoursLeftBeforeMahroom": EXACT_HOURS_OR_NULL,
    "warningCertain": BOOL_OR_NULL,
    "mahroomCertain": BOOL_OR_NULL,
}

PAUSE = {
    "reason": {
        "type": ["string", "null"],
        "maxLength": 500,
        "description": "stop, stopAll: why (shown with the job's status); null or absent: none given.",
    },
    "until": {
        "type": ["string", "null"],
        "format": "date-time",
        "description": "stop, stopAll: when the job starts again by itself (ISO 8601 with `Z` or an offset). "
        "Must be in the future; null or absent: no end.",
    },
}
