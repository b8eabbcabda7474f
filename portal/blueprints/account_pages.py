"""Accounts in the browser, for admins only: users (create, change role, disable or enable,
reset password) and API tokens (create, list, revoke). The rules and the audit entries are
``portal.accounts``'s, the same the CLI uses; a password or a token is shown once, on the
answer to the form that made it, and never stored in the clear."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import current_user, login_user

from portal import accounts
from portal.auth import require_page_role
from portal.extensions import db
from portal.models import ApiToken
from portal.models.auth import ROLES, TOKEN_SCOPES

bp = Blueprint("accounts", __name__, url_prefix="/accounts")

# The CLI names its inputs by option; the pages by their form labels.
FIELD_LABELS = {
    "USERNAME": "Username",
    "--role": "Role",
    "--password": "Password",
    "--scope": "Scope",
    "--expires-in-days": "Expiry in days",
    "--name": "Name",
    "--user": "User",
}
# A refused change, said whole (the id and the reason are filled in when it is flashed).
REFUSED_ROLE = lazy_gettext("Changing the role of user %(id)d was refused: %(problem)s")
REFUSED_DISABLE = lazy_gettext("Disabling user %(id)d was refused: %(problem)s")
REFUSED_ENABLE = lazy_gettext("Enabling user %(id)d was refused: %(problem)s")
REFUSED_RESET = lazy_gettext("Resetting user %(id)d was refused: %(problem)s")


def _caller() -> dict[str, str | None]:
    return {"actor": current_user.username, "source": "page", "ip": request.remote_addr}


def _message(exc: accounts.AccountError) -> str:
    """A refusal as a sentence naming the input (``Password must be at least 10 characters.``)."""
    text = str(exc)
    if text.startswith("must "):
        return f"{FIELD_LABELS.get(exc.field, exc.field)} {text}."
    return text


def _users_page(status: int = 200, shown_once: dict | None = None, form: dict | None = None):
    page = render_template(
        "accounts/users.html",
        users=accounts.list_users(),
        roles=ROLES,
        min_password=accounts.MIN_PASSWORD_LENGTH,
        shown_once=shown_once,
        form=form or {},
    )
    return page, status


@bp.get("/")
@require_page_role("admin")
def users():
    """Every user: role, whether active, when created and last signed in."""
    return _users_page()


def _new_password() -> tuple[str, bool]:
    """The typed password, or a generated one (True: show it once)."""
    typed = request.form.get("password", "")
    return (typed, False) if typed else (accounts.generate_password(), True)


@bp.post("/users")
@require_page_role("admin")
def create_user():
    """Create a user with a typed password, or a generated one shown once."""
    username, role = request.form.get("username", ""), request.form.get("role", "")
    password, generated = _new_password()
    try:
        user = accounts.create_user(username, role, password, **_caller())
    except accounts.AccountError as exc:
        flash(_("No user was created: %(problem)s", problem=_message(exc)), "error")
        return _users_page(400, form={"username": username, "role": role})
    flash(_("Created %(role)s user %(user)s.", role=user.role, user=repr(user.username)), "success")
    shown = {"user": user.username, "password": password} if generated else None
    return _users_page(shown_once=shown)


def _refusable(change, user_id: int, refusal):
    """Run ``change``; a refusal is flashed (nothing changed; the caller answers 400), an unknown user is a 404."""
    try:
        return change()
    except accounts.NoSuchUser as exc:
        abort(404, description=str(exc))
    except accounts.AccountError as exc:
        flash(str(refusal) % {"id": user_id, "problem": _message(exc)}, "error")
        return None


@bp.post("/users/<int:user_id>/role")
@require_page_role("admin")
def change_role(user_id: int):
    """Give a user another role (never leaving no active admin)."""
    role = request.form.get("role", "")
    user = _refusable(lambda: accounts.change_role(user_id, role, **_caller()), user_id, REFUSED_ROLE)
    if user is None:
        return _users_page(400)
    flash(_("%(user)s now has the %(role)s role.", user=repr(user.username), role=repr(user.role)), "success")
    return redirect(url_for("accounts.users"))


@bp.post("/users/<int:user_id>/disable")
@require_page_role("admin")
def disable_user(user_id: int):
    """Disable a user: no sign-in, their sessions and tokens refused from their next request."""
    user = _refusable(lambda: accounts.set_active(user_id, False, **_caller()), user_id, REFUSED_DISABLE)
    if user is None:
        return _users_page(400)
    flash(
        _("%(user)s is disabled: their sessions and API tokens are refused from now on.", user=repr(user.username)),
        "success",
    )
    return redirect(url_for("accounts.users"))


@bp.post("/users/<int:user_id>/enable")
@require_page_role("admin")
def enable_user(user_id: int):
    """Enable a disabled user again."""
    user = _refusable(lambda: accounts.set_active(user_id, True, **_caller()), user_id, REFUSED_ENABLE)
    if user is None:
        return _users_page(400)
    flash(_("%(user)s is enabled: they may sign in again.", user=repr(user.username)), "success")
    return redirect(url_for("accounts.users"))


@bp.post("/users/<int:user_id>/password")
@require_page_role("admin")
def reset_password(user_id: int):
    """Set a user's password to a typed one, or a generated one shown once; their other sessions end."""
    password, generated = _new_password()
    user = _refusable(lambda: accounts.reset_password(user_id, password, **_caller()), user_id, REFUSED_RESET)
    if user is None:
        return _users_page(400)
    if user.id == current_user.id:
        login_user(user)  # a reset ends the user's sessions (portal.auth): keep the one making it
    flash(
        _("The password of %(user)s is reset: their open sessions are signed out.", user=repr(user.username)), "success"
    )
    return _users_page(shown_once={"user": user.username, "password": password} if generated else None)


