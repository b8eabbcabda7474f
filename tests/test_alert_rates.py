"""The rate an alert carries is the rate its rule is about: the presence rate for tasdiq, the
attendance rate for warning and mahroom; an alert that resolves records that same rate as it
stood at resolution. On both databases, through the hourly scan and the immediate check."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.alerts.scan import check_pairs, run_threshold_check
from portal.extensions import db
from portal.models import Alert, Enrollment, Notification, Student
from tests import factories


def evaluate_now(how: str) -> dict:
    if how == "scan":
        return run_threshold_check()
    pairs = db.session.execute(select(Enrollment.student_id, Enrollment.course_id)).all()
    return check_pairs([list(p) for p in pairs])


def rates() -> dict[tuple[str, str], tuple[str, str, str | None]]:
    """``{(student, kind): (status, rate, rate at resolution)}`` of every alert."""
    db.session.expire_all()
    rows = db.session.execute(
        select(Student.student_number, Alert.kind, Alert.status, Alert.rate, Alert.resolved_rate).join(
            Student, Student.id == Alert.student_id
        )
    ).all()
    found = {}
    for number, kind, status, rate, resolved in rows:
        assert (number, kind) not in found, "one crossing each in these cases"
        found[(number, kind)] = (status, str(rate), None if resolved is None else str(resolved))
    return found


@pytest.mark.parametrize("how", ["scan", "immediate"])
def test_tasdiq_carries_the_presence_rate_and_each_kind_resolves_at_its_own_rate(any_app, how):
    crs = factories.course("PHYS120", "Physics")
    zahra = factories.student("ZAHRA", email="zahra@uni.example")
    mixed = factories.student("MIXED", email="mixed@uni.example")
    # Zahra: 10 two-hour sessions, 3 sick or on leave, never absent: attendance 100 %,
    # presence 14 of 20 h = 70 %.
    factories.attend(zahra, crs, ["sick", "leave", "sick"] + ["present"] * 7)
    # Mixed: 3 absent and 1 sick of 10: attendance 14 of 20 h = 70 %, presence 12 of 20 h = 60 %.
    factories.attend(mixed, crs, ["absent"] * 3 + ["sick"] + ["present"] * 6)
    opened = evaluate_now(how)
    assert opened["alertsOpened"] == {"warning": 1, "mahroom": 1, "tasdiq": 2}
    assert rates() == {
        ("ZAHRA", "tasdiq"): ("open", "70.00", None),
        ("MIXED", "warning"): ("open", "70.00", None),
        ("MIXED", "mahroom"): ("open", "70.00", None),
        ("MIXED", "tasdiq"): ("open", "60.00", None),
    }
    tasdiq = db.session.execute(
        select(Alert).join(Student, Student.id == Alert.student_id).where(Student.student_number == "ZAHRA")
    ).scalar_one()
    assert (str(tasdiq.threshold), str(tasdiq.held_hours), str(tasdiq.absent_hours), str(tasdiq.excused_hours)) == (
        "85.00",
        "20.00",
        "0.00",
        "6.00",
    )
    # The message and the webhook document say the presence rate too.
    notification = db.session.execute(select(Notification).where(Notification.alert_id == tasdiq.id)).scalar_one()
    assert notification.payload["rate"] == "70.00" and notification.payload["threshold"] == "85"
    assert "70.00%" in notification.body and "100.00" not in notification.body

    # Zahra: 10 more present: presence 34 of 40 h = exactly 85.00 %, no tasdiq (attendance 100 %).
    factories.attend(zahra, crs, ["present"] * 10, slot=2)
    # Mixed: 20 more present: attendance 54 of 60 h = 90.00 %, presence 52 of 60 h = 86.66 %.
    factories.attend(mixed, crs, ["present"] * 20, slot=2)
    resolved = evaluate_now(how)
    assert resolved["alertsResolved"] == 4
    assert rates() == {
        ("ZAHRA", "tasdiq"): ("resolved", "70.00", "85.00"),
        ("MIXED", "warning"): ("resolved", "70.00", "90.00"),
        ("MIXED", "mahroom"): ("resolved", "70.00", "90.00"),
        ("MIXED", "tasdiq"): ("resolved", "60.00", "86.66"),
    }


def test_an_alert_resolving_while_another_kind_stays_open_records_its_own_rate(any_app):
    crs = factories.course("CS101")
    stu = factories.student("S1")
    # 3 absent, 2 sick of 10: attendance 70 %, presence 50 %: warning, mahroom and tasdiq.
    factories.attend(stu, crs, ["absent"] * 3 + ["sick"] * 2 + ["present"] * 5)
    run_threshold_check()
    # 6 more present: attendance 26 of 32 h = 81.25 % (warning and mahroom end), presence
    # 22 of 32 h = 68.75 %: tasdiq stays open with the rate it opened at.
    factories.attend(stu, crs, ["present"] * 6, slot=2)
    assert run_threshold_check()["alertsResolved"] == 2
    assert rates() == {
        ("S1", "warning"): ("resolved", "70.00", "81.25"),
        ("S1", "mahroom"): ("resolved", "70.00", "81.25"),
        ("S1", "tasdiq"): ("open", "50.00", None),
    }
