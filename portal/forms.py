"""Forms and CSRF protection for the pages and for session-authenticated API calls."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

csrf = CSRFProtect()


class SignInForm(FlaskForm):
    """Username and password."""

    username = StringField(
        "Username",
        validators=[
            DataRequired(lazy_gettext("Type your username.")),
            Length(max=64, message=lazy_gettext("At most %(max)d characters.")),
        ],
    )
    password = PasswordField(
        "Password",
        validators=[
            DataRequired(lazy_gettext("Type your password.")),
            Length(max=1024, message=lazy_gettext("At most %(max)d characters.")),
        ],
    )


def checks_csrf_itself(view):
    """Mark a view that validates the CSRF token itself, after reading its own body (a
    streamed upload: the usual check would parse the whole body first)."""
    view.checks_csrf_itself = True
    return view


def init_csrf(app: Flask) -> None:
    """Protect every unsafe request with a CSRF token, except Bearer-token API calls.

    A browser never adds an ``Authorization`` header on its own, so a request carrying one
    cannot be forged cross-site; an API request with neither a token nor a session gets its
    401 from the view instead of a CSRF error. Session API calls send ``X-CSRFToken``.
    """
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)

    @app.before_request
    def _protect_unless_bearer():
        if not app.config.get("WTF_CSRF_ENABLED", True):
            return
        if request.method not in app.config.get("WTF_CSRF_METHODS", ("POST", "PUT", "PATCH", "DELETE")):
            return
        if request.endpoint is None:  # 404/405: let routing answer
            return
        if request.headers.get("Authorization", "").lower().startswith("bearer "):
            return
        if request.path.startswith("/api/") and not current_user.is_authenticated:
            return
        if getattr(app.view_functions.get(request.endpoint), "checks_csrf_itself", False):
            return
        csrf.protect()
