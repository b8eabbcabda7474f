"""A cron expression (UTC, as the scheduler reads it) in words, in the university's local time.

``0 2 * * *`` in Asia/Kabul reads "Every day at 06:30 Kabul time (02:00 UTC)": the office
thinks in Kabul time, the operators in UTC, and both read the same line. Interval crons
(``*/15 * * * *``) need no zone. Fixed minutes and hours are converted through ``zoneinfo``
at a reference instant (so a zone with daylight saving gets the offset in force then). When a
conversion moves a time into the next or the previous day, the day of the week moves with it
("Every Tuesday at 02:30 Kabul time (Monday 22:00 UTC)"); a cron whose day of the month would
move, or any other shape, falls back to the caller's UTC words.

Plain Python: the words arrive through the caller's ``gettext`` (``_(text, **values)``), so the
Dari pages get Dari words; without one they are English.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

Translate = Callable[..., str]


def _english(text: str, **values) -> str:
    return text % values if values else text


def _numbers(field: str, highest: int) -> list[int] | None:
    """The values of a cron field made of plain numbers (``5``, ``1,3``), else None."""
    parts = field.split(",")
    if not all(part.isdigit() for part in parts):
        return None
    values = sorted({int(part) for part in parts})
    return values if values[-1] <= highest else None


def _weekday_names(_: Translate) -> list[str]:
    """Cron's day numbers (0 and 7 are Sunday) to names, in the caller's language."""
    return [_("Sunday"), _("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday")]


def _interval_words(minute: str, hour: str, _: Translate) -> str | None:
    """Crons that repeat within the hour or day and need no zone, else None."""
    if hour != "*":
        return None
    if minute == "*":
        return _("Every minute")
    if minute.startswith("*/") and minute[2:].isdigit():
        return _("Every %(count)d minutes", count=int(minute[2:]))
    return None


def _local(utc_hour: int, utc_minute: int, zone: ZoneInfo, reference: datetime) -> tuple[datetime, int]:
    """The local time of ``utc_hour:utc_minute`` on the reference day and the days it moved (-1, 0, 1)."""
    utc = reference.astimezone(UTC).replace(hour=utc_hour, minute=utc_minute, second=0, microsecond=0)
    local = utc.astimezone(zone)
    return local, (local.date() - utc.date()).days


def cron_words(
    expression: str,
    zone_name: str,
    city: str,
    *,
    reference: datetime | None = None,
    gettext: Translate | None = None,
) -> str | None:
    """Return ``expression`` (a UTC cron) in words in ``zone_name`` (``city`` names the zone in
    the words: "Kabul"), or None when this module cannot say it exactly (the caller falls back
    to the UTC words). ``reference`` (aware or naive UTC; default now) picks the offset."""
    _ = gettext or _english
    fields = expression.split()
    if len(fields) != 5:
        return None
    minute, hour, day, month, weekday = fields
    if (day, month, weekday) == ("*", "*", "*"):
        words = _interval_words(minute, hour, _)
        if words:
            return words
    minutes, hours = _numbers(minute, 59), None if hour == "*" else _numbers(hour, 23)
    if minutes is None or (hours is None and hour != "*") or (day, month) != ("*", "*"):
        return None
    zone = ZoneInfo(zone_name)
    moment = reference or datetime.now(UTC)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if hours is None:
        return _hourly(minutes, zone, moment, city, _) if weekday == "*" else None
    times = [(h, m, *_local(h, m, zone, moment)) for h in hours for m in minutes]
    local_text = ", ".join(f"{local:%H:%M}" for _h, _m, local, _shift in sorted(times, key=lambda t: t[2].time()))
    utc_text = ", ".join(f"{h:02d}:{m:02d}" for h, m, _local_time, _shift in times)
    same_zone = all(local.utcoffset() == timedelta(0) for _h, _m, local, _shift in times)
    if weekday == "*":
        if same_zone:
            return _("Every day at %(utc)s UTC", utc=utc_text)
        return _("Every day at %(local)s %(city)s time (%(utc)s UTC)", local=local_text, city=city, utc=utc_text)
    return _weekly(weekday, times, local_text, utc_text, city, same_zone, _)


def _hourly(minutes: list[int], zone: ZoneInfo, moment: datetime, city: str, _: Translate) -> str:
    utc_text = ", ".join(str(m) for m in minutes)
    local_minutes = sorted(_local(moment.astimezone(UTC).hour, m, zone, moment)[0].minute for m in minutes)
    if local_minutes == minutes:  # a whole-hour offset: the minute reads the same everywhere
        return _("Every hour at minute %(minute)s", minute=utc_text)
    local_text = ", ".join(str(m) for m in local_minutes)
    return _(
        "Every hour at minute %(local)s %(city)s time (minute %(utc)s UTC)", local=local_text, city=city, utc=utc_text
    )


def _weekly(weekday: str, times: list, local_text: str, utc_text: str, city: str, same_zone: bool, _: Translate):
    days = _numbers(weekday, 7)
    shifts = {shift for _h, _m, _local_time, shift in times}
    if days is None or len(shifts) != 1:  # times that land on different local days: say it in UTC
        return None
    names = _weekday_names(_)
    utc_days = sorted({d % 7 for d in days})
    shift = next(iter(shifts))
    local_days = sorted({(d + shift) % 7 for d in utc_days})
    utc_names = ", ".join(names[d] for d in utc_days)
    if same_zone:
        return _("Every %(days)s at %(utc)s UTC", days=utc_names, utc=utc_text)
    return _(
        "Every %(days)s at %(local)s %(city)s time (%(utc_days)s %(utc)s UTC)",
        days=", ".join(names[d] for d in local_days),
        local=local_text,
        city=city,
        utc_days=utc_names,
        utc=utc_text,
    )
