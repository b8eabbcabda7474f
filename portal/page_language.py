"""The language of the portal's pages: English, or Dari for the users who choose it."""

from __future__ import annotations

PAGE_LANGUAGES = ("en", "fa")
RIGHT_TO_LEFT = frozenset({"fa", "ps"})


def page_language() -> str:
    """Flask-Babel's locale selector: the pages' language for this request."""
    return "en"