def _tokens_page(status: int = 200, created: dict | None = None, form: dict | None = None):
    page = render_template(
        "accounts/tokens.html",
        tokens=accounts.list_tokens(),
        users=accounts.list_users(),
        scopes=TOKEN_SCOPES,
        max_days=accounts.MAX_EXPIRY_DAYS,
        created=created,
        form=form or {},
    )
    return page, status


@bp.get("/tokens")
@require_page_role("admin")
def tokens():
    """Every API token (never the token itself): scope, created, last used, expiry, revocation."""
    return _tokens_page()


def _expiry_days(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise accounts.AccountError(
            f"must be a whole number of days from 1 to {accounts.MAX_EXPIRY_DAYS}, or empty for never; "
            f"got {raw[:20]!r}",
            "--expires-in-days",
        )
    return int(raw)


@bp.post("/tokens")
@require_page_role("admin")
def create_token():
    """Create a token for a user; the answer shows it once."""
    form = {key: request.form.get(key, "") for key in ("user", "name", "scope", "expires_in_days")}
    try:
        days = _expiry_days(form["expires_in_days"])
        user, token, row = accounts.create_api_token(form["user"], form["name"], form["scope"], days, **_caller())
    except accounts.AccountError as exc:
        flash(_("No token was created: %(problem)s", problem=_message(exc)), "error")
        return _tokens_page(400, form=form)
    return _tokens_page(created={"token": token, "row": row, "user": user.username})


def _token(token_id: int) -> ApiToken:
    row = db.session.get(ApiToken, token_id)
    if row is None:
        abort(404, description=f"There is no API token with id {token_id}.")
    return row


@bp.get("/tokens/<int:token_id>/revoke")
@require_page_role("admin")
def confirm_revoke(token_id: int):
    """Ask for confirmation before revoking a token."""
    return render_template("accounts/revoke.html", token=_token(token_id))


@bp.post("/tokens/<int:token_id>/revoke")
@require_page_role("admin")
def revoke_token(token_id: int):
    """Revoke a token: every web process refuses it from its next request on."""
    _token(token_id)
    row, revoked_now = accounts.revoke_token(token_id, **_caller())
    if not revoked_now:
        flash(_("Token %(id)d %(name)s was revoked already; nothing changed.", id=row.id, name=repr(row.name)), "error")
        return _tokens_page(400)
    flash(
        _(
            "Token %(id)d %(name)s of %(user)s is revoked: it is refused from now on.",
            id=row.id,
            name=repr(row.name),
            user=row.user.username,
        ),
        "success",
    )
    return redirect(url_for("accounts.tokens"))
