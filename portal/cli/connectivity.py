"""Clear one-line messages, naming the variable, when the database or Redis is unreachable."""

from __future__ import annotations

import functools
from collections.abc import Callable

import click
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from portal.extensions import db
from portal.queues import RedisUnavailable, check_redis, redis_location


def _redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is reported as it is
        return url


def database_message(exc: Exception) -> str:
    url = _redacted(current_app.config["SQLALCHEMY_DATABASE_URI"])
    reason = (
        str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        if str(getattr(exc, "orig", exc)).strip()
        else type(exc).__name__
    )
    return f"The database is not reachable at DATABASE_URL={url}: {reason}"


def check_database() -> None:
    """Raise ClickException naming DATABASE_URL when the database does not answer."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect gets the same clear message
        raise click.ClickException(database_message(exc)) from None


def check_redis_or_fail() -> None:
    """Raise ClickException naming REDIS_URL (or REDIS_SENTINELS) when Redis does not answer."""
    try:
        check_redis(current_app.config)
    except RedisUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def needs_database(command: Callable) -> Callable:
    """Decorate a command: check the database first and turn connection errors into one clear line."""

    @functools.wraps(command)
    def wrapped(*args, **kwargs):
        check_database()
        try:
            return command(*args, **kwargs)
        except (OperationalError, ProgrammingError) as exc:
            if (
                isinstance(exc, ProgrammingError)
                and "does not exist" not in str(exc)
                and "no such table" not in str(exc)
            ):
                raise
            if "no such table" in str(exc) or "does not exist" in str(exc):
                raise click.ClickException(
                    "The database has no schema yet: run 'flask --app wsgi db upgrade' first."
                ) from None
            raise click.ClickException(database_message(exc)) from None
        except RedisError as exc:
            raise click.ClickException(
                f"Redis is not reachable at {redis_location(current_app.config)}: {exc}"
            ) from None
        except RedisUnavailable as exc:  # refused before any change (portal/redis_status.py)
            raise click.ClickException(str(exc)) from None

    return wrapped
