"""Who is asking: session users (Flask-Login) or API tokens (``Authorization: Bearer``).

Tokens are random, shown once, and stored as a SHA-256 hash; passwords use Werkzeug's
salted hashes. Failed sign-ins are counted in Redis (per address and username, and per
address alone) so guessing passwords is slow for every web process at once.

A token has a scope (``TOKEN_SCOPES``): ``admin`` reaches every API endpoint, ``inbox`` only
the student endpoints, ``attendance`` only ``POST /api/attendance`` (``scope_needed``); within
its scope it acts with its user's role, never beyond it. A revoked or expired token is refused
(401, saying which) on the next request of every web process: each request reads the token's
row from the database, nothing is cached in the process. Sessions have no scope.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import abort, current_app, g, request
from flask_login import LoginManager, current_user
from redis.exceptions import RedisError
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from portal import redis_status, sign_in_failures
from portal.clock import iso_utc, utcnow
from portal.extensions import db
from portal.models import ApiToken, User
from portal.models.auth import TOKEN_SCOPES
from portal.queues import get_redis

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"

login_manager.session_protection = "strong"

TOKEN_PREFIX = "att_"
TOKEN_USE_RECORD_INTERVAL = timedelta(minutes=1)
SIGN_IN_KEY_PREFIX = "portal:sign-in-failures:"
# The endpoints a narrow scope reaches (``admin`` reaches every one): whole blueprints, or
# single endpoints. tests/test_token_scopes.py walks the URL map against this.
SCOPE_BLUEPRINTS = {"students_api": "inbox"}
SCOPE_ENDPOINTS = {"attendance_api.post_attendance": "attendance"}
assert set(SCOPE_BLUEPRINTS.values()) | set(SCOPE_ENDPOINTS.values()) | {"admin"} == set(TOKEN_SCOPES)
# Defaults; SIGN_IN_MAX_FAILURES / SIGN_IN_MAX_FAILURES_PER_ADDRESS / SIGN_IN_WINDOW_SECONDS override.
SIGN_IN_MAX_FAILURES = 5
SIGN_IN_MAX_FAILURES_PER_ADDRESS = 30
SIGN_IN_WINDOW_SECONDS = 15 * 60
# Checked when the username is unknown, so a miss costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


@login_manager.user_loader
def _load_user(session_id: str) -> User | None:
    # Read on every request: a disabled user, or a session from before a password reset, is
    # signed out from its next request on, on every web process.
    user_id, _, stamp = session_id.partition(":")
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    if user is None or not user.active or not hmac.compare_digest(stamp, user.session_stamp):
        return None
    return user


def hash_token(token: str) -> str:
    """Return the stored form of an API token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(user: User, name: str = "cli", scope: str = "admin", expires_at: datetime | None = None) -> str:
    """Create an API token for ``user`` and return it (the only time it is visible). Does not commit."""
    if scope not in TOKEN_SCOPES:
        raise ValueError(f"unknown token scope {scope!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user=user, name=name, prefix=token[:12], token_hash=hash_token(token), scope=scope, expires_at=expires_at
    )
    db.session.add(row)
    return token


def scope_needed(endpoint: str | None) -> str:
    """Return the narrow scope that reaches ``endpoint`` (``admin`` reaches it too), or ``admin``."""
    endpoint = endpoint or ""
    if endpoint in SCOPE_ENDPOINTS:
        return SCOPE_ENDPOINTS[endpoint]
    return SCOPE_BLUEPRINTS.get(endpoint.rpartition(".")[0], "admin")


def token_from_bearer() -> ApiToken | None:
    """Return the request's bearer token row when it is valid, None without one or for an unknown
    token (or an inactive user); abort with 401 for a revoked or an expired token."""
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    token = header[7:].strip()
    if not token:
        return None
    # Read on every request, never cached: a revocation counts from the next request on.
    row = db.session.execute(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).scalar_one_or_none()
    if row is None or not row.user.active:
        return None
    now = utcnow()
    if row.revoked_at is not None:
        abort(401, description=f"This API token was revoked at {iso_utc(row.revoked_at)}; ask for a new one.")
    if row.expires_at is not None and row.expires_at <= now:
        abort(401, description=f"This API token expired at {iso_utc(row.expires_at)}; ask for a new one.")
    # Recorded at most once a minute: a write (and a row lock) on every request would
    # serialise a script's concurrent calls on this one row.
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RECORD_INTERVAL:
        row.last_used_at = now
        db.session.commit()
    return row


def user_from_bearer() -> User | None:
    """Return the active user owning the request's valid bearer token, or None."""
    row = token_from_bearer()
    return None if row is None else row.user


def api_user() -> User | None:
    """Return the caller of an API request (token first, then the signed-in session)."""
    if "api_user" not in g:
        row = token_from_bearer()
        user = None if row is None else row.user
        g.api_via_token = row is not None
        g.api_token_scope = None if row is None else row.scope
        if user is None and current_user.is_authenticated:
            user = current_user._get_current_object()
        g.api_user = user
    return g.api_user


