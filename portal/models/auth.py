"""Portal users (admin or viewer) and their API tokens (stored hashed, scoped, expiring, revocable)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db

ROLES = ("admin", "viewer")
# What a token may reach (see portal.auth.require_api_role): ``admin`` every API endpoint (with
# its user's role), ``inbox`` only the student endpoints, ``attendance`` only POST /api/attendance.
TOKEN_SCOPES = ("admin", "inbox", "attendance")


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(8), default="viewer")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")  # the pages' language

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    __table_args__ = (
        CheckConstraint("role IN ('admin', 'viewer')", name="role_known"),
        CheckConstraint("language IN ('en', 'fa')", name="language_known"),
    )

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def session_stamp(self) -> str:
        """A keyed digest of the password hash: it changes with every password reset."""
        key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
        return hmac.new(key, self.password_hash.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    def get_id(self) -> str:  # Flask-Login: what the session cookie keeps
        # The stamp makes a password reset end the user's open sessions (portal.auth._load_user);
        # a digest, so the cookie reveals nothing of the password hash.
        return f"{self.id}:{self.session_stamp}"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    scope: Mapped[str] = mapped_column(String(16), default="admin", server_default="admin")
    # None: never expires. A token is refused from this moment on (naive UTC).
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)

    user: Mapped[User] = relationship(back_populates="tokens")

    __table_args__ = (CheckConstraint("scope IN ('admin', 'inbox', 'attendance')", name="scope_known"),)


class SignInFailure(db.Model):
    """A failed sign-in counted in the database while Redis (the usual counter) is unreachable.

    Rows older than the window are pruned as new ones are written (portal/sign_in_failures.py).
    """

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))  # as typed, stripped and lowercased
    address: Mapped[str] = mapped_column(String(64))
    failed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (
        Index("ix_sign_in_failures_address_username_failed_at", "address", "username", "failed_at"),
        Index("ix_sign_in_failures_failed_at", "failed_at"),
    )
