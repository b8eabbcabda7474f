"""Configuration: the one place that reads the environment.

Everything else reads ``current_app.config`` or receives values as arguments.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.domain.quiet_hours import parse_window
from portal.domain.records import LETTER_LANGUAGES
from portal.domain.rules import ALERT_KINDS

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEVELOPMENT_SECRET = "dev-only-not-secret"


class ConfigError(RuntimeError):
    """A configuration value is missing or malformed; the message names the variable."""


def _decimal(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = env.get(name, default)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value.is_finite():
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if name.endswith("_THRESHOLD") and not (Decimal(0) <= value <= Decimal(100)):
        raise ConfigError(f"{name} must be between 0 and 100, got {raw!r}")
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _minutes_list(env: Mapping[str, str], name: str, default: str) -> tuple[int, ...]:
    raw = env.get(name, default)
    try:
        values = tuple(int(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated whole minutes, got {raw!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ConfigError(f"{name} must list at least one positive delay, got {raw!r}")
    return values


def _zone(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name} must be an IANA time zone such as Asia/Kabul, got {raw!r}") from None
    return raw


def _mail_from(env: Mapping[str, str], name: str, default: str) -> str:
    """The letters' From address; an empty value (``MAIL_FROM=`` in a .env file) is the default."""
    raw = (env.get(name) or "").strip() or default
    if "@" not in raw or any(c in raw for c in "\r\n"):
        raise ConfigError(f"{name} must be an email address such as office@university.example, got {raw!r}")
    return raw


def _quiet_hours(env: Mapping[str, str], name: str) -> str:
    """The quiet-hours window ``HH:MM-HH:MM`` as written back (``21:00-07:00``), or "" (off)."""
    raw = env.get(name, "")
    try:
        window = parse_window(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} {exc}") from None
    return str(window) if window else ""


def _kinds(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    raw = env.get(name) or default
    kinds = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    unknown = [kind for kind in kinds if kind not in ALERT_KINDS]
    if unknown:
        raise ConfigError(f"{name} names unknown alert kinds {', '.join(unknown)} (known: {', '.join(ALERT_KINDS)})")
    return kinds


def _is_none(env: Mapping[str, str], name: str) -> bool:
    """``NAME=none`` turns a list of kinds off (empty means its default)."""
    return (env.get(name) or "").strip().lower() == "none"


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or default).strip()
    for choice in choices:
        if raw.lower() == choice.lower():
            return choice
    raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")


def _networks(env: Mapping[str, str], name: str, default: str) -> tuple[str, ...]:
    raw = env.get(name) or default
    try:
        return tuple(str(ipaddress.ip_network(part.strip(), strict=False)) for part in raw.split(",") if part.strip())
    except ValueError as exc:
        raise ConfigError(f"{name} must be comma-separated networks such as 10.0.0.0/8, got {raw!r}: {exc}") from None


def _sentinels(env: Mapping[str, str], name: str) -> tuple[tuple[str, int], ...]:
    """``host:port,host:port`` (``[::1]:26379`` for IPv6) as ``((host, port), ...)``; empty: ()."""
    raw = env.get(name) or ""
    found: list[tuple[str, int]] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        host, colon, port = part.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ConfigError(f"{name} must be comma-separated host:port pairs such as 10.0.0.5:26379, got {part!r}")
        found.append((host, int(port)))
    if raw.strip() and not found:
        raise ConfigError(f"{name} must list at least one host:port, got {raw!r}")
    return tuple(dict.fromkeys(found))


