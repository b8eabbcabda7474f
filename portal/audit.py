"""The audit log: who did what, when, and how it ended."""

from __future__ import annotations

from typing import Any

from portal.extensions import db
from portal.models import AuditLog


def record(
    actor: str,
    action: str,
    target: str | None = None,
    *,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    source: str | None = None,
    ip: str | None = None,
    commit: bool = False,
) -> AuditLog:
    """Add an audit entry to the session (committing only when asked) and return it.

    ``source`` is where the action came from: ``page``, ``api``, ``cli`` or ``system``.
    """
    entry = AuditLog(actor=actor, action=action, target=target, outcome=outcome, details=details, source=source, ip=ip)
    db.session.add(entry)
    if commit:
        db.session.commit()
    return entry
