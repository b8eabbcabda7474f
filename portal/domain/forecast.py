"""The forecast: how many more hours a student may miss before the end-of-term rates cross.

With the term's planned hours P, the absent hours A so far and the thresholds W (warning) and
M (mahroom), the end-of-term attendance rate is (P - A') / P for the absent hours A' at the
end. The student stays out of mahroom (rate <= M) only while A' < (1 - M/100) x P and out of
warning (rate < W) only while A' <= (1 - W/100) x P. The limits are exact decimals (hundredths
of an hour times a threshold of up to 6 places), never rounded towards the safe side.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Forecast:
    """A (student, course, term)'s limits on absent hours, from the planned hours."""

    planned: Decimal
    absent: Decimal
    warning_limit: Decimal  # out of warning at the end while absent <= this
    mahroom_limit: Decimal  # out of mahroom at the end while absent < this

    @property
    def hours_left_before_mahroom(self) -> Decimal:
        """More absent hours that bar the student (0 or less: mahroom is certain)."""
        return plain(self.mahroom_limit - self.absent)

    @property
    def hours_left_before_warning(self) -> Decimal:
        """More absent hours the student may miss and still end out of warning (negative: certain)."""
        return plain(self.warning_limit - self.absent)

    @property
    def mahroom_certain(self) -> bool:
        """True when the absences so far already bar the student at the end of the term."""
        return self.absent >= self.mahroom_limit

    @property
    def warning_certain(self) -> bool:
        """True when the absences so far already put the end-of-term rate below the warning threshold."""
        return self.absent > self.warning_limit


def plain(value: Decimal) -> Decimal:
    """``value`` without trailing zeros and never in exponent form: 16, 12.8, 16.0025."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def absent_limit(planned: Decimal, threshold: Decimal) -> Decimal:
    """(1 - threshold/100) x planned, exactly."""
    return plain((HUNDRED - threshold) * planned / HUNDRED)


def forecast(planned: Decimal | None, absent: Decimal, warning: Decimal, mahroom: Decimal) -> Forecast | None:
    """The forecast for ``absent`` hours against ``planned`` hours; None without planned hours."""
    if planned is None or planned <= 0:
        return None
    return Forecast(planned, absent, absent_limit(planned, warning), absent_limit(planned, mahroom))
