"""Sign-in and sign-out pages (Flask-Login sessions, rate-limited sign-in)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from portal import audit, auth
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
            flash(f"Too many failed sign-ins. Try again in {max(attempt.wait // 60, 1)} minute(s).", "error")
            return render_template("auth/login.html", form=form), 429
        user = auth.authenticate(username, form.password.data)
        if user is None:
            auth.record_failed_sign_in(username, address, attempt)
            audit.record(username, "sign_in", outcome="failure", source="page", ip=address, commit=True)
            flash("Wrong username or password.", "error")
            status = 401
        else:
            auth.clear_failed_sign_ins(username, address)
            next_url = auth.safe_next_url(request.args.get("next"))
            session.clear()  # no state carried over from before the sign-in
            login_user(user)
            user.last_login_at = utcnow()
            audit.record(user.username, "sign_in", source="page", ip=address)
            db.session.commit()
            flash(f"Signed in as {user.username} ({user.role}).", "success")
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
    flash("Signed out.", "success")
    return redirect(url_for("auth.login"))
