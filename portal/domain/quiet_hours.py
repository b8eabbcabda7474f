"""Quiet hours: a daily window of local time in which some letters wait until morning.

Pure arithmetic on instants and a window such as ``21:00-07:00`` (local time of the
university's zone; a window whose start is after its end crosses midnight). Instants are naive
UTC (``portal.clock``) or aware; every instant returned is naive UTC. The start is inside the
window and the end is not: with ``21:00-07:00``, 21:00 and 06:59 are quiet, 07:00 is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class QuietWindow:
    """From ``start`` (inside) to ``end`` (outside), local wall-clock times."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.start > self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@lru_cache(maxsize=32)
def parse_window(text: str) -> QuietWindow | None:
    """Return the window written ``HH:MM-HH:MM``, or None for an empty text (quiet hours off).

    Raises ValueError saying what is wrong (not a window, an hour or minute out of range, or a
    window of no length).
    """
    if not text or not text.strip():
        return None
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError(f"must look like 21:00-07:00 (HH:MM-HH:MM, local time), got {text!r}")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if not (h1 < 24 and h2 < 24 and m1 < 60 and m2 < 60):
        raise ValueError(f"has an hour or minute out of range (00:00 to 23:59), got {text!r}")
    window = QuietWindow(time(h1, m1), time(h2, m2))
    if window.start == window.end:
        raise ValueError(f"must start and end at different times, got {text!r}")
    return window


def _local(instant: datetime, zone: ZoneInfo | str) -> datetime:
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    aware = instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
    return aware.astimezone(zone)


def _naive_utc(local: datetime) -> datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


def is_inside(instant: datetime, window: QuietWindow | None, zone: ZoneInfo | str) -> bool:
    """True when ``instant`` falls inside the window (its local time in ``zone``)."""
    if window is None:
        return False
    clock = _local(instant, zone).time().replace(tzinfo=None)
    if window.crosses_midnight:
        return clock >= window.start or clock < window.end
    return window.start <= clock < window.end


def window_end(instant: datetime, window: QuietWindow | None, zone: ZoneInfo | str) -> datetime | None:
    """When the window holding ``instant`` ends (naive UTC); None when ``instant`` is outside it."""
    if not is_inside(instant, window, zone):
        return None
    local = _local(instant, zone)
    day = local.date()
    if window.crosses_midnight and local.time().replace(tzinfo=None) >= window.start:
        day += timedelta(days=1)  # evening part: the window ends tomorrow morning
    # Built from the wall-clock date and time in the zone, so the zone's offset on that day
    # (daylight saving included) is the one used.
    return _naive_utc(datetime.combine(day, window.end, tzinfo=local.tzinfo))


def is_window_end(instant: datetime, window: QuietWindow | None, zone: ZoneInfo | str) -> bool:
    """True when ``instant`` is exactly the end of a window (to the second): what a held delivery waits for."""
    if window is None:
        return False
    local = _local(instant, zone)
    return local.time().replace(tzinfo=None, microsecond=0) == window.end


def local_time_label(instant: datetime, zone: ZoneInfo | str) -> str:
    """``instant`` as the local ``HH:MM`` in ``zone`` (the retry queue's "held until 07:00")."""
    return f"{_local(instant, zone):%H:%M}"
