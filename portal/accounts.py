"""Portal accounts: creating users and their API tokens (the CLI calls these; audit-free today)."""

from __future__ import annotations

from sqlalchemy import select
from werkzeug.security import generate_password_hash

from portal.auth import create_token
from portal.extensions import db
from portal.models import User
from portal.models.auth import ROLES

MIN_PASSWORD_LENGTH = 10
MAX_USERNAME_LENGTH = 64


class AccountError(ValueError):
    """A refused account change; ``str(exc)`` says what is wrong and ``field`` names the input."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def find_user(username: str) -> User | None:
    """Return the user called ``username``, or None."""
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def check_new_user(username: str, role: str) -> str:
    """Return ``username`` stripped, or raise AccountError for a bad name or role; changes nothing."""
    username = username.strip()
    if not username or len(username) > MAX_USERNAME_LENGTH:
        raise AccountError(f"must be 1 to {MAX_USERNAME_LENGTH} characters", "USERNAME")
    if role not in ROLES:
        raise AccountError(f"must be one of {', '.join(ROLES)}", "--role")
    return username


def create_user(username: str, role: str, password: str) -> User:
    """Create and commit a user; raises AccountError (nothing written) for a bad or taken
    name, an unknown role or a password shorter than ``MIN_PASSWORD_LENGTH``."""
    username = check_new_user(username, role)
    if find_user(username) is not None:
        raise AccountError(f"User {username!r} already exists.", "USERNAME")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"must be at least {MIN_PASSWORD_LENGTH} characters", "--password")
    user = User(username=username, role=role, password_hash=generate_password_hash(password))
    db.session.add(user)
    db.session.commit()
    return user


def create_api_token(username: str, name: str) -> tuple[User, str]:
    """Create and commit an API token for ``username``; return the user and the token (shown
    once, stored hashed). Raises AccountError when no such user exists."""
    user = find_user(username)
    if user is None:
        raise AccountError(f"No user named {username!r} (create one with 'flask --app wsgi users create').", "--user")
    token = create_token(user, name)
    db.session.commit()
    return user, token
