"""Portal accounts: creating, listing and changing users (role, disabled, password); creating,
listing and revoking their API tokens. The CLI and the accounts pages call these; every change
is written to the audit log with who made it (``actor``, ``source`` ``cli`` or ``page``, ``ip``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from portal import audit
from portal.auth import create_token, hash_token
from portal.clock import iso_utc, utcnow
from portal.extensions import db
from portal.models import ApiToken, User
from portal.models.auth import ROLES, TOKEN_SCOPES
from portal.page_language import PAGE_LANGUAGES

MIN_PASSWORD_LENGTH = 10
MAX_USERNAME_LENGTH = 64
MAX_TOKEN_NAME_LENGTH = 100
MAX_EXPIRY_DAYS = 3650


class AccountError(ValueError):
    """A refused account change; ``str(exc)`` says what is wrong and ``field`` names the input."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


class NoSuchUser(AccountError):
    """The user id names no user."""


def find_user(username: str) -> User | None:
    """Return the user called ``username``, or None."""
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def check_new_user(username: str, role: str) -> str:
    """Return ``username`` stripped, or raise AccountError for a bad name or role; changes nothing."""
    username = username.strip()
    if not username or len(username) > MAX_USERNAME_LENGTH:
        raise AccountError(f"must be 1 to {MAX_USERNAME_LENGTH} characters", "USERNAME")
    if role not in ROLES:
        raise AccountError(f"must be one of {', '.join(ROLES)}; got {role[:20]!r}", "--role")
    return username


def generate_password() -> str:
    """Return a random password that meets the password rules (16 characters)."""
    return secrets.token_urlsafe(12)


