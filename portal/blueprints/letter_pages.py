"""The letters' templates: every kind x language x recipient, edited with a live preview,
saved as versions (history, revert), admins only for changes."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.auth import require_page_role
from portal.domain.letters import LANGUAGES, PLACEHOLDERS, RTL_LANGUAGES
from portal.domain.records import LETTER_LANGUAGES
from portal.notifications import templates

bp = Blueprint("letters", __name__, url_prefix="/letters")
KEY = "/<kind>/<language>/<recipient>"


def _checked(kind: str, language: str, recipient: str) -> None:
    try:
        templates.check_key(kind, language, recipient)
    except LookupError as exc:
        abort(404, description=f"There is no such letter: {exc}.")


def _caller() -> dict[str, str | None]:
    return {"actor": current_user.username, "source": "page", "ip": request.remote_addr}


@bp.get("/")
@require_page_role()
def index():
    """Every letter with its subject, version and who last changed it."""
    return render_template("letters/index.html", rows=templates.letters(), names=LETTER_LANGUAGES, order=LANGUAGES)


def _edit_page(kind, language, recipient, subject, body, problems=(), status=200):
    letter = templates.letter(kind, language, recipient)
    rendered, preview_problems, source = templates.preview(kind, language, recipient, subject, body)
    page = render_template(
        "letters/edit.html",
        letter=letter,
        subject=subject,
        body=body,
        problems=list(problems),
        preview=rendered,
        preview_problems=preview_problems,
        preview_source=source,
        history=templates.history(kind, language, recipient),
        shipped=templates.shipped(kind, language, recipient),
        placeholders=PLACEHOLDERS,
        language_name=LETTER_LANGUAGES[language],
        direction="rtl" if language in RTL_LANGUAGES else "ltr",
    )
    return page, status


@bp.get(KEY)
@require_page_role()
def edit(kind: str, language: str, recipient: str):
    """The letter in use, its preview for a real alert (or a sample) and its versions."""
    _checked(kind, language, recipient)
    text = templates.letter(kind, language, recipient).text
    return _edit_page(kind, language, recipient, text.subject, text.body)


@bp.post(KEY)
@require_page_role("admin")
def save(kind: str, language: str, recipient: str):
    """Preview (``action=preview``) or save the submitted text; a refused save writes nothing."""
    _checked(kind, language, recipient)
    subject, body = request.form.get("subject", ""), request.form.get("body", "")
    if request.form.get("action") == "preview":
        return _edit_page(kind, language, recipient, subject, body)
    try:
        saved = templates.save(kind, language, recipient, subject, body, **_caller())
    except templates.LetterRefused as refused:
        flash(_("The letter was not saved: %(problems)s.", problems="; ".join(refused.problems)), "error")
        return _edit_page(kind, language, recipient, subject, body, refused.problems, status=400)
    flash(
        _(
            "Saved as version %(version)s: the next %(kind)s letters in %(language)s use it.",
            version=saved.version,
            kind=kind,
            language=LETTER_LANGUAGES[language],
        ),
        "success",
    )
    return redirect(url_for("letters.edit", kind=kind, language=language, recipient=recipient))


@bp.post(KEY + "/preview")
@require_page_role("admin")  # a POST, as every state-changing route is, though it writes nothing
def live_preview(kind: str, language: str, recipient: str):
    """The preview of a draft as JSON, for the editor's live preview (letters.js)."""
    _checked(kind, language, recipient)
    data = request.get_json(silent=True) or {}
    subject, body = str(data.get("subject", "")), str(data.get("body", ""))
    rendered, problems, source = templates.preview(kind, language, recipient, subject, body)
    letter = {"subject": rendered.subject, "body": rendered.body} if rendered else None
    return jsonify({"letter": letter, "problems": problems, "source": source})


@bp.post(KEY + "/revert")
@require_page_role("admin")
def revert(kind: str, language: str, recipient: str):
    """Bring back a saved version (``version``) or the shipped default (``version=0``)."""
    _checked(kind, language, recipient)
    raw = request.form.get("version", "")
    if not raw.isdigit():
        abort(400, description=f"version must be a version number or 0 (the shipped default), got {raw[:20]!r}.")
    try:
        saved = templates.revert(kind, language, recipient, int(raw), **_caller())
    except LookupError as exc:
        abort(404, description=f"Nothing was reverted: {exc}.")
    except templates.LetterRefused as refused:
        flash(_("Nothing was reverted: %(problems)s.", problems="; ".join(refused.problems)), "error")
    else:
        flash(f"{saved.note.capitalize()}, saved as version {saved.version}.", "success")
    return redirect(url_for("letters.edit", kind=kind, language=language, recipient=recipient))
