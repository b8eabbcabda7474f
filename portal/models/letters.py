"""The office's versions of the letters' texts (the shipped defaults live in gettext catalogs)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db


class LetterTemplate(db.Model):
    """One saved version of a (kind, language, recipient) letter; the highest version is in use.

    Versions count from 1 per letter (0 is the shipped default, never stored). A version with
    no subject and body is a revert to the shipped default: the letter follows the catalog
    again, including later corrections of its translation.
    """

    __tablename__ = "letter_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(2))
    recipient: Mapped[str] = mapped_column(String(8))
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(String(300))
    body: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "language", "recipient", "version"),)
