"""Status, kind and outcome words in the page's language, one catalog lookup per word shown.

The words are marked with ``N_`` for ``pybabel extract`` and translated when shown, so each
request gets its own language. (A Jinja macro that built the whole table per call made ~60
lookups for every badge: 80,000 for one student's page, 250 ms of its time.)
"""

from __future__ import annotations

from flask_babel import gettext


def N_(message: str) -> str:
    """Mark ``message`` for extraction without translating it (translated when shown)."""
    return message


STATUS_WORDS = {
    "enabled": N_("enabled"), "stopped": N_("stopped"), "error": N_("error"), "running": N_("running"),
    "paused": N_("paused"), "queued": N_("queued"), "success": N_("success"), "skipped": N_("skipped"),
    "done": N_("done"), "failure": N_("failure"), "throttled": N_("throttled"),
    "pending": N_("pending"), "sent": N_("sent"), "dead": N_("dead"), "cancelled": N_("cancelled"),
    "warning": N_("warning"), "mahroom": N_("mahroom"), "tasdiq": N_("tasdiq"),
    "open": N_("open"), "resolved": N_("resolved"),
    "healthy": N_("healthy"), "degraded": N_("degraded"), "critical": N_("critical"),
    "present": N_("present"), "late": N_("late"), "absent": N_("absent"), "sick": N_("sick"), "leave": N_("leave"),
    "admin": N_("admin"), "viewer": N_("viewer"),
    "inbox": N_("inbox"), "email": N_("email"), "webhook": N_("webhook"),
    "attendance": N_("attendance"), "scheduled": N_("scheduled"), "manual": N_("manual"), "catch-up": N_("catch-up"),
    "missed": N_("missed"), "caught-up": N_("caught up"), "on-time": N_("on time"), "due": N_("due"),
    "idle": N_("idle"), "busy": N_("busy"),
    "student": N_("student"), "guardian": N_("guardian"),
    "active": N_("active"), "revoked": N_("revoked"), "expired": N_("expired"),
    "new": N_("new"), "acknowledged": N_("acknowledged"), "assigned": N_("assigned"), "handled": N_("handled"),
    "contacted": N_("contacted"), "certificate": N_("certificate"), "appeal": N_("appeal"), "other": N_("other"),
    "checking": N_("checking"), "writing": N_("writing"), "refused": N_("refused"), "failed": N_("failed"),
    "students": N_("students"), "courses": N_("courses"), "terms": N_("terms"),
    "offerings": N_("offerings"), "withdrawals": N_("withdrawals"),
}  # fmt: skip


def status_word(status) -> str:
    """Return ``status`` in the page's language; a word not listed is shown as it is."""
    message = STATUS_WORDS.get(status)
    return gettext(message) if message else status
