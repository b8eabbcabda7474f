"""Who is asking: session users (Flask-Login) or API tokens (``Authorization: Bearer``).

Tokens are random, shown once, and stored as a SHA-256 hash; passwords use Werkzeug's
salted hashes.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from typing import Callable

from flask import abort, g, request
from flask_login import LoginManager, current_user
from sqlalchemy import select

from portal.clock import utcnow
from portal.extensions import db
from portal.models import ApiToken, User

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"

TOKEN_PREFIX = "att_"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None


def hash_token(token: str) -> str:
    """Return the stored form of an API token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user: User, name: str = "cli") -> str:
    """Create an API token for ``user`` and return it (the only time it is visible). Does not commit."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, name=name, prefix=token[:12], token_hash=hash_token(token)))
    return token


def user_from_bearer() -> User | None:
    """Return the active user owning the request's bearer token, or None."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    if not token:
        return None
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    db.session.commit()
    return row.user


def api_user() -> User | None:
    """Return the caller of an API request (token first, then the signed-in session)."""
    if "api_user" not in g:
        user = user_from_bearer()
        g.api_via_token = user is not None
        if user is None and current_user.is_authenticated:
            user = current_user._get_current_object()
        g.api_user = user
    return g.api_user


def require_api_role(role: str | None = None) -> Callable:
    """Decorate an API view: 401 without credentials, 403 when the user lacks ``role``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = api_user()
            if user is None:
                abort(401, description="Authentication required: sign in or send 'Authorization: Bearer <token>'.")
            if role == "admin" and not user.is_admin:
                abort(403, description=f"User {user.username!r} has the {user.role!r} role; this action needs 'admin'.")
            return view(*args, **kwargs)

        return wrapped

    return decorator
