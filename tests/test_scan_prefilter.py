"""The PostgreSQL pre-filter of a scan batch picks exactly the pairs the domain rules would change."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import product

import pytest
from sqlalchemy import update

from portal.alerts.evaluation import integer_rules, range_candidates
from portal.alerts.scan import run_threshold_check
from portal.domain.rates import HourTotals
from portal.domain.rules import Thresholds, alert_changes, evaluate
from portal.extensions import db
from portal.models import Alert, Enrollment
from tests import factories

# Held/absent/excused hours around every threshold, including the exact boundaries and zero
# (16/3 sits on 81.25 %, 20/4.9 on 75.5 %; 7.5 and 7.51 around 7.505 held hours).
GRID = [
    (held, absent, excused)
    for held, absent, excused in product(
        [Decimal(h) for h in ("0", "4", "8", "16", "20", "30", "7.5", "7.51")],
        [Decimal(a) for a in ("0", "1", "1.5", "2", "3", "4.9", "5")],
        [Decimal(e) for e in ("0", "0.5", "1", "1.1", "3")],
    )
    if absent + excused <= held
]


# Thresholds with and without decimal places (the pre-filter scales them to integers).
SETTINGS = [
    {"WARNING_THRESHOLD": "80", "MAHROOM_THRESHOLD": "75", "TASDIQ_THRESHOLD": "85", "ATTENDANCE_MIN_HELD_HOURS": "5"},
    {
        "WARNING_THRESHOLD": "81.25",
        "MAHROOM_THRESHOLD": "75.5",
        "TASDIQ_THRESHOLD": "86.667",
        "ATTENDANCE_MIN_HELD_HOURS": "7.505",
    },
]


@pytest.mark.parametrize("settings", SETTINGS, ids=["whole", "decimal"])
def test_prefilter_matches_the_domain_rules_before_and_after_alerts_open(pg_app, settings):
    pg_app.config.update({name: Decimal(value) for name, value in settings.items()})
    crs = factories.course("CS101")
    ids = {}
    for n in range(len(GRID)):
        stu = factories.student(f"S{n:04d}")
        factories.attend(stu, crs, ["present"])
        ids[n] = stu.id
    db.session.commit()
    for n, (held, absent, excused) in enumerate(GRID):
        db.session.execute(
            update(Enrollment)
            .where(Enrollment.student_id == ids[n])
            .values(held_hours=held, absent_hours=absent, excused_hours=excused)
        )
    db.session.commit()
    thresholds = Thresholds.from_config(pg_app.config)

    def expected() -> set[int]:
        open_kinds: dict[int, set[str]] = {}
        for alert in db.session.query(Alert).filter(Alert.status == "open"):
            open_kinds.setdefault(alert.student_id, set()).add(alert.kind)
        want = set()
        for enrollment in db.session.query(Enrollment):
            totals = HourTotals(enrollment.held_hours, enrollment.absent_hours, enrollment.excused_hours)
            result = evaluate(totals, thresholds)
            if result is None:
                continue
            changes = alert_changes(result.holding, frozenset(open_kinds.get(enrollment.student_id, set())))
            if changes.to_open or changes.to_resolve:
                want.add(enrollment.id)
        return want

    def changed(thresholds: Thresholds) -> list[int]:
        found = range_candidates(db.session, 0, 10**9, thresholds, date.today())
        assert found.active_students == len(GRID)
        return found.enrollment_ids

    before = expected()
    assert before, "the grid must cross some threshold"
    assert set(changed(thresholds)) == before
    run_threshold_check()
    assert expected() == set()
    assert changed(thresholds) == []
    # Everyone recovers: every open alert's pair is picked to be resolved.
    db.session.execute(update(Enrollment).values(absent_hours=0, excused_hours=0))
    db.session.commit()
    assert set(changed(thresholds)) == expected() != set()


def test_integer_rules_scale_every_threshold_exactly_and_give_up_beyond_six_places():
    rules = integer_rules(Thresholds(Decimal("81.25"), Decimal("75"), Decimal("86.667"), Decimal("7.505")))
    assert rules == {"warning": 81250, "mahroom": 75000, "tasdiq": 86667, "scale": 100000, "min_held": 751}
    assert integer_rules(Thresholds(Decimal("80"), Decimal("75"), Decimal("85"))) == {
        "warning": 80,
        "mahroom": 75,
        "tasdiq": 85,
        "scale": 100,
        "min_held": 0,
    }
    assert integer_rules(Thresholds(Decimal("80.1234567"), Decimal("75"), Decimal("85"))) is None


def test_thresholds_beyond_six_places_evaluate_every_pair(pg_app):
    stu, crs = factories.student("S1"), factories.course("CS101")
    factories.attend(stu, crs, ["present", "absent"])
    db.session.commit()
    found = range_candidates(
        db.session, 0, 10**9, Thresholds(Decimal("80.1234567"), Decimal("75"), Decimal("85")), date.today()
    )
    assert found.enrollment_ids is None and found.active_students == 1
