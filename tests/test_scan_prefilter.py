"""The PostgreSQL pre-filter of a scan batch picks exactly the pairs the domain rules would change."""

from __future__ import annotations

from decimal import Decimal
from itertools import product

from sqlalchemy import update

from portal.domain.rates import HourTotals
from portal.domain.rules import Thresholds, alert_changes, evaluate
from portal.extensions import db
from portal.models import Alert, Enrollment
from portal.services.evaluation import changed_enrollments_in_range
from portal.services.scan import run_threshold_check
from tests import factories

# Held/absent/excused hours around every threshold, including the exact boundaries and zero.
GRID = [
    (held, absent, excused)
    for held, absent, excused in product(
        [Decimal("0"), Decimal("4"), Decimal("8"), Decimal("20"), Decimal("7.5")],
        [Decimal("0"), Decimal("1"), Decimal("1.5"), Decimal("2"), Decimal("5")],
        [Decimal("0"), Decimal("0.5"), Decimal("1"), Decimal("3")],
    )
    if absent + excused <= held
]


def test_prefilter_matches_the_domain_rules_before_and_after_alerts_open(pg_app):
    pg_app.config["ATTENDANCE_MIN_HELD_HOURS"] = Decimal("5")
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

    before = expected()
    assert before, "the grid must cross some threshold"
    assert set(changed_enrollments_in_range(db.session, 0, 10**9, thresholds)) == before
    run_threshold_check()
    assert expected() == set()
    assert changed_enrollments_in_range(db.session, 0, 10**9, thresholds) == []
    # Everyone recovers: every open alert's pair is picked to be resolved.
    db.session.execute(update(Enrollment).values(absent_hours=0, excused_hours=0))
    db.session.commit()
    assert set(changed_enrollments_in_range(db.session, 0, 10**9, thresholds)) == expected() != set()
