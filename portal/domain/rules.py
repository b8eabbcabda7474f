"""Which alert kinds hold for a (student, course), and which alerts to open or resolve.

See docs/rules.md for the rules in plain words with worked examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from portal.domain.rates import HourTotals, attendance_rate, presence_rate, rate_at_most, rate_below

WARNING = "warning"
MAHROOM = "mahroom"
TASDIQ = "tasdiq"
ALERT_KINDS = (WARNING, MAHROOM, TASDIQ)


@dataclass(frozen=True)
class Thresholds:
    """Rule thresholds in percent, and the held hours needed before anything is evaluated."""

    warning: Decimal = Decimal(80)
    mahroom: Decimal = Decimal(75)
    tasdiq: Decimal = Decimal(85)
    min_held_hours: Decimal = Decimal(0)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Thresholds:
        """Build thresholds from a config mapping (WARNING_THRESHOLD, MAHROOM_THRESHOLD, ...)."""
        return cls(
            warning=Decimal(config["WARNING_THRESHOLD"]),
            mahroom=Decimal(config["MAHROOM_THRESHOLD"]),
            tasdiq=Decimal(config["TASDIQ_THRESHOLD"]),
            min_held_hours=Decimal(config.get("ATTENDANCE_MIN_HELD_HOURS", 0)),
        )

    def for_kind(self, kind: str) -> Decimal:
        """Return the threshold that ``kind`` is measured against."""
        return {WARNING: self.warning, MAHROOM: self.mahroom, TASDIQ: self.tasdiq}[kind]


# Up to 6 decimal places in a threshold keep every product within int8 (hours < 10^8).
MAX_INT8_THRESHOLD_PLACES = 6


def scaled_rules(thresholds: Thresholds) -> dict[str, int]:
    """Return the thresholds as whole numbers over hours in hundredths, exactly, for SQL.

    ``100 * (held - absent) < warning * held`` holds exactly when
    ``scale * (H - A) < W * H``, with H and A the hours in hundredths, ``W = warning * 10^p``
    and ``scale = 100 * 10^p`` for p the most decimal places of any threshold
    (the same for mahroom and tasdiq); ``held >= min_held`` when ``H >= ceil(100 * min_held)``.
    Every SQL comparison of a rate against a threshold (the scan's pre-filter, the per-course
    statistics) is written from these numbers, so they count exactly what ``evaluate`` decides.
    """
    kinds = {WARNING: thresholds.warning, MAHROOM: thresholds.mahroom, TASDIQ: thresholds.tasdiq}
    places = max(max(0, -int(value.as_tuple().exponent)) for value in kinds.values())
    factor = 10**places
    rules = {name: int(value * factor) for name, value in kinds.items()}
    return {**rules, "scale": 100 * factor, "min_held": math.ceil(thresholds.min_held_hours * 100)}


def integer_rules(thresholds: Thresholds) -> dict[str, int] | None:
    """Return ``scaled_rules`` when every product fits in int8 (thresholds of at most 6
    decimal places), else None: the scan then evaluates every pair instead of pre-filtering."""
    rules = scaled_rules(thresholds)
    if rules["scale"] > 100 * 10**MAX_INT8_THRESHOLD_PLACES:
        return None
    return rules


@dataclass(frozen=True)
class Evaluation:
    """The outcome of evaluating one (student, course): the kinds whose condition holds."""

    holding: frozenset[str]
    totals: HourTotals

    @property
    def attendance_rate(self) -> Decimal:
        """The attendance rate for display (computed only when a message or alert needs it)."""
        return attendance_rate(self.totals)  # type: ignore[return-value]

    @property
    def presence_rate(self) -> Decimal:
        """The presence rate for display."""
        return presence_rate(self.totals)  # type: ignore[return-value]

    def rate_for(self, kind: str) -> Decimal:
        """Return the rate a kind is about: the presence rate for tasdiq, else the attendance rate."""
        return self.presence_rate if kind == TASDIQ else self.attendance_rate


def evaluate(totals: HourTotals, thresholds: Thresholds) -> Evaluation | None:
    """Return which alert kinds hold for ``totals``, or None when there is nothing to evaluate.

    Nothing is evaluated when no hours were held or fewer than ``min_held_hours``: no alert
    opens and none resolves. Comparisons are exact: 80.00 % is no warning, 75.00 % is
    mahroom, 85.00 % is no tasdiq.
    """
    if totals.held <= 0 or totals.held < thresholds.min_held_hours:
        return None
    holding = set()
    if rate_below(totals.attended, totals.held, thresholds.warning):
        holding.add(WARNING)
    if rate_at_most(totals.attended, totals.held, thresholds.mahroom):
        holding.add(MAHROOM)
    if totals.excused > 0 and rate_below(totals.present, totals.held, thresholds.tasdiq):
        holding.add(TASDIQ)
    return Evaluation(frozenset(holding), totals)


@dataclass(frozen=True)
class AlertChanges:
    """What one evaluation changes: kinds to open (with their suppressed flag) and to resolve."""

    to_open: tuple[tuple[str, bool], ...]
    to_resolve: frozenset[str]


def alert_changes(holding: frozenset[str], open_kinds: frozenset[str]) -> AlertChanges:
    """Return the alerts to open and resolve, given the kinds that hold and the kinds already open.

    An alert opens when its condition holds and none of its kind is open (one per crossing);
    an open alert resolves when its condition no longer holds. Escalation: a warning that
    opens while mahroom holds is opened suppressed (no notification); only mahroom is sent.
    """
    new = holding - open_kinds
    to_open = tuple((kind, kind == WARNING and MAHROOM in holding) for kind in ALERT_KINDS if kind in new)
    return AlertChanges(to_open=to_open, to_resolve=frozenset(open_kinds - holding))
