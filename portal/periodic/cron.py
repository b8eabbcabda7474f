"""Cron maths in UTC, whatever the server's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crontab import CronTab

# For each expression, the last window (latest tick, next tick) computed: every moment in it
# has the same answers, so the pages' job statuses (two cron questions per job per request,
# ~1 ms each in the crontab package) cost a lookup until the next tick.
_windows: dict[str, tuple[datetime, datetime]] = {}


def _window(cron: str, moment: datetime) -> tuple[datetime, datetime]:
    """``(latest, next)``: the latest tick at or before naive-UTC ``moment`` and the first after it."""
    known = _windows.get(cron)
    if known is not None and known[0] <= moment < known[1]:
        return known
    entry = CronTab(cron)
    aware = moment.replace(tzinfo=UTC)
    before = entry.previous(
        now=aware.replace(microsecond=0) + timedelta(seconds=1), return_datetime=True, default_utc=True
    )
    after = entry.next(now=aware, return_datetime=True, default_utc=True)
    window = (before.astimezone(UTC).replace(tzinfo=None), after.astimezone(UTC).replace(tzinfo=None))
    _windows[cron] = window
    return window


def next_run_after(cron: str, moment: datetime | None = None) -> datetime:
    """Return the next time (naive UTC) ``cron`` fires strictly after ``moment`` (default: now), in UTC."""
    if moment is None:
        moment = datetime.now(UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return _window(cron, moment)[1]


def unix_seconds(moment: datetime) -> int:
    """Return the Unix time of a naive UTC ``moment``."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def latest_tick(cron: str, moment: datetime) -> datetime:
    """Return the latest time (naive UTC) ``cron`` fires at or before ``moment`` (naive UTC)."""
    return _window(cron, moment)[0]


def ticks_between(cron: str, after: datetime, until: datetime) -> list[datetime]:
    """Return the times (naive UTC) ``cron`` fires after ``after`` and at or before ``until``, oldest first.

    Five-field crons fire on whole minutes: each minute is tested against the cron (about
    3 µs a minute, where ``CronTab.next`` takes 0.3 ms a tick: a week of ``*/5`` in 30 ms).
    """
    entry = CronTab(cron)
    minute = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    ticks = []
    while minute <= until:
        if entry.test(minute):
            ticks.append(minute)
        minute += timedelta(minutes=1)
    return ticks
