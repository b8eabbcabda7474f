"""Jinja filters shared by every page: times, durations, cron in words."""

from __future__ import annotations

from datetime import datetime

from flask import Flask
from markupsafe import Markup, escape

from portal import redis_status
from portal.blueprints.run_summaries import summary_parts
from portal.clock import iso_utc, utcnow
from portal.periodic.pauses import local_text

DEFAULT_LIVE_REFRESH_SECONDS = 5


def cron_in_words(expression: str | None) -> str:
    """Return a cron expression in English (``*/15 * * * *`` -> "Every 15 minutes"), UTC."""
    if not expression:
        return ""
    from cron_descriptor import get_description

    try:
        return f"{get_description(expression)} (UTC)"
    except Exception:  # an odd expression still shows as cron next to this
        return expression


def _as_datetime(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else datetime.fromisoformat(iso_utc(value)[:-1])
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return datetime.fromisoformat(iso_utc(parsed)[:-1]) if parsed.tzinfo else parsed


def when(value) -> str:
    """Return a time (datetime or ISO string, UTC) as ``2025-01-31 14:05 UTC``; '—' when absent."""
    moment = _as_datetime(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "—"


def local_time(value) -> Markup:
    """Return a time (naive UTC datetime or ISO string) as a ``<time>`` element showing it in
    UNIVERSITY_TIMEZONE, with the UTC time in its ``title``; '—' when absent."""
    moment = _as_datetime(value)
    if moment is None:
        return Markup("—")
    utc = f"{moment:%Y-%m-%dT%H:%M:%S}Z"
    return Markup(f'<time datetime="{utc}" title="{escape(when(moment))}">{escape(local_text(moment))}</time>')


def age(value) -> str:
    """Return how long ago (or, for a future time, how far ahead) ``value`` is, in words."""
    moment = _as_datetime(value)
    if moment is None:
        return "—"
    seconds = int((utcnow() - moment).total_seconds())
    suffix = "ago" if seconds >= 0 else "from now"
    return f"{seconds_in_words(abs(seconds))} {suffix}"


def seconds_in_words(seconds: float | int | None) -> str:
    """Return a span in seconds as ``45 s``, ``12 min``, ``3 h 5 min`` or ``2 d 4 h``."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def duration(value) -> str:
    """Return a duration given in milliseconds (or seconds as a float) in words."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):  # seconds
        value = value * 1000
    value = int(value)
    if value < 1000:
        return f"{value} ms"
    if value < 60_000:
        return f"{value / 1000:.1f} s"
    return seconds_in_words(value // 1000)


def register_template_helpers(app: Flask) -> None:
    """Install the filters and the values every template may use."""
    app.add_template_filter(cron_in_words, "cron_words")
    app.add_template_filter(when, "when")
    app.add_template_filter(age, "age")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(seconds_in_words, "seconds")
    app.add_template_filter(local_text, "local_when")
    app.add_template_filter(summary_parts, "summary_parts")
    app.add_template_filter(local_time, "local_time")

    # Called by the layout only (fragments never ask): the banner every page shows while Redis is down.
    app.add_template_global(redis_status.down_health, "redis_down_health")

    @app.context_processor
    def _live_refresh():
        seconds = app.config.get("LIVE_REFRESH_SECONDS", DEFAULT_LIVE_REFRESH_SECONDS)
        return {"live_refresh_ms": int(float(seconds) * 1000)}
