"""The office's follow-up of an alert: acknowledge, assign, note, close as handled, reopen.

Every step is one transaction: the case row (or the note) and its audit entry commit together,
and a refused step writes nothing (not even the empty case row it would have created). Two
admins acting on one case at once are serialised on the case row: it is created with INSERT ...
ON CONFLICT DO NOTHING, then read FOR UPDATE (PostgreSQL; SQLite's single writer serialises the
same way), so the second step sees the first one's result, and is refused or applied on top of
it, never lost.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from portal import audit
from portal.clock import utcnow
from portal.extensions import db
from portal.models import Alert, AlertCase, AlertNote, User
from portal.models.cases import CASE_OUTCOMES, NOTE_MAX_CHARS
from portal.storage.upsert import insert_ignore


class CaseError(ValueError):
    """A follow-up step was refused; the message says why. ``field`` names the input at fault."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


class NoSuchAlert(LookupError):
    """No alert has that id."""


def _locked_case(alert_id: int) -> AlertCase:
    """Return the alert's case row, created when missing, locked until the transaction ends."""
    if db.session.get(Alert, alert_id) is None:
        raise NoSuchAlert(f"No alert has the id {alert_id}.")
    insert_ignore(db.session, AlertCase, [{"alert_id": alert_id, "updated_at": utcnow()}], ["alert_id"])
    return db.session.execute(
        select(AlertCase)
        .where(AlertCase.alert_id == alert_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _refuse(message: str, field: str | None = None):
    db.session.rollback()
    raise CaseError(message, field)


def _commit_step(actor: User, action: str, alert_id: int, details: dict[str, Any], source: str, ip: str | None):
    audit.record(actor.username, action, f"alert {alert_id}", details=details, source=source, ip=ip)
    db.session.commit()


def _username(user_id: int | None) -> str | None:
    return None if user_id is None else db.session.get(User, user_id).username


def acknowledge(alert_id: int, actor: User, *, source: str = "page", ip: str | None = None) -> AlertCase:
    """Mark the case as seen by ``actor``; refused when it is already acknowledged or handled."""
    case = _locked_case(alert_id)
    if case.handled_at is not None:
        _refuse(f"Alert {alert_id} is already handled ({case.outcome}); reopen it first.")
    if case.acknowledged_at is not None:
        _refuse(f"Alert {alert_id} was already acknowledged by {_username(case.acknowledged_by_id)}.")
    case.acknowledged_at, case.acknowledged_by_id = utcnow(), actor.id
    _commit_step(actor, "case.acknowledge", alert_id, {}, source, ip)
    return case


def assignable_users() -> list[User]:
    """Return the active users a case may be assigned to, by username."""
    return list(db.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)))


def assign(alert_id: int, username: str, actor: User, *, source: str = "page", ip: str | None = None) -> AlertCase:
    """Give the case to the active user ``username`` (acknowledging it too when nobody had)."""
    name = (username or "").strip()
    assignee = db.session.scalar(select(User).where(User.username == name, User.active.is_(True))) if name else None
    if assignee is None:
        message = f"No active user is called {name[:64]!r}." if name else "Choose the user to assign the case to."
        raise CaseError(message, "assignee")
    case = _locked_case(alert_id)
    if case.handled_at is not None:
        _refuse(f"Alert {alert_id} is already handled ({case.outcome}); reopen it first.")
    if case.assigned_to_id == assignee.id:
        _refuse(f"Alert {alert_id} is already assigned to {assignee.username}.", "assignee")
    now = utcnow()
    previous = _username(case.assigned_to_id)
    if case.acknowledged_at is None:
        case.acknowledged_at, case.acknowledged_by_id = now, actor.id
    case.assigned_to_id, case.assigned_at, case.assigned_by_id = assignee.id, now, actor.id
    _commit_step(actor, "case.assign", alert_id, {"assignee": assignee.username, "previous": previous}, source, ip)
    return case


def add_note(alert_id: int, body: str, actor: User, *, source: str = "page", ip: str | None = None) -> AlertNote:
    """Write a note on the case: 1 to ``NOTE_MAX_CHARS`` characters once trimmed."""
    text = (body or "").strip()
    if not text:
        raise CaseError("A note cannot be empty.", "body")
    if len(text) > NOTE_MAX_CHARS:
        raise CaseError(f"A note holds at most {NOTE_MAX_CHARS} characters; this one has {len(text)}.", "body")
    _locked_case(alert_id)  # every note has its case row: the pages read both in one statement
    note = AlertNote(alert_id=alert_id, author_id=actor.id, body=text, created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    _commit_step(actor, "case.note", alert_id, {"note": note.id, "chars": len(text)}, source, ip)
    return note


def handle(alert_id: int, outcome: str, actor: User, *, source: str = "page", ip: str | None = None) -> AlertCase:
    """Close the case as handled with ``outcome`` (one of ``CASE_OUTCOMES``); refused when already handled.

    The alert's own status does not change: a handled mahroom alert stays open while the
    student's rate is at or under the threshold."""
    if outcome not in CASE_OUTCOMES:
        raise CaseError(f"The outcome must be one of {', '.join(CASE_OUTCOMES)}; got {str(outcome)[:20]!r}.", "outcome")
    case = _locked_case(alert_id)
    if case.handled_at is not None:
        _refuse(f"Alert {alert_id} was already handled by {_username(case.handled_by_id)} ({case.outcome}).", "outcome")
    now = utcnow()
    if case.acknowledged_at is None:
        case.acknowledged_at, case.acknowledged_by_id = now, actor.id
    case.handled_at, case.handled_by_id, case.outcome = now, actor.id, outcome
    _commit_step(actor, "case.handle", alert_id, {"outcome": outcome}, source, ip)
    return case


def reopen(alert_id: int, actor: User, *, source: str = "page", ip: str | None = None) -> AlertCase:
    """Take a handled case back to follow-up (its earlier outcome stays in the audit log)."""
    case = _locked_case(alert_id)
    if case.handled_at is None:
        _refuse(f"Alert {alert_id} is not handled: there is nothing to reopen.")
    previous = {"outcome": case.outcome, "handledBy": _username(case.handled_by_id)}
    case.handled_at, case.handled_by_id, case.outcome = None, None, None
    _commit_step(actor, "case.reopen", alert_id, previous, source, ip)
    return case
