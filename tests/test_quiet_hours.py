"""Quiet hours: the window arithmetic of portal/domain/quiet_hours.py at its edges, and the
settings QUIET_HOURS and QUIET_KINDS as portal/config.py reads (or refuses) them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from portal.config import ConfigError, load_config
from portal.domain.quiet_hours import (
    is_inside,
    is_window_end,
    local_time_label,
    parse_window,
    window_end,
)

KABUL = "Asia/Kabul"  # UTC+04:30 all year
NIGHT = parse_window("21:00-07:00")
NOON = parse_window("12:00-14:00")


def kabul(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """Naive UTC of a Kabul wall-clock time in October 2026."""
    local = datetime(2026, 10, day, hour, minute, second, tzinfo=ZoneInfo(KABUL))
    return local.astimezone(UTC).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("instant", "inside", "end"),
    [
        (kabul(5, 20, 59, 59), False, None),
        (kabul(5, 21, 0), True, kabul(6, 7, 0)),  # the start is inside
        (kabul(5, 23, 59, 59), True, kabul(6, 7, 0)),
        (kabul(6, 0, 0), True, kabul(6, 7, 0)),  # after midnight: ends the same morning
        (kabul(6, 6, 59), True, kabul(6, 7, 0)),
        (kabul(6, 6, 59, 59), True, kabul(6, 7, 0)),
        (kabul(6, 7, 0), False, None),  # the end is not
        (kabul(6, 12, 0), False, None),
    ],
)
def test_a_window_crossing_midnight(instant, inside, end):
    assert is_inside(instant, NIGHT, KABUL) is inside
    assert window_end(instant, NIGHT, KABUL) == end


def test_the_edges_in_utc_are_kabul_time_minus_four_and_a_half_hours():
    assert kabul(5, 21, 0) == datetime(2026, 10, 5, 16, 30)
    assert window_end(datetime(2026, 10, 5, 16, 30), NIGHT, KABUL) == datetime(2026, 10, 6, 2, 30)
    assert window_end(datetime(2026, 10, 5, 16, 29, 59), NIGHT, KABUL) is None
    assert window_end(datetime(2026, 10, 6, 2, 29, 59), NIGHT, KABUL) == datetime(2026, 10, 6, 2, 30)
    assert window_end(datetime(2026, 10, 6, 2, 30), NIGHT, KABUL) is None


@pytest.mark.parametrize(
    ("instant", "end"),
    [
        (kabul(5, 11, 59), None),
        (kabul(5, 12, 0), kabul(5, 14, 0)),
        (kabul(5, 13, 59), kabul(5, 14, 0)),
        (kabul(5, 14, 0), None),
        (kabul(5, 22, 0), None),  # not a window crossing midnight: the night is not quiet
        (kabul(6, 1, 0), None),
    ],
)
def test_a_window_not_crossing_midnight(instant, end):
    assert is_inside(instant, NOON, KABUL) is (end is not None)
    assert window_end(instant, NOON, KABUL) == end


def test_aware_instants_and_zone_objects_give_the_same_answer():
    aware = datetime(2026, 10, 5, 22, 0, tzinfo=ZoneInfo(KABUL))
    assert window_end(aware, NIGHT, ZoneInfo(KABUL)) == window_end(kabul(5, 22, 0), NIGHT, KABUL) == kabul(6, 7, 0)
    assert window_end(aware.astimezone(UTC), NIGHT, KABUL) == datetime(2026, 10, 6, 2, 30)


def test_the_end_is_the_zone_offset_of_that_morning_where_daylight_saving_changes():
    # Berlin springs forward on 2026-03-29 at 02:00 CET (UTC+1) to 03:00 CEST (UTC+2).
    window = parse_window("01:00-04:00")
    night = datetime(2026, 3, 29, 0, 30)  # 01:30 CET
    assert window_end(night, window, "Europe/Berlin") == datetime(2026, 3, 29, 2, 0)  # 04:00 CEST
    assert window_end(datetime(2026, 3, 29, 1, 59), window, "Europe/Berlin") == datetime(2026, 3, 29, 2, 0)
    assert window_end(datetime(2026, 3, 29, 2, 0), window, "Europe/Berlin") is None
    # The evening before: 22:00 CET, the window 21:00-07:00 ends at 07:00 CEST = 05:00 UTC.
    assert window_end(datetime(2026, 3, 28, 21, 0), NIGHT, "Europe/Berlin") == datetime(2026, 3, 29, 5, 0)


def test_a_held_delivery_waits_for_exactly_the_end():
    assert is_window_end(kabul(6, 7, 0), NIGHT, KABUL)
    assert not is_window_end(kabul(6, 7, 1), NIGHT, KABUL)
    assert not is_window_end(kabul(6, 6, 59), NIGHT, KABUL)
    assert not is_window_end(kabul(6, 7, 0), None, KABUL)
    assert local_time_label(datetime(2026, 10, 6, 2, 30), KABUL) == "07:00"
    assert not is_inside(kabul(5, 22, 0), None, KABUL) and window_end(kabul(5, 22, 0), None, KABUL) is None


def test_parse_window():
    assert parse_window("") is None and parse_window("   ") is None
    assert str(parse_window(" 9:05 - 7:00 ")) == "09:05-07:00"
    assert NIGHT.crosses_midnight and not NOON.crosses_midnight
    for bad in ("21:00", "21-07", "21:00-07", "24:00-07:00", "21:60-07:00", "21:00-21:00", "late"):
        with pytest.raises(ValueError):
            parse_window(bad)


def _config(**env: str) -> dict:
    return load_config({"FLASK_ENV": "development", **env}, "/tmp/instance")


def test_quiet_hours_and_webhook_secret_are_off_by_default():
    config = _config()
    assert (config["QUIET_HOURS"], config["QUIET_KINDS"], config["WEBHOOK_SECRET"]) == ("", ("warning", "tasdiq"), "")
    config = _config(QUIET_HOURS=" 21:00 - 7:00", QUIET_KINDS="Tasdiq, warning,mahroom", WEBHOOK_SECRET="k")
    assert (config["QUIET_HOURS"], config["QUIET_KINDS"]) == ("21:00-07:00", ("tasdiq", "warning", "mahroom"))
    assert config["WEBHOOK_SECRET"] == "k"


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("21:00", "look like 21:00-07:00"),
        ("9pm-7am", "look like 21:00-07:00"),
        ("25:00-07:00", "out of range"),
        ("21:00-21:00", "different times"),
    ],
)
def test_bad_quiet_hours_are_refused_naming_the_variable(value, says):
    with pytest.raises(ConfigError, match=f"^QUIET_HOURS .*{says}") as refused:
        _config(QUIET_HOURS=value)
    assert repr(value) in str(refused.value)


def test_unknown_quiet_kinds_are_refused_naming_them():
    with pytest.raises(ConfigError, match="^QUIET_KINDS names unknown alert kinds ikhtar, late ") as refused:
        _config(QUIET_KINDS="warning,ikhtar,late")
    assert "known: warning, mahroom, tasdiq" in str(refused.value)
