"""Ticks of periodic jobs: what to run for the ticks that are due, the ledger of expected ticks,
and the end of a pause.

Pure functions on naive UTC instants (``portal.clock``). A *tick* is one time a job's cron
fires. A tick is served on time when the scheduler acts on it within the grace period; after
that it is *missed*, and the job's missed-tick policy decides what happens:

- ``once``: one catch-up run serves the newest missed tick and covers the older ones;
- ``skip``: the missed ticks are recorded as skipped; only a tick still within its grace runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

MISSED_TICK_POLICIES = ("once", "skip")


@dataclass(frozen=True)
class TickPlan:
    """What to do for the due ticks: at most one run, and at most one record of skipped ticks.

    ``run_tick`` is the tick a run serves (None: no run); ``catch_up_from`` the oldest missed tick
    that run covers (None: it is an on-time run). ``skip_from``/``skip_to`` bound the ticks
    recorded as skipped (both None: none).
    """

    run_tick: datetime | None = None
    catch_up_from: datetime | None = None
    skip_from: datetime | None = None
    skip_to: datetime | None = None


def plan_ticks(due: list[datetime], now: datetime, grace: timedelta, policy: str) -> TickPlan:
    """Return what to do for ``due`` (the unserved ticks up to ``now``, oldest first).

    The newest tick runs on time when it is at most ``grace`` old; every other due tick is
    missed and handled by ``policy`` (``once`` or ``skip``). Raises ValueError for another policy.
    """
    if policy not in MISSED_TICK_POLICIES:
        raise ValueError(f"unknown missed-tick policy {policy!r}; expected one of {', '.join(MISSED_TICK_POLICIES)}")
    if not due:
        return TickPlan()
    newest = due[-1]
    on_time = now - newest <= grace
    missed = due[:-1] if on_time else due
    if not missed:
        return TickPlan(run_tick=newest)
    if policy == "once":
        return TickPlan(run_tick=newest, catch_up_from=missed[0])
    return TickPlan(run_tick=newest if on_time else None, skip_from=missed[0], skip_to=missed[-1])


# --- the ledger of expected ticks ---------------------------------------------------------


@dataclass(frozen=True)
class TickRecord:
    """A row that holds a tick: a run (``skipped_by_policy`` False) or a skip record."""

    tick: datetime
    covers_from: datetime | None
    run_id: int
    status: str
    skipped_by_policy: bool = False


@dataclass(frozen=True)
class LedgerRow:
    """One expected tick and what served it.

    ``state``: ``on-time`` (a run served it), ``caught-up`` (a catch-up run served or covered it),
    ``skipped`` (the skip policy passed over it), ``paused`` (the job was stopped then),
    ``missed`` (nothing served it and its grace is over) or ``due`` (within its grace).
    """

    tick: datetime
    state: str
    run_id: int | None = None
    run_status: str | None = None


def tick_ledger(
    expected: list[datetime],
    records: list[TickRecord],
    now: datetime,
    grace: timedelta,
    paused: list[tuple[datetime, datetime]] = (),
) -> list[LedgerRow]:
    """Return one row per expected tick (newest first): the record holding or covering it, else
    ``paused`` (inside one of the ``paused`` spans, start inclusive), ``missed`` or ``due``."""
    held = {record.tick: record for record in records}
    spans = sorted(
        ((record.covers_from or record.tick, record.tick, record) for record in records if record.covers_from),
        key=lambda span: span[0],
    )
    rows = []
    for tick in sorted(expected, reverse=True):
        record = held.get(tick) or next((r for start, end, r in spans if start <= tick <= end), None)
        if record is not None:
            if record.skipped_by_policy:
                state = "skipped"
            else:
                state = "caught-up" if record.covers_from is not None else "on-time"
            rows.append(LedgerRow(tick, state, record.run_id, record.status))
        elif any(start <= tick < end for start, end in paused):
            rows.append(LedgerRow(tick, "paused"))
        else:
            rows.append(LedgerRow(tick, "missed" if now - tick > grace else "due"))
    return rows


# --- the end of a pause -------------------------------------------------------------------

_SPAN = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m(?:in)?)?\s*$", re.IGNORECASE)


def parse_span(text: str) -> timedelta:
    """Return ``3h``, ``90m``, ``2d``, ``1h30m`` as a timedelta; raise ValueError saying what is wrong."""
    match = _SPAN.match(text or "")
    if not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration: write it as 3h, 90m, 2d or 1h30m")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    span = timedelta(days=days, hours=hours, minutes=minutes)
    if span <= timedelta(0):
        raise ValueError(f"{text!r} is not a duration longer than zero")
    return span


def parse_local_time(text: str, zone: str) -> datetime:
    """Return ``2026-12-24T06:00`` (wall-clock time in ``zone``; an explicit offset or ``Z``
    wins) as naive UTC; raise ValueError saying what is wrong."""
    try:
        moment = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time: write it as 2026-12-24T06:00") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment.astimezone(UTC).replace(tzinfo=None)


def pause_end(now: datetime, until: datetime | None = None, span: timedelta | None = None) -> datetime | None:
    """Return when a pause that starts at ``now`` ends (``until``, or ``now + span``), or None for
    a pause without an end; raise ValueError when both are given or the end is not in the future."""
    if until is not None and span is not None:
        raise ValueError("give either an end time or a duration, not both")
    end = until if until is not None else (now + span if span is not None else None)
    if end is not None and end <= now:
        raise ValueError(f"the pause must end in the future; {end.isoformat(timespec='minutes')} UTC has passed")
    return end
