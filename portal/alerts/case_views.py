"""How the pages and exports show a case: its state in a word, and its steps in order.

Read for many alerts at once in one statement whatever their number: the cases with their
users' names and their notes (a note always has its case row: portal/alerts/cases.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import aliased

from portal.extensions import db
from portal.models import AlertCase, AlertNote, User

CASE_STATES = ("new", "acknowledged", "assigned", "handled")


@dataclass
class CaseStep:
    """One thing that happened to a case: ``what`` is acknowledged, assigned, handled or note."""

    at: datetime
    what: str
    by: str | None
    detail: str | None = None


@dataclass
class CaseView:
    """An alert's case as the pages show it (a new case when the alert has no case row)."""

    alert_id: int
    state: str = "new"
    assignee: str | None = None
    outcome: str | None = None
    steps: list[CaseStep] = field(default_factory=list)

    @property
    def status_text(self) -> str:
        """The state in English, as the CSV exports write it (``assigned to amina``)."""
        return status_text(self.state, self.assignee, self.outcome)


def status_text(state: str, assignee: str | None, outcome: str | None) -> str:
    """A case's state in English: ``new``, ``acknowledged``, ``assigned to amina``, ``handled: contacted``."""
    if state == "handled":
        return f"handled: {outcome}"
    if state == "assigned":
        return f"assigned to {assignee}"
    return state


def state_of(handled: bool, assignee: str | None, acknowledged: bool) -> str:
    """The case's state: handled wins over assigned, which wins over acknowledged."""
    if handled:
        return "handled"
    if assignee:
        return "assigned"
    return "acknowledged" if acknowledged else "new"


def _case_rows(alert_ids: list[int]):
    """Each case once per note (once when it has none), with every user's name."""
    ack, to, by, done, author = (aliased(User) for _ in range(5))
    return db.session.execute(
        select(AlertCase, ack.username, to.username, by.username, done.username, AlertNote, author.username)
        .outerjoin(ack, ack.id == AlertCase.acknowledged_by_id)
        .outerjoin(to, to.id == AlertCase.assigned_to_id)
        .outerjoin(by, by.id == AlertCase.assigned_by_id)
        .outerjoin(done, done.id == AlertCase.handled_by_id)
        .outerjoin(AlertNote, AlertNote.alert_id == AlertCase.alert_id)
        .outerjoin(author, author.id == AlertNote.author_id)
        .where(AlertCase.alert_id.in_(alert_ids))
        .order_by(AlertCase.alert_id, AlertNote.id)
    )


def _case_steps(view: CaseView, case: AlertCase, acked_by, assignee, assigned_by, handled_by) -> None:
    view.state = state_of(case.handled_at is not None, assignee, case.acknowledged_at is not None)
    view.assignee, view.outcome = assignee, case.outcome
    if case.acknowledged_at:
        view.steps.append(CaseStep(case.acknowledged_at, "acknowledged", acked_by))
    if case.assigned_at:
        view.steps.append(CaseStep(case.assigned_at, "assigned", assigned_by, assignee))
    if case.handled_at:
        view.steps.append(CaseStep(case.handled_at, "handled", handled_by, case.outcome))


def case_views(alert_ids: Iterable[int]) -> dict[int, CaseView]:
    """Return ``{alert id: CaseView}`` for every given alert, its steps oldest first (one statement)."""
    ids = sorted(set(alert_ids))
    views = {alert_id: CaseView(alert_id) for alert_id in ids}
    if not ids:
        return views
    seen: set[int] = set()
    for case, acked_by, assignee, assigned_by, handled_by, note, author in _case_rows(ids):
        view = views[case.alert_id]
        if case.alert_id not in seen:
            seen.add(case.alert_id)
            _case_steps(view, case, acked_by, assignee, assigned_by, handled_by)
        if note is not None:
            view.steps.append(CaseStep(note.created_at, "note", author, note.body))
    for view in views.values():
        view.steps.sort(key=lambda step: step.at)
    return views
