"""Which term a record belongs to, and which terms are in progress.

Terms do not overlap, so a date belongs to at most one. While no dated term exists, every
record belongs to the open-ended term (``OPEN_TERM_ID``) and it is always in progress: a
deployment that never imports terms behaves as if the university had a single term. Once
dated terms exist, a record must fall inside one of them, the terms in progress are those
whose dates contain today at the university, and the open-ended term is history.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import OPEN_TERM_ID, Term


@dataclass(frozen=True)
class TermSpan:
    """A dated term: its id, code and both dates (inclusive)."""

    id: int
    code: str
    starts_on: date
    ends_on: date

    def contains(self, day: date) -> bool:
        """Return whether ``day`` is one of the term's days."""
        return self.starts_on <= day <= self.ends_on


class TermCalendar:
    """The dated terms, ordered by start: finds the term of a date in O(log terms)."""

    def __init__(self, terms: list[TermSpan]):
        self.terms = sorted(terms, key=lambda t: t.starts_on)
        self._starts = [t.starts_on for t in self.terms]

    @classmethod
    def load(cls, session: Session) -> TermCalendar:
        """Read the dated terms (one small query)."""
        rows = session.execute(
            select(Term.id, Term.code, Term.starts_on, Term.ends_on).where(Term.starts_on.is_not(None))
        ).all()
        return cls([TermSpan(*row) for row in rows])

    def term_for(self, day: date) -> int | None:
        """Return the id of the term containing ``day``: the open-ended term while no dated
        term exists, None for a day between or outside the dated terms."""
        if not self.terms:
            return OPEN_TERM_ID
        at = bisect.bisect_right(self._starts, day) - 1
        if at >= 0 and self.terms[at].contains(day):
            return self.terms[at].id
        return None

    def outside_reason(self, day: date) -> str:
        """Why ``day`` belongs to no term, naming the terms around it."""
        at = bisect.bisect_right(self._starts, day) - 1
        before = self.terms[at] if at >= 0 else None
        after = self.terms[at + 1] if at + 1 < len(self.terms) else None
        if before and after:
            where = (
                f"between term {before.code} (ends {before.ends_on}) and term {after.code} (starts {after.starts_on})"
            )
        elif before:
            where = f"after the last term, {before.code} (ends {before.ends_on})"
        else:
            where = f"before the first term, {after.code} (starts {after.starts_on})"
        return f"date {day} is in no term: {where}"

    def in_progress(self, today: date) -> list[int]:
        """Return the ids of the terms in progress on ``today`` (at most one dated term)."""
        if not self.terms:
            return [OPEN_TERM_ID]
        return [t.id for t in self.terms if t.contains(today)]


def university_today() -> date:
    """Return today's date at the university (``UNIVERSITY_TIMEZONE``)."""
    zone = ZoneInfo(current_app.config.get("UNIVERSITY_TIMEZONE", "UTC"))
    return datetime.now(zone).date()


def terms_in_progress(session: Session, today: date | None = None) -> list[int]:
    """Return the ids of the terms the scan evaluates: those in progress today at the university."""
    return TermCalendar.load(session).in_progress(today or university_today())


def term_codes(session: Session) -> dict[int, str | None]:
    """Return ``{term id: code}`` (the open-ended term's code is None)."""
    return dict(session.execute(select(Term.id, Term.code)).all())
