"""What every letter of an alert is about (``AlertFacts``); the letters' texts are in
``portal.domain.letters`` and their translations in the gettext catalogs."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from portal.domain.forecast import Forecast


@dataclass(frozen=True)
class AlertFacts:
    """What a message says: who, which course, the rate against its threshold, and the hours."""

    kind: str
    student_name: str
    student_number: str
    course_code: str
    course_title: str
    rate: Decimal
    threshold: Decimal
    held: Decimal
    absent: Decimal
    excused: Decimal
    # The term's forecast for this course (None: no planned hours for the term's offering).
    forecast: Forecast | None = None
