"""Cron maths in UTC, whatever the server's time zone."""

from __future__ import annotations

from datetime import UTC, datetime

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
