"""The compiled letter catalogs (``portal/translations``), loaded once per process.

``make`` compiles them (``pybabel compile -d portal/translations -D letters``); the ``.mo``
files are build output, not committed, so the ``.po`` files the office corrects are the
only source.
"""

from __future__ import annotations

import functools
from pathlib import Path

from babel.support import Translations

from portal.domain.letters import LANGUAGES, LOCALES, Catalog

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
