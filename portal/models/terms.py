"""Academic terms and the planned hours of each course in a term."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.models.types import HourTotal

# The open-ended term: created by the migration, it holds every record while no dated term
# exists (a deployment that never imports terms works as if the university had one term).
# Once dated terms exist it is never in progress: what it holds is history.
OPEN_TERM_ID = 1


class Term(db.Model):
    """A term of the academic year (both dates inclusive), or the open-ended term (no dates)."""

    __tablename__ = "terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NULL only for the open-ended term; imported terms always have a code and both dates.
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("(starts_on IS NULL) = (ends_on IS NULL)", name="dates_both_or_none"),
        CheckConstraint("ends_on >= starts_on", name="ends_after_start"),
    )


class Offering(db.Model):
    """A course taught in a term, with the hours its sessions will hold (the forecast's P)."""

    __tablename__ = "offerings"

    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id", ondelete="CASCADE"), primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True)
    planned_hours: Mapped[Decimal] = mapped_column(HourTotal)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (CheckConstraint("planned_hours > 0", name="planned_positive"),)
