"""The language of the portal's pages: English, or Dari for the users who choose it."""

from __future__ import annotations

from flask import has_request_context, request
from flask_login import current_user

PAGE_LANGUAGES = ("en", "fa")
API_PATH_PREFIX = "/api/"  # the JSON API answers in English whoever asks (its clients parse the words)
RIGHT_TO_LEFT = frozenset({"fa", "ps"})
LANGUAGE_NAMES = {"en": "English", "fa": "دری"}  # each in its own words: a reader finds their own


def page_language() -> str:
    """Flask-Babel's locale selector: the signed-in user's saved language; before sign-in the
    browser's Accept-Language (so a Dari browser gets a Dari sign-in page); else English.

    The JSON API is English even for a Dari user's session: messages the pages and the API
    share (Redis is needed, health reasons) are marked for the pages but must not reach the API
    translated."""
    if not has_request_context() or request.path.startswith(API_PATH_PREFIX):
        return "en"
    if current_user.is_authenticated:
        saved = getattr(current_user, "language", None)
        return saved if saved in PAGE_LANGUAGES else "en"
    return request.accept_languages.best_match(PAGE_LANGUAGES, default="en") or "en"


def text_direction(language: str) -> str:
    """Return ``rtl`` for a right-to-left language, else ``ltr`` (the page's ``dir``)."""
    return "rtl" if language in RIGHT_TO_LEFT else "ltr"