def check_password(password: str) -> None:
    """Raise AccountError for a password shorter than ``MIN_PASSWORD_LENGTH``; changes nothing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"must be at least {MIN_PASSWORD_LENGTH} characters", "--password")


def create_user(
    username: str, role: str, password: str, *, actor: str = "cli", source: str = "cli", ip: str | None = None
) -> User:
    """Create and commit a user (audited as ``user_create``); raises AccountError (nothing
    written) for a bad or taken name, an unknown role or a password ``check_password`` refuses."""
    username = check_new_user(username, role)
    if find_user(username) is not None:
        raise AccountError(f"User {username!r} already exists.", "USERNAME")
    check_password(password)
    user = User(username=username, role=role, password_hash=generate_password_hash(password))
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor, "user_create", f"user:{user.id}", details={"user": username, "role": role}, source=source, ip=ip
    )
    db.session.commit()
    return user


def list_users() -> list[User]:
    """Return every user, oldest first."""
    return list(db.session.scalars(select(User).order_by(User.id)))


def _user_for_update(user_id: int, *, admins_first: bool = False) -> User:
    if admins_first:
        # Every active admin's row is locked, always in id order and before the user's own:
        # two admins demoting each other at once wait for one another (no deadlock), and the
        # second sees the first's change, so they cannot both pass the last-admin check.
        db.session.scalars(
            select(User.id).where(User.role == "admin", User.active.is_(True)).order_by(User.id).with_for_update()
        ).all()
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None:
        db.session.rollback()
        raise NoSuchUser(f"No user with id {user_id}.", "USER")
    return user


def _refuse_losing_the_last_admin(user: User, change: str) -> None:
    """Raise AccountError when ``user`` is the only active admin (their rows are locked by now)."""
    others = db.session.scalar(
        select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True), User.id != user.id)
    )
    if user.is_admin and user.active and not others:
        db.session.rollback()
        raise AccountError(
            f"{user.username!r} is the only active admin: {change} would leave no one able to act. "
            "Make another user an active admin first.",
            "USER",
        )


def change_role(user_id: int, role: str, *, actor: str, source: str = "cli", ip: str | None = None) -> User:
    """Give user ``user_id`` the ``role`` and commit (audited as ``user_role_change``). Raises
    AccountError (nothing written) for an unknown user or role, the role it has already, or a
    change that would leave no active admin."""
    if role not in ROLES:
        raise AccountError(f"must be one of {', '.join(ROLES)}; got {role[:20]!r}", "--role")
    user = _user_for_update(user_id, admins_first=role != "admin")
    if user.role == role:
        db.session.rollback()
        raise AccountError(f"{user.username!r} has the {role!r} role already; nothing changed.", "--role")
    if role != "admin":
        _refuse_losing_the_last_admin(user, f"making them {role!r}")
    details = {"user": user.username, "from": user.role, "to": role}
    user.role = role
    audit.record(actor, "user_role_change", f"user:{user.id}", details=details, source=source, ip=ip)
    db.session.commit()
    return user


def set_language(user_id: int, language: str, *, actor: str, source: str = "page", ip: str | None = None) -> User:
    """Save ``language`` as user ``user_id``'s page language and commit (audited as
    ``user_language_change``). Raises AccountError (nothing written) for an unknown language."""
    if language not in PAGE_LANGUAGES:
        raise AccountError(f"must be one of {', '.join(PAGE_LANGUAGES)}; got {str(language)[:20]!r}", "language")
    user = _user_for_update(user_id)
    details = {"user": user.username, "from": user.language, "to": language}
    user.language = language
    audit.record(actor, "user_language_change", f"user:{user.id}", details=details, source=source, ip=ip)
    db.session.commit()
    return user


def set_active(user_id: int, active: bool, *, actor: str, source: str = "cli", ip: str | None = None) -> User:
    """Enable or disable user ``user_id`` and commit (audited as ``user_enable``/``user_disable``).
    A disabled user cannot sign in, their sessions are refused from their next request on
    (``portal.auth`` loads only active users) and their API tokens stop working. Raises
    AccountError (nothing written) for an unknown user, no change, or the last active admin."""
    user = _user_for_update(user_id, admins_first=not active)
    if user.active == active:
        db.session.rollback()
        state = "enabled" if active else "disabled"
        raise AccountError(f"{user.username!r} is {state} already; nothing changed.", "USER")
    if not active:
        _refuse_losing_the_last_admin(user, "disabling them")
    user.active = active
    action = "user_enable" if active else "user_disable"
    audit.record(actor, action, f"user:{user.id}", details={"user": user.username}, source=source, ip=ip)
    db.session.commit()
    return user


def reset_password(user_id: int, password: str, *, actor: str, source: str = "cli", ip: str | None = None) -> User:
    """Set user ``user_id``'s password and commit (audited as ``user_password_reset``, never the
    password). Raises AccountError (nothing written) for an unknown user or a refused password."""
    check_password(password)
    user = _user_for_update(user_id)
    user.password_hash = generate_password_hash(password)
    audit.record(actor, "user_password_reset", f"user:{user.id}", details={"user": user.username}, source=source, ip=ip)
    db.session.commit()
    return user


def check_new_token(scope: str, expires_in_days: int | None, name: str) -> str:
    """Return ``name`` stripped, or raise AccountError for an unknown scope, a lifetime that is
    not 1 to ``MAX_EXPIRY_DAYS`` days, or a bad label; changes nothing."""
    if scope not in TOKEN_SCOPES:
        raise AccountError(f"must be one of {', '.join(TOKEN_SCOPES)}; got {scope[:20]!r}", "--scope")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise AccountError(f"must be 1 to {MAX_EXPIRY_DAYS} days; got {expires_in_days}", "--expires-in-days")
    name = name.strip()
    if not name or len(name) > MAX_TOKEN_NAME_LENGTH:
        raise AccountError(f"must be 1 to {MAX_TOKEN_NAME_LENGTH} characters", "--name")
    return name


def create_api_token(
    username: str,
    name: str,
    scope: str = "admin",
    expires_in_days: int | None = None,
    *,
    actor: str = "cli",
    source: str = "cli",
    ip: str | None = None,
) -> tuple[User, str, ApiToken]:
    """Create and commit an API token for ``username``; return the user, the token (shown
    once, stored hashed) and its row. Raises AccountError (nothing written) when no such user
    exists or ``check_new_token`` refuses the scope, the lifetime or the label."""
    name = check_new_token(scope, expires_in_days, name)
    user = find_user(username)
    if user is None:
        raise AccountError(f"No user named {username!r} (create one with 'flask --app wsgi users create').", "--user")
    expires_at = None if expires_in_days is None else utcnow().replace(microsecond=0) + timedelta(days=expires_in_days)
    token = create_token(user, name, scope, expires_at)
    row = db.session.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).scalar_one()
    details = {"scope": scope, "expiresAt": iso_utc(expires_at), "name": name}
    audit.record(
        actor, "token_create", f"token:{row.id}", details={"user": user.username, **details}, source=source, ip=ip
    )
    db.session.commit()
    return user, token, row


@dataclass(frozen=True)
class TokenInfo:
    """One token as ``flask tokens list`` shows it (never the token itself)."""

    id: int
    user: str
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def as_row(self) -> dict[str, str]:
        """The token's fields as text, times in ISO 8601 UTC (``-`` for none)."""
        return {
            "id": str(self.id),
            "user": self.user,
            "name": self.name,
            "scope": self.scope,
            "created": iso_utc(self.created_at) or "-",
            "last used": iso_utc(self.last_used_at) or "-",
            "expires": iso_utc(self.expires_at) or "-",
            "revoked": iso_utc(self.revoked_at) or "-",
        }


def list_tokens(username: str | None = None) -> list[TokenInfo]:
    """Return every token (or ``username``'s), oldest first; AccountError for an unknown user."""
    stmt = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if username is not None:
        if find_user(username) is None:
            raise AccountError(f"No user named {username!r}.", "--user")
        stmt = stmt.where(User.username == username)
    return [
        TokenInfo(t.id, name, t.name, t.scope, t.created_at, t.last_used_at, t.expires_at, t.revoked_at)
        for t, name in db.session.execute(stmt)
    ]


def revoke_token(
    token_id: int, *, actor: str = "cli", source: str = "cli", ip: str | None = None
) -> tuple[ApiToken, bool]:
    """Revoke token ``token_id`` from now on; return it and whether this call revoked it (False:
    it was revoked already, and keeps its first revocation time). AccountError for an unknown id."""
    row = db.session.get(ApiToken, token_id, with_for_update=True)
    if row is None:
        raise AccountError(f"No API token with id {token_id} (see 'flask --app wsgi tokens list').", "ID")
    if row.revoked_at is not None:
        db.session.rollback()
        return row, False
    row.revoked_at = utcnow().replace(microsecond=0)
    audit.record(actor, "token_revoke", f"token:{row.id}", details={"user": row.user.username}, source=source, ip=ip)
    db.session.commit()
    return row, True