def redis_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The Redis settings alone (what ``workers/rq_settings.py`` needs for RQ's command line).

    With ``REDIS_SENTINELS`` set, every process asks those sentinels for the master of
    ``REDIS_SENTINEL_MASTER`` (required then); ``REDIS_URL`` still gives the database number
    and the master's password, its host and port are not used. Raises ConfigError naming the
    variable when a value is malformed.
    """
    env = os.environ if env is None else env
    url = env.get("REDIS_URL") or DEFAULT_REDIS_URL
    sentinels = _sentinels(env, "REDIS_SENTINELS")
    master = (env.get("REDIS_SENTINEL_MASTER") or "").strip()
    if sentinels and not master:
        raise ConfigError("REDIS_SENTINEL_MASTER must name the master the sentinels monitor (REDIS_SENTINELS is set)")
    if master and not sentinels:
        raise ConfigError(
            "REDIS_SENTINEL_MASTER is set but REDIS_SENTINELS is not: list the sentinels as host:port,..."
        )
    if sentinels:
        parts = urlsplit(url)
        database = parts.path.strip("/") or "0"
        if parts.scheme not in {"redis", "rediss"} or not database.isdigit():
            raise ConfigError(
                f"REDIS_URL must be redis://[:password@]host/DB (with REDIS_SENTINELS only its password and "
                f"database number are used), got {url!r}"
            )
    return {
        "REDIS_URL": url,
        "REDIS_SENTINELS": sentinels,
        "REDIS_SENTINEL_MASTER": master,
        # The sentinels' own password (their `requirepass`), when they have one.
        "REDIS_SENTINEL_PASSWORD": env.get("REDIS_SENTINEL_PASSWORD", ""),
        # How long a command keeps retrying through the sentinels while they elect a new master.
        "REDIS_FAILOVER_SECONDS": _int(env, "REDIS_FAILOVER_SECONDS", 30, minimum=1),
        # How long a web process trusts its last "is Redis there?" answer (portal/redis_status.py).
        "REDIS_STATUS_SECONDS": _int(env, "REDIS_STATUS_SECONDS", 2, minimum=0),
    }


def _delivery_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The channels' settings: SMTP, webhook (and its signing key), quiet hours."""
    return {
        "SMTP_URL": env.get("SMTP_URL", ""),
        "MAIL_FROM": _mail_from(env, "MAIL_FROM", "attendance-office@university.example"),
        "WEBHOOK_URL": env.get("WEBHOOK_URL", ""),
        # HMAC-SHA256 key of the X-Attendance-Signature header (docs/webhooks.md); empty: unsigned.
        "WEBHOOK_SECRET": env.get("WEBHOOK_SECRET", ""),
        # Email and webhook letters of QUIET_KINDS due inside this local window (in
        # UNIVERSITY_TIMEZONE) wait for its end; empty: off.
        "QUIET_HOURS": _quiet_hours(env, "QUIET_HOURS"),
        "QUIET_KINDS": _kinds(env, "QUIET_KINDS", "warning,tasdiq"),
        # The letters: a student without a language gets DEFAULT_LANGUAGE; the kinds whose
        # letter also goes to the guardian (in the student's language, addressed to them).
        "DEFAULT_LANGUAGE": _choice(env, "DEFAULT_LANGUAGE", tuple(LETTER_LANGUAGES), "fa"),
        "GUARDIAN_KINDS": () if _is_none(env, "GUARDIAN_KINDS") else _kinds(env, "GUARDIAN_KINDS", "mahroom"),
    }


def load_config(env: Mapping[str, str] | None = None, instance_path: str | None = None) -> dict[str, Any]:
    """Return the Flask config built from ``env`` (default: ``os.environ``).

    Raises ConfigError naming the variable when a value is malformed.
    """
    env = os.environ if env is None else env
    instance = Path(instance_path or "instance")
    environment = env.get("FLASK_ENV", env.get("PORTAL_ENV", "production")).lower()
    development = environment in {"development", "dev", "test", "testing"} or _bool(env, "FLASK_DEBUG", False)
    secret = env.get("SECRET_KEY", "")
    if not secret:
        if not development:
            raise ConfigError(
                "SECRET_KEY is not set: set SECRET_KEY to a long random value "
                "(or FLASK_ENV=development for a local, insecure key)"
            )
        secret = DEVELOPMENT_SECRET
    database_url = env.get("DATABASE_URL") or f"sqlite:///{(instance / 'attendance.db').resolve()}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]
    return {
        "ENVIRONMENT": environment,
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        **redis_settings(env),
        **_delivery_settings(env),
        "WARNING_THRESHOLD": _decimal(env, "WARNING_THRESHOLD", "80"),
        "MAHROOM_THRESHOLD": _decimal(env, "MAHROOM_THRESHOLD", "75"),
        "TASDIQ_THRESHOLD": _decimal(env, "TASDIQ_THRESHOLD", "85"),
        "ATTENDANCE_MIN_HELD_HOURS": _decimal(env, "ATTENDANCE_MIN_HELD_HOURS", "0"),
        "RETRY_DELAYS_MINUTES": _minutes_list(env, "RETRY_DELAYS_MINUTES", "15,30,60"),
        "SCAN_BATCH_SIZE": _int(env, "SCAN_BATCH_SIZE", 5000, minimum=1),
        "AUDIT_RETENTION_DAYS": _int(env, "AUDIT_RETENTION_DAYS", 90, minimum=1),
        "AUDIT_ARCHIVE_CHUNK": _int(env, "AUDIT_ARCHIVE_CHUNK", 1000, minimum=1),
        "DELIVERY_TIMEOUT_SECONDS": _int(env, "DELIVERY_TIMEOUT_SECONDS", 10, minimum=1),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 5 * 1024 * 1024, minimum=1024),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env, "SESSION_COOKIE_SECURE", not development),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "LOG_FORMAT": _choice(env, "LOG_FORMAT", ("text", "json"), "text"),
        "LOG_LEVEL": _choice(env, "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), "INFO"),
        # Reverse proxies in front of gunicorn whose X-Forwarded-* headers are trusted (0: none).
        "TRUSTED_PROXY_COUNT": _int(env, "TRUSTED_PROXY_COUNT", 0),
        # /metrics: Bearer METRICS_TOKEN when set, else only from these networks.
        "METRICS_TOKEN": env.get("METRICS_TOKEN", ""),
        "METRICS_ALLOW_NETWORKS": _networks(env, "METRICS_ALLOW_NETWORKS", "127.0.0.1/32,::1/128"),
        "UNIVERSITY_TIMEZONE": _zone(env, "UNIVERSITY_TIMEZONE", "Asia/Kabul"),
        "SIGN_IN_MAX_FAILURES": _int(env, "SIGN_IN_MAX_FAILURES", 5, minimum=1),
        "SIGN_IN_MAX_FAILURES_PER_ADDRESS": _int(env, "SIGN_IN_MAX_FAILURES_PER_ADDRESS", 30, minimum=1),
        "SIGN_IN_WINDOW_SECONDS": _int(env, "SIGN_IN_WINDOW_SECONDS", 15 * 60, minimum=1),
        "LIVE_REFRESH_SECONDS": _int(env, "LIVE_REFRESH_SECONDS", 5, minimum=1),
        # A periodic job's tick not acted on this long after its time is missed (docs/jobs.md).
        "MISSED_TICK_GRACE_SECONDS": _int(env, "MISSED_TICK_GRACE_SECONDS", 120, minimum=1),
    }
