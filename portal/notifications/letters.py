"""The letters in use: the compiled catalogs (``portal/translations``, loaded once per
process) with the office's saved versions over them (``LetterBook``).

``make`` compiles them (``pybabel compile -d portal/translations -D letters``); the ``.mo``
files are build output, not committed, so the ``.po`` files the office corrects are the
only source.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from babel.support import Translations
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.domain.letters import LANGUAGES, LOCALES, Catalog, LetterText, default_text, render, with_forecast
from portal.models import LetterTemplate

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "letters"


class CatalogMissing(RuntimeError):
    """A compiled catalog is missing; the message says how to build it."""


@functools.cache
def catalogs() -> dict[str, Catalog]:
    """Return the letters catalog of every language, by code (``fa``, ``ps``, ``en``).

    Raises CatalogMissing when a ``.mo`` file has not been compiled.
    """
    loaded: dict[str, Catalog] = {}
    for language in LANGUAGES:
        compiled = TRANSLATIONS / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not compiled.exists():
            raise CatalogMissing(f"{compiled} is missing: run 'make catalogs' (pybabel compile)")
        loaded[language] = Translations.load(str(TRANSLATIONS), [LOCALES[language], language], domain=DOMAIN)
    return loaded


@dataclass(frozen=True)
class Letter:
    """A rendered letter and the template version it came from (0: the shipped default)."""

    subject: str
    body: str
    version: int


class LetterBook:
    """The texts in use for every (kind, recipient, language): the office's latest saved
    version where there is one, else the shipped default. Loaded once per fan-out (one query
    of a small table), so every notification of a batch uses the same versions."""

    def __init__(self, saved: dict[tuple[str, str, str], tuple[int, LetterText | None]]):
        self.saved = saved
        self._texts: dict[tuple[str, str, str], tuple[int, LetterText]] = {}

    @classmethod
    def load(cls, session: Session) -> LetterBook:
        latest = (
            select(
                LetterTemplate.kind, LetterTemplate.recipient, LetterTemplate.language, func.max(LetterTemplate.version)
            )
            .group_by(LetterTemplate.kind, LetterTemplate.recipient, LetterTemplate.language)
            .subquery()
        )
        rows = session.execute(
            select(LetterTemplate).join(
                latest,
                (LetterTemplate.kind == latest.c.kind)
                & (LetterTemplate.recipient == latest.c.recipient)
                & (LetterTemplate.language == latest.c.language)
                & (LetterTemplate.version == latest.c[3]),
            )
        ).scalars()
        return cls({(t.kind, t.recipient, t.language): (t.version, saved_text(t)) for t in rows})

    def text(self, kind: str, recipient: str, language: str) -> tuple[int, LetterText]:
        """The version in use and its text (with placeholders); looked up once per letter."""
        key = (kind, recipient, language)
        if key not in self._texts:
            version, text = self.saved.get(key, (0, None))
            self._texts[key] = (version, text or default_text(kind, recipient, language, catalogs()))
        return self._texts[key]

    def write(self, kind: str, recipient: str, language: str, values: dict[str, str]) -> Letter:
        """Render the letter in use for these placeholder values."""
        version, text = self.text(kind, recipient, language)
        rendered = render(text, with_forecast(values, recipient, language, catalogs()), language)
        return Letter(rendered.subject, rendered.body, version)


def saved_text(template: LetterTemplate) -> LetterText | None:
    """A saved version's text; None for a revert to the shipped default."""
    if template.subject is None or template.body is None:
        return None
    return LetterText(template.subject, template.body)
