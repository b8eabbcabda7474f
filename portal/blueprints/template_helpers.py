"""Jinja filters shared by every page: times, durations, cron in words."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from markupsafe import Markup, escape

from portal import redis_status
from portal.blueprints.run_summaries import summary_parts
from portal.blueprints.status_words import status_word
from portal.clock import iso_utc, utcnow
from portal.domain.cron_words import cron_words
from portal.page_language import LANGUAGE_NAMES, page_language, text_direction
from portal.periodic.pauses import local_text

DEFAULT_LIVE_REFRESH_SECONDS = 5
# The zone's city in the page's words; a zone not listed reads as its own last part (Europe/Berlin: Berlin).
CITY_NAMES = {"Asia/Kabul": lazy_gettext("Kabul"), "UTC": "UTC"}


def _zone() -> str:
    return current_app.config.get("UNIVERSITY_TIMEZONE", "UTC")


def zone_city(zone: str) -> str:
    """The city that names ``zone`` in the words ("Kabul" for Asia/Kabul)."""
    return str(CITY_NAMES.get(zone, zone.rsplit("/", 1)[-1].replace("_", " ")))


def zone_in_words() -> str:
    """The footer's sentence: "Times are Kabul time (UTC+04:30)." at the offset in force now."""
    offset = datetime.now(ZoneInfo(_zone())).strftime("%z")
    return _("Times are %(city)s time (UTC%(offset)s).", city=zone_city(_zone()), offset=f"{offset[:3]}:{offset[3:]}")


def cron_in_words(expression: str | None) -> str:
    """Return a UTC cron expression in words in UNIVERSITY_TIMEZONE ("every day at 06:30 Kabul
    time (02:00 UTC)"); a shape the local words cannot say exactly reads in UTC words."""
    if not expression:
        return ""
    words = cron_words(expression, _zone(), zone_city(_zone()), reference=utcnow(), gettext=_)
    if words:
        return words
    from cron_descriptor import get_description

    try:
        return _("%(words)s (UTC)", words=get_description(expression))
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
    UNIVERSITY_TIMEZONE (``2026-03-01 06:30``), with the UTC time in its ``title``; '—' when absent."""
    moment = _as_datetime(value)
    if moment is None:
        return Markup("—")
    utc = f"{moment:%Y-%m-%dT%H:%M:%S}Z"
    local = moment.replace(tzinfo=UTC).astimezone(ZoneInfo(_zone()))  # the footer names the zone
    return Markup(f'<time datetime="{utc}" title="{escape(when(moment))}">{local:%Y-%m-%d %H:%M}</time>')


def age(value) -> str:
    """Return how long ago (or, for a future time, how far ahead) ``value`` is, in words."""
    moment = _as_datetime(value)
    if moment is None:
        return "—"
    seconds = int((utcnow() - moment).total_seconds())
    if seconds >= 0:
        return _("%(span)s ago", span=seconds_in_words(seconds))
    return _("%(span)s from now", span=seconds_in_words(-seconds))


def seconds_in_words(seconds: float | int | None) -> str:
    """Return a span in seconds as ``45 s``, ``12 min``, ``3 h 5 min`` or ``2 d 4 h``."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return _("%(seconds)d s", seconds=seconds)
    if seconds < 3600:
        return _("%(minutes)d min", minutes=seconds // 60)
    if seconds < 86400:
        return _("%(hours)d h %(minutes)d min", hours=seconds // 3600, minutes=seconds % 3600 // 60)
    return _("%(days)d d %(hours)d h", days=seconds // 86400, hours=seconds % 86400 // 3600)


def duration(value) -> str:
    """Return a duration given in milliseconds (or seconds as a float) in words."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):  # seconds
        value = value * 1000
    value = int(value)
    if value < 1000:
        return _("%(ms)d ms", ms=value)
    if value < 60_000:
        return _("%(seconds).1f s", seconds=value / 1000)
    return seconds_in_words(value // 1000)


def register_template_helpers(app: Flask) -> None:
    """Install the filters and the values every template may use."""
    app.add_template_global(status_word, "status_text")
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
    def _page_values():
        seconds = app.config.get("LIVE_REFRESH_SECONDS", DEFAULT_LIVE_REFRESH_SECONDS)
        language = page_language()
        return {
            "live_refresh_ms": int(float(seconds) * 1000),
            "page_lang": language,
            "page_dir": text_direction(language),
            "language_names": LANGUAGE_NAMES,
            "zone_in_words": zone_in_words,
        }
