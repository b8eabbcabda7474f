"""What the API says of an alert's term and forecast: ``termCode``, the planned hours and the
absent-hour limits (see portal.domain.forecast), read once per request for any number of alerts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.domain.forecast import forecast
from portal.domain.rules import Thresholds
from portal.models import Offering, Term


class AlertOutlook:
    """Term codes and planned hours (small tables), with the thresholds in force."""

    def __init__(self, codes: dict[int, str | None], planned: dict[tuple[int, int], Decimal], thresholds: Thresholds):
        self.codes = codes
        self.planned = planned
        self.thresholds = thresholds

    @classmethod
    def load(cls, session: Session) -> AlertOutlook:
        codes = dict(session.execute(select(Term.id, Term.code)).all())
        planned = {
            (t, c): p
            for t, c, p in session.execute(select(Offering.term_id, Offering.course_id, Offering.planned_hours))
        }
        return cls(codes, planned, Thresholds.from_config(current_app.config))

    def fields(self, term_id: int, course_id: int, absent: Decimal) -> dict[str, Any]:
        """``termCode`` (None: the open-ended term) and the forecast of ``absent`` hours against
        the term's planned hours for the course (all None without planned hours). Hours are
        exact decimal text; a "left" figure of 0 with its ``...Certain`` flag true means the
        absences already cross that limit at the end of the term."""
        outlook = forecast(
            self.planned.get((term_id, course_id)), absent, self.thresholds.warning, self.thresholds.mahroom
        )
        if outlook is None:
            numbers: dict[str, Any] = dict.fromkeys(
                (
                    "plannedHours",
                    "warningAbsentLimit",
                    "mahroomAbsentLimit",
                    "hoursLeftBeforeWarning",
                    "hoursLeftBeforeMahroom",
                    "warningCertain",
                    "mahroomCertain",
                )
            )
        else:
            numbers = {
                "plannedHours": str(outlook.planned),
                "warningAbsentLimit": str(outlook.warning_limit),
                "mahroomAbsentLimit": str(outlook.mahroom_limit),
                "hoursLeftBeforeWarning": str(max(outlook.hours_left_before_warning, Decimal(0))),
                "hoursLeftBeforeMahroom": str(max(outlook.hours_left_before_mahroom, Decimal(0))),
                "warningCertain": outlook.warning_certain,
                "mahroomCertain": outlook.mahroom_certain,
            }
        return {"termCode": self.codes.get(term_id), **numbers}
