"""Attendance and presence rates, computed exactly from hour totals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext

HUNDRED = Decimal(100)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class HourTotals:
    """One (student, course)'s hours so far: all held hours, absent hours, sick + leave hours."""

    held: Decimal
    absent: Decimal
    excused: Decimal

    @property
    def attended(self) -> Decimal:
        """Hours that count for the attendance rate: held minus absent (late is present)."""
        return self.held - self.absent

    @property
    def present(self) -> Decimal:
        """Hours actually in class: held minus absent minus sick/leave."""
        return self.held - self.absent - self.excused


def two_places(value: Decimal) -> Decimal:
    """Return ``value`` cut to two decimal places, rounded *down*: the one display rule of every
    rate and average the system shows (alerts, letters, pages, the summary cache, the API)."""
    return value.quantize(CENT, rounding=ROUND_FLOOR)


def display_rate(part: Decimal, held: Decimal) -> Decimal | None:
    """Return 100 × part / held rounded *down* to two places, or None when nothing was held.

    Rounding down means a shown rate never overstates attendance: a student at 79.996 % is
    shown 79.99 %, consistent with the warning (< 80) they received. Rules never compare this
    rounded value; they compare exactly (see ``rate_below`` and ``rate_at_most``).
    """
    if held <= 0:
        return None
    with localcontext() as ctx:
        ctx.prec = 40
        return two_places(HUNDRED * part / held)


def format_percent(value: Decimal) -> str:
    """Write a rate or threshold as letters and pages show it: at least two places (75 -> "75.00"),
    more only when the value has them (a configured 79.995 stays "79.995", never "80.00")."""
    value = Decimal(value)
    return str(value if value.as_tuple().exponent < -2 else value.quantize(CENT))


def attendance_rate(totals: HourTotals) -> Decimal | None:
    """Return the attendance rate 100 × (held − absent) / held (two places, rounded down)."""
    return display_rate(totals.attended, totals.held)


def presence_rate(totals: HourTotals) -> Decimal | None:
    """Return the presence rate 100 × (held − absent − excused) / held (two places, rounded down)."""
    return display_rate(totals.present, totals.held)


def rate_below(part: Decimal, held: Decimal, threshold: Decimal) -> bool:
    """True when 100 × part / held < threshold, decided exactly (no division, no rounding)."""
    return HUNDRED * part < threshold * held


def rate_at_most(part: Decimal, held: Decimal, threshold: Decimal) -> bool:
    """True when 100 × part / held ≤ threshold, decided exactly (no division, no rounding)."""
    return HUNDRED * part <= threshold * held
