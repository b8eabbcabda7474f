"""The follow-up of an alert's case from the student page, for admins: acknowledge, assign,
note, close as handled (after a confirmation page), reopen. The rules and the audit entries
are ``portal.alerts.cases``'s; every answer goes back to the student's page and says what
happened."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user

from portal.alerts import cases
from portal.auth import require_page_role
from portal.extensions import db
from portal.models import Alert
from portal.models.cases import CASE_OUTCOMES

bp = Blueprint("cases", __name__, url_prefix="/cases")

# The outcomes are stored and sent as their English keys; a page says them in its language
# (the same words as the status_word macro's).
OUTCOME_WORDS = {
    "contacted": lazy_gettext("contacted"),
    "certificate": lazy_gettext("certificate"),
    "appeal": lazy_gettext("appeal"),
    "other": lazy_gettext("other"),
}


def _alert(alert_id: int) -> Alert:
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        abort(404, description=_("No alert has the id %(id)d.", id=alert_id))
    return alert


def _to_student_page(alert: Alert):
    return redirect(url_for("students.show", student_number=alert.student.student_number, _anchor=f"alert-{alert.id}"))


def _step(alert_id: int, step, done: str):
    """Run one follow-up step; flash ``done`` or the refusal (nothing written) and go back."""
    alert = _alert(alert_id)
    try:
        step()
    except cases.CaseError as exc:
        flash(_("Alert %(id)d: the step was refused: %(reason)s", id=alert_id, reason=str(exc)), "error")
        return _to_student_page(alert)
    flash(done, "success")
    return _to_student_page(alert)


def _caller() -> dict:
    return {"source": "page", "ip": request.remote_addr}


@bp.post("/<int:alert_id>/acknowledge")
@require_page_role("admin")
def acknowledge(alert_id: int):
    """Mark the case as seen."""
    return _step(
        alert_id,
        lambda: cases.acknowledge(alert_id, current_user, **_caller()),
        _("Alert %(id)d is acknowledged.", id=alert_id),
    )


@bp.post("/<int:alert_id>/assign")
@require_page_role("admin")
def assign(alert_id: int):
    """Give the case to an active user."""
    username = request.form.get("assignee", "")
    return _step(
        alert_id,
        lambda: cases.assign(alert_id, username, current_user, **_caller()),
        _("Alert %(id)d is assigned to %(user)s.", id=alert_id, user=username.strip()),
    )


@bp.post("/<int:alert_id>/notes")
@require_page_role("admin")
def add_note(alert_id: int):
    """Write a note on the case."""
    body = request.form.get("body", "")
    return _step(
        alert_id,
        lambda: cases.add_note(alert_id, body, current_user, **_caller()),
        _("Your note on alert %(id)d is saved.", id=alert_id),
    )


@bp.get("/<int:alert_id>/handle")
@require_page_role("admin")
def confirm_handle(alert_id: int):
    """Ask for the outcome and a confirmation before closing the case as handled."""
    alert = _alert(alert_id)
    outcome = request.args.get("outcome", "")
    return render_template("students/handle.html", alert=alert, outcomes=CASE_OUTCOMES, outcome=outcome)


@bp.post("/<int:alert_id>/handle")
@require_page_role("admin")
def handle(alert_id: int):
    """Close the case as handled with the chosen outcome."""
    outcome = request.form.get("outcome", "")
    return _step(
        alert_id,
        lambda: cases.handle(alert_id, outcome, current_user, **_caller()),
        _("Alert %(id)d is handled: %(outcome)s.", id=alert_id, outcome=OUTCOME_WORDS.get(outcome, outcome)),
    )


@bp.post("/<int:alert_id>/reopen")
@require_page_role("admin")
def reopen(alert_id: int):
    """Take a handled case back to follow-up."""
    return _step(
        alert_id,
        lambda: cases.reopen(alert_id, current_user, **_caller()),
        _("Alert %(id)d is open for follow-up again.", id=alert_id),
    )
