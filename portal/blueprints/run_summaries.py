"""A run's summary in words and numbers, for the job pages (the API keeps the JSON)."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

# Known summary keys, in the order they read best, with their labels.
LABELS = {
    "totalStudentsChecked": lazy_gettext("students checked"),
    "alertsResolved": lazy_gettext("resolved"),
    "notificationsQueued": lazy_gettext("notifications queued"),
    "batches": lazy_gettext("batches"),
    "requeued": lazy_gettext("deliveries re-enqueued"),
    "notificationsRequeued": lazy_gettext("fan-outs re-enqueued"),
    "students": lazy_gettext("students"),
    "courses": lazy_gettext("courses"),
    "archived": lazy_gettext("audit entries archived"),
    "reason": lazy_gettext("reason"),
    "servedByRunId": lazy_gettext("served by run"),
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
        parts.append(_("%(count)s students checked", count=_number(summary["totalStudentsChecked"])))
    opened = summary.get("alertsOpened")
    if isinstance(opened, dict):
        suppressed = summary.get("alertsSuppressed") or 0
        counts = {key: _number(opened.get(key, 0)) for key in ("warning", "mahroom", "tasdiq")}
        if suppressed:
            text = _(
                "opened %(warning)s warning (%(suppressed)s suppressed), %(mahroom)s mahroom, %(tasdiq)s tasdiq",
                suppressed=_number(suppressed),
                **counts,
            )
        else:
            text = _("opened %(warning)s warning, %(mahroom)s mahroom, %(tasdiq)s tasdiq", **counts)
        parts.append(text)
    for key, value in summary.items():
        if key in SKIPPED or key == "totalStudentsChecked" or isinstance(value, dict | list):
            continue
        label = LABELS.get(key, _words(key))
        parts.append(
            f"{label}: {value}" if key in ("reason", "servedByRunId", "method") else f"{_number(value)} {label}"
        )
    if summary.get("tick"):
        parts.append(_("tick %(tick)s", tick=summary["tick"]))
    if "executionTime" in summary:
        parts.append(_("took %(seconds).1f s", seconds=summary["executionTime"] / 1000))
    for error in summary.get("errors") or []:
        parts.append(_("error: %(error)s", error=error))
    return parts