def require_api_role(role: str | None = None) -> Callable:
    """Decorate an API view: 401 without valid credentials, 403 when a token's scope does not
    reach the endpoint (``scope_needed``) or the user lacks ``role``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            user = api_user()
            if user is None:
                abort(401, description="Authentication required: sign in or send 'Authorization: Bearer <token>'.")
            scope = g.api_token_scope
            needed = scope_needed(request.endpoint)
            if scope is not None and scope not in (needed, "admin"):
                also = "" if needed == "admin" else " (or 'admin')"
                abort(
                    403,
                    description=f"This token has the {scope!r} scope; {request.method} {request.path[:200]} "
                    f"needs a token with the {needed!r} scope{also}.",
                )
            if role == "admin" and not user.is_admin:
                abort(403, description=f"User {user.username!r} has the {user.role!r} role; this action needs 'admin'.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def require_page_role(role: str | None = None) -> Callable:
    """Decorate a page view: sign-in page when anonymous, 403 when the user lacks ``role``."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if role == "admin" and not current_user.is_admin:
                abort(403, description="Your account may look but not act: this needs the admin role.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def authenticate(username: str, password: str) -> User | None:
    """Return the active user with ``username`` and ``password``, or None (same cost either way)."""
    user = db.session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def _sign_in_keys(username: str, address: str) -> tuple[str, str]:
    pair = f"{SIGN_IN_KEY_PREFIX}{address}:{sign_in_failures.normal_username(username)}"
    return pair, f"{SIGN_IN_KEY_PREFIX}{address}"


def _limits() -> tuple[int, int, int]:
    config = current_app.config
    return (
        int(config.get("SIGN_IN_MAX_FAILURES", SIGN_IN_MAX_FAILURES)),
        int(config.get("SIGN_IN_MAX_FAILURES_PER_ADDRESS", SIGN_IN_MAX_FAILURES_PER_ADDRESS)),
        int(config.get("SIGN_IN_WINDOW_SECONDS", SIGN_IN_WINDOW_SECONDS)),
    )


def _redis_failures(username: str, address: str) -> tuple[int, int, int, int]:
    """``(pair count, pair ttl, address count, address ttl)`` from Redis; zeros while it is down."""
    if not redis_status.redis_reachable():
        return 0, 0, 0, 0
    pair_key, address_key = _sign_in_keys(username, address)
    pipe = get_redis().pipeline()
    pipe.get(pair_key)
    pipe.ttl(pair_key)
    pipe.get(address_key)
    pipe.ttl(address_key)
    try:
        pair_count, pair_ttl, address_count, address_ttl = pipe.execute()
    except RedisError as exc:
        redis_status.note_redis_down(exc)
        return 0, 0, 0, 0
    return int(pair_count or 0), max(int(pair_ttl), 1), int(address_count or 0), max(int(address_ttl), 1)


def _wait(in_redis: int, ttl: int, in_database: list, limit: int, window: int) -> int:
    """Seconds until the failures of both stores together are below ``limit`` (0: below now).

    Redis's counter goes all at once when its key expires; the database's rows one by one.
    """
    if in_redis + len(in_database) < limit:
        return 0
    if not in_database:
        return ttl
    rows_alone = sign_in_failures.seconds_until_below(in_database, in_redis, limit, window)
    if not in_redis:
        return rows_alone
    return min(rows_alone, max(ttl, sign_in_failures.seconds_until_below(in_database, 0, limit, window)))


def sign_in_retry_after(username: str, address: str) -> int:
    """Return the seconds until ``address`` may try ``username`` again (0 when it may now).

    Counts the failures in Redis and those written to the database while Redis was down.
    """
    per_pair, per_address, window = _limits()
    pair_count, pair_ttl, address_count, address_ttl = _redis_failures(username, address)
    pair_rows, address_rows = sign_in_failures.recent(username, address, window)
    return max(
        _wait(pair_count, pair_ttl, pair_rows, per_pair, window),
        _wait(address_count, address_ttl, address_rows, per_address, window),
    )


@dataclass(frozen=True)
class SignInAttempt:
    """What ``begin_sign_in`` decided: ``wait`` seconds (0: check the password), and whether
    the attempt is already counted as a failure (the database's reservation)."""

    wait: int
    counted: bool = False


def begin_sign_in(username: str, address: str) -> SignInAttempt:
    """Decide whether ``address`` may try ``username``'s password now.

    With Redis: the counters of both stores are read (``sign_in_retry_after``). Without it the
    attempt is counted in the database first, under a lock (``sign_in_failures.reserve``), so
    concurrent requests cannot all slip under the limit.
    """
    if redis_status.redis_reachable():
        return SignInAttempt(sign_in_retry_after(username, address))
    per_pair, per_address, window = _limits()
    if sign_in_failures.reserve(username, address, per_pair, per_address, window):
        return SignInAttempt(0, counted=True)
    return SignInAttempt(max(sign_in_retry_after(username, address), 1))


def record_failed_sign_in(username: str, address: str, attempt: SignInAttempt | None = None) -> None:
    """Count a failed sign-in: in Redis (the counters expire a window after the first failure),
    or in the database while Redis is unreachable; nothing more if ``attempt`` counted it."""
    if attempt is not None and attempt.counted:
        return
    _, _, window = _limits()
    if redis_status.redis_reachable():
        pipe = get_redis().pipeline()
        for key in _sign_in_keys(username, address):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        try:
            pipe.execute()
            return
        except RedisError as exc:
            redis_status.note_redis_down(exc)
    sign_in_failures.record(username, address, window)


def clear_failed_sign_ins(username: str, address: str) -> None:
    """Forget the failures of ``username`` from ``address`` after a successful sign-in (both
    stores; the database's part is committed with the sign-in)."""
    sign_in_failures.clear(username, address)
    if redis_status.redis_reachable():
        try:
            get_redis().delete(_sign_in_keys(username, address)[0])
        except RedisError as exc:
            redis_status.note_redis_down(exc)


def safe_next_url(target: str | None) -> str | None:
    """Return ``target`` when it is a path on this site (not another host), else None.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so a path
    such as slash-tab-slash-host would lead off-site: any whitespace, control character or
    backslash refuses the target outright (a CR or LF would also break the Location header).
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    return target
