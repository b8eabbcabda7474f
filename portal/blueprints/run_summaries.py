"""A run's summary in words and numbers, for the job pages (the API keeps the JSON)."""

from __future__ import annotations

import re
from typing import Any

# Known summary keys, in the order they read best, with their labels.
LABELS = {
    "totalStudentsChecked": "students checked",
    "alertsResolved": "resolved",
    "notificationsQueued": "notifications queued",
    "batches": "batches",
    "requeued": "deliveries re-enqueued",
    "notificationsRequeued": "fan-outs re-enqueued",
    "students": "students",
    "courses": "courses",
    "archived": "audit entries archived",
    "reason": "reason",
    "servedByRunId": "served by run",
}
SKIPPED = {"executionTime", "timestamp", "async", "alertsOpened", "alertsSuppressed", "errors", "tick", "dryRun"}


def _words(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", key).lower()


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def summary_parts(summary: dict[str, Any] | None) -> list[str]:
    """``["20,000 students checked", "opened 12 warning (3 suppressed), 4 mahroom, 2 tasdiq", ...]``."""
    if not summary:
        return []
    parts: list[str] = []
    if "totalStudentsChecked" in summary:
        parts.append(f"{_number(summary['totalStudentsChecked'])} students checked")
    opened = summary.get("alertsOpened")
    if isinstance(opened, dict):
        suppressed = summary.get("alertsSuppressed") or 0
        warning = f"{_number(opened.get('warning', 0))} warning" + (
            f" ({_number(suppressed)} suppressed)" if suppressed else ""
        )
        parts.append(
            f"opened {warning}, {_number(opened.get('mahroom', 0))} mahroom, {_number(opened.get('tasdiq', 0))} tasdiq"
        )
    for key, value in summary.items():
        if key in SKIPPED or key == "totalStudentsChecked" or isinstance(value, dict | list):
            continue
        label = LABELS.get(key, _words(key))
        parts.append(
            f"{label}: {value}" if key in ("reason", "servedByRunId", "method") else f"{_number(value)} {label}"
        )
    if summary.get("tick"):
        parts.append(f"tick {summary['tick']}")
    if "executionTime" in summary:
        parts.append(f"took {summary['executionTime'] / 1000:.1f} s")
    for error in summary.get("errors") or []:
        parts.append(f"error: {error}")
    return parts
