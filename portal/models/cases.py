"""The office's follow-up of an alert (its case) and the notes written on it.

A case lives in its own table keyed by the alert's id rather than in columns of ``alerts``:
the scan inserts alerts in bulk and is the hot path (see portal/models/alerts.py), so the
follow-up adds nothing to that INSERT. An alert without a case row is a new case. Handled is
independent of the alert's open/resolved status: a handled mahroom case stays open while the
student is still barred.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db

BigId = BigInteger().with_variant(Integer, "sqlite")
# contacted: the student or guardian was reached; certificate: the medical certificate
# (tasdiq) was received; appeal: the student appealed the decision; other: see the notes.
CASE_OUTCOMES = ("contacted", "certificate", "appeal", "other")
NOTE_MAX_CHARS = 2000


class AlertCase(db.Model):
    """Who acknowledged an alert, who follows it up, and whether and how it was handled."""

    __tablename__ = "alert_cases"

    alert_id: Mapped[int] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(DateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    handled_at: Mapped[datetime | None] = mapped_column(DateTime)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint("outcome IN ('contacted', 'certificate', 'appeal', 'other')", name="outcome_known"),
        # A handled case always says how: never a handled_at without an outcome, or the reverse.
        CheckConstraint("(handled_at IS NULL) = (outcome IS NULL)", name="handled_with_outcome"),
    )


class AlertNote(db.Model):
    """A note an admin wrote on an alert's case (who, when, what)."""

    __tablename__ = "alert_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(String(NOTE_MAX_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_alert_notes_alert_id_id", "alert_id", "id"),)
