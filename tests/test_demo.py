"""The demo university (`flask demo seed`, what `make dev` shows a newcomer): two terms, the
current one with planned hours, students retaking a course they were barred from last term."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.alerts.scan import run_threshold_check
from portal.attendance import demo
from portal.attendance.saving import totals_mismatches
from portal.extensions import db
from portal.models import Alert, AttendanceRecord, Enrollment, Offering, Term


def test_the_demo_seeds_two_terms_with_retakes_of_barred_courses(any_app):
    summary = demo.seed(students=60, courses=8, sessions=8, seed=1405)
    terms = {t.code: t for t in db.session.scalars(select(Term).where(Term.code.is_not(None)))}
    assert set(terms) == {"DEMO-PAST", "DEMO-NOW"}
    past, now = terms["DEMO-PAST"], terms["DEMO-NOW"]
    assert (now.starts_on - past.ends_on).days == 1
    # Every record lies inside the term it belongs to.
    outside = db.session.execute(
        select(func.count())
        .select_from(AttendanceRecord)
        .join(Term, Term.id == AttendanceRecord.term_id)
        .where((AttendanceRecord.date < Term.starts_on) | (AttendanceRecord.date > Term.ends_on))
    ).scalar_one()
    assert outside == 0 and totals_mismatches(db.session) == []
    assert (
        db.session.execute(select(func.count()).select_from(Offering).where(Offering.term_id == now.id)).scalar_one()
        == 8
    )
    # Retakes: the pairs barred last term are enrolled again this term.
    barred = set(
        db.session.execute(
            select(Alert.student_id, Alert.course_id).where(Alert.term_id == past.id, Alert.kind == "mahroom")
        ).all()
    )
    current = set(
        db.session.execute(
            select(Enrollment.student_id, Enrollment.course_id).where(Enrollment.term_id == now.id)
        ).all()
    )
    assert summary["retakes"] == len(barred) > 0 and barred <= current
    past_alerts = db.session.execute(select(Alert.id, Alert.status).where(Alert.term_id == past.id)).all()
    summary = run_threshold_check()
    assert sum(summary["alertsOpened"].values()) > 0
    assert db.session.execute(select(Alert.id, Alert.status).where(Alert.term_id == past.id)).all() == past_alerts
    assert {t for (t,) in db.session.execute(select(Alert.term_id).distinct())} == {past.id, now.id}
