"""Cron maths in UTC, whatever the server's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crontab import CronTab


def next_run_after(cron: str, moment: datetime | None = None) -> datetime:
    """Return the next time (naive UTC) ``cron`` fires strictly after ``moment`` (default: now), in UTC."""
    if moment is None:
        moment = datetime.now(UTC)
    elif moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    nxt = CronTab(cron).next(now=moment, return_datetime=True, default_utc=True)
    return nxt.astimezone(UTC).replace(tzinfo=None)


def unix_seconds(moment: datetime) -> int:
    """Return the Unix time of a naive UTC ``moment``."""
    return int(moment.replace(tzinfo=UTC).timestamp())


def latest_tick(cron: str, moment: datetime) -> datetime:
    """Return the latest time (naive UTC) ``cron`` fires at or before ``moment`` (naive UTC)."""
    aware = moment.replace(tzinfo=UTC, microsecond=0) + timedelta(seconds=1)
    previous = CronTab(cron).previous(now=aware, return_datetime=True, default_utc=True)
    return previous.astimezone(UTC).replace(tzinfo=None)


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
