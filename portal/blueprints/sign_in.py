"""Sign-in and sign-out pages (Flask-Login sessions, rate-limited sign-in)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import refresh as refresh_language
from flask_login import current_user, login_required, login_user, logout_user

from portal import accounts, audit, auth
from portal.clock import utcnow
from portal.extensions import db
from portal.forms import SignInForm

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; on success start a session and go where the user was heading."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = SignInForm()
    status = 200
    if form.validate_on_submit():
        username, address = form.username.data.strip(), request.remote_addr or "unknown"
        attempt = auth.begin_sign_in(username, address)
        if attempt.wait:
            audit.record(username, "sign_in", outcome="throttled", source="page", ip=address, commit=True)
            flash(
                _("Too many failed sign-ins. Try again in %(minutes)d minute(s).", minutes=max(attempt.wait // 60, 1)),
                "error",
            )
            return render_template("auth/login.html", form=form), 429
        user = auth.authenticate(username, form.password.data)
        if user is None:
            auth.record_failed_sign_in(username, address, attempt)
            audit.record(username, "sign_in", outcome="failure", source="page", ip=address, commit=True)
            flash(_("Wrong username or password."), "error")
            status = 401
        else:
            auth.clear_failed_sign_ins(username, address)
            next_url = auth.safe_next_url(request.args.get("next"))
            session.clear()  # no state carried over from before the sign-in
            login_user(user)
            user.last_login_at = utcnow()
            audit.record(user.username, "sign_in", source="page", ip=address)
            db.session.commit()
            flash(_("Signed in as %(user)s (%(role)s).", user=user.username, role=user.role), "success")
            return redirect(next_url or url_for("dashboard.index"))
    elif request.method == "POST":
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    """End the session (a POST with a CSRF token, so no other site can sign the user out)."""
    if current_user.is_authenticated:
        audit.record(current_user.username, "sign_out", source="page", ip=request.remote_addr, commit=True)
    logout_user()
    session.clear()
    flash(_("Signed out."), "success")
    return redirect(url_for("auth.login"))


@bp.post("/language")
@login_required
def choose_language():
    """Save the signed-in user's page language (any role chooses their own) and go back to
    the page they were on (a path on this site only, else the dashboard)."""
    try:
        accounts.set_language(
            current_user.id, request.form.get("language", ""), actor=current_user.username, ip=request.remote_addr
        )
    except accounts.AccountError as exc:
        abort(400, _("Language %(problem)s. Nothing was changed.", problem=str(exc)))
    refresh_language()  # this request chose its locale before the change: the flash is in the new one
    flash(_("Your language is saved: the pages are in English now."), "success")
    return redirect(auth.safe_next_url(request.form.get("next")) or url_for("dashboard.index"))
