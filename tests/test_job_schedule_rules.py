"""The pure rules of periodic-job ticks and pauses (``portal/domain/job_schedule.py``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from portal.domain.job_schedule import (
    LedgerRow,
    TickPlan,
    TickRecord,
    parse_local_time,
    parse_span,
    pause_end,
    plan_ticks,
    tick_ledger,
)

GRACE = timedelta(minutes=2)


def t(hour: int, minute: int) -> datetime:
    return datetime(2026, 11, 20, hour, minute)


@pytest.mark.parametrize("policy", ["once", "skip"])
def test_a_single_tick_within_its_grace_runs_on_time_whatever_the_policy(policy):
    assert plan_ticks([t(2, 0)], t(2, 2), GRACE, policy) == TickPlan(run_tick=t(2, 0))
    assert plan_ticks([], t(2, 2), GRACE, policy) == TickPlan()


def test_once_runs_the_newest_tick_and_covers_every_missed_one():
    due = [t(2, 0), t(2, 5), t(2, 10)]
    assert plan_ticks(due, t(2, 10), GRACE, "once") == TickPlan(run_tick=t(2, 10), catch_up_from=t(2, 0))
    assert plan_ticks(due, t(2, 13), GRACE, "once") == TickPlan(run_tick=t(2, 10), catch_up_from=t(2, 0))


def test_skip_records_the_missed_ticks_and_runs_only_a_tick_within_its_grace():
    due = [t(2, 0), t(2, 5), t(2, 10)]
    assert plan_ticks(due, t(2, 11), GRACE, "skip") == TickPlan(run_tick=t(2, 10), skip_from=t(2, 0), skip_to=t(2, 5))
    assert plan_ticks(due, t(2, 12) + timedelta(seconds=1), GRACE, "skip") == TickPlan(
        skip_from=t(2, 0), skip_to=t(2, 10)
    )


def test_an_unknown_policy_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown missed-tick policy 'twice'"):
        plan_ticks([t(2, 0)], t(2, 0), GRACE, "twice")


def test_the_ledger_marks_each_tick_by_what_holds_or_covers_it():
    expected = [t(1, 50), t(1, 55), t(2, 0), t(2, 5), t(2, 10), t(2, 15)]
    records = [
        TickRecord(t(1, 50), None, 1, "success"),
        TickRecord(t(2, 0), t(1, 55), 2, "skipped", skipped_by_policy=True),
        TickRecord(t(2, 10), t(2, 5), 3, "success"),
    ]
    rows = tick_ledger(expected, records, t(2, 16), GRACE)
    assert rows == [
        LedgerRow(t(2, 15), "due"),
        LedgerRow(t(2, 10), "caught-up", 3, "success"),
        LedgerRow(t(2, 5), "caught-up", 3, "success"),
        LedgerRow(t(2, 0), "skipped", 2, "skipped"),
        LedgerRow(t(1, 55), "skipped", 2, "skipped"),
        LedgerRow(t(1, 50), "on-time", 1, "success"),
    ]
    paused = tick_ledger([t(3, 0), t(4, 0)], [], t(5, 0), GRACE, paused=[(t(2, 30), t(3, 30))])
    assert [row.state for row in paused] == ["missed", "paused"]


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("3h", timedelta(hours=3)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(minutes=90)),
    ],
)
def test_durations(text, span):
    assert parse_span(text) == span


def test_local_times_are_read_in_the_zone_unless_they_carry_an_offset():
    assert parse_local_time("2026-12-24T06:00", "Asia/Kabul") == datetime(2026, 12, 24, 1, 30)
    assert parse_local_time("2026-12-24T06:00Z", "Asia/Kabul") == datetime(2026, 12, 24, 6, 0)
    assert parse_local_time("2026-12-24T06:00+03:00", "Asia/Kabul") == datetime(2026, 12, 24, 3, 0)


def test_a_pause_ends_in_the_future_by_one_means_only():
    now = t(8, 0)
    assert pause_end(now) is None
    assert pause_end(now, span=timedelta(hours=3)) == t(11, 0)
    with pytest.raises(ValueError, match="not both"):
        pause_end(now, until=t(9, 0), span=timedelta(hours=1))
    with pytest.raises(ValueError, match="must end in the future"):
        pause_end(now, until=now)
