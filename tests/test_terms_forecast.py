"""The forecast (planned hours, exact absent-hour limits, the warning letter's sentence) and
students who leave (their alerts close silently), on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.attendance import importing
from portal.domain.forecast import forecast
from portal.extensions import db
from portal.models import Alert, Delivery, Notification, Offering
from tests import factories
from tests.test_terms import AUTUMN_DAY, _alerts, _count, _offerings, _terms

# (absent hours, end-of-term alerts): planned 64 h, warning 80 %, mahroom 75 %: warning
# above 12.8 absent hours, mahroom from 16.
BOUNDARIES = [
    ("12.79", set()),
    ("12.80", set()),
    ("12.81", {"warning"}),
    ("15.99", {"warning"}),
    ("16.00", {"mahroom", "warning"}),
    ("16.01", {"mahroom", "warning"}),
]


@pytest.mark.parametrize("absent, at_the_end", BOUNDARIES)
def test_the_forecast_limits_are_exact_at_their_boundaries_and_agree_with_the_end_of_term_rules(
    any_app, absent, at_the_end
):
    _terms()
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    assert _offerings("term_code,course_code,planned_hours\n1405-AUT,CS101,64\n").rows_written == 1
    absent = Decimal(absent)
    with time_machine.travel(AUTUMN_DAY, tick=False):
        factories.attend(student, course, ["absent"], hours=str(absent), start=date(2026, 9, 1))
        outlook = forecast(Decimal(64), absent, Decimal(80), Decimal(75))
        assert (outlook.warning_limit, outlook.mahroom_limit) == (Decimal("12.8"), Decimal("16"))
        assert outlook.hours_left_before_mahroom == Decimal(16) - absent  # exact: 0.01 below is 0.01 left
        assert outlook.mahroom_certain is (absent >= 16) and outlook.warning_certain is (absent > Decimal("12.8"))
        # The end of the term: every planned hour held, no more absences.
        factories.attend(student, course, ["present"], hours=str(64 - absent), start=date(2026, 9, 2))
        run_threshold_check()
    opened = {kind for _, kind, _, _, _ in _alerts()}
    assert opened == at_the_end
    assert ("mahroom" in opened) is outlook.mahroom_certain and ("warning" in opened) is outlook.warning_certain


def test_the_alerts_api_carries_the_term_and_the_forecast(client):
    from portal.operations import browse

    _terms()
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    _offerings("term_code,course_code,planned_hours\n1405-AUT,CS101,64\n")
    with time_machine.travel(AUTUMN_DAY, tick=False):
        # 12 absent of 40 held: 70 %, mahroom now; 4 more absent hours reach 16 of 64.
        factories.attend(student, course, ["absent"] * 6 + ["present"] * 14, start=date(2026, 7, 20))
        run_threshold_check()
    alert = db.session.execute(select(Alert).where(Alert.kind == "mahroom")).scalar_one()
    document = browse.alert_json(alert)
    assert {k: document[k] for k in document if k not in ("id", "openedAt", "studentName")} == {
        "studentNumber": "S1", "courseCode": "CS101", "kind": "mahroom", "status": "open", "suppressed": False,
        "rate": "70.00", "threshold": "75.00", "heldHours": "40.00", "absentHours": "12.00", "excusedHours": "0.00",
        "resolvedAt": None, "resolvedReason": None, "termCode": "1405-AUT", "plannedHours": "64.00",
        "warningAbsentLimit": "12.8", "mahroomAbsentLimit": "16", "hoursLeftBeforeWarning": "0.8",
        "hoursLeftBeforeMahroom": "4", "warningCertain": False, "mahroomCertain": False,
    }  # fmt: skip


def test_offerings_refuse_unknown_terms_courses_and_bad_hours_and_write_nothing(app):
    _terms()
    factories.course("CS101")
    db.session.commit()
    result = _offerings(
        "term_code,course_code,planned_hours\n"
        "1405-AUT,CS101,64\n"
        "1406-SPR,CS101,64\n"
        "1405-AUT,PHYS9,30\n"
        "1405-SPR,CS101,0\n"
        "1405-SPR,CS101,12.345\n"
        "1405-AUT,CS101,60\n"
    )
    assert [str(e) for e in result.errors] == [
        "line 3: unknown term '1406-SPR' (import it with `flask import terms` first)",
        "line 4: unknown course 'PHYS9'",
        "line 5: planned_hours '0' is not a number of hours above 0 and at most 99999.99",
        "line 6: planned_hours '12.345' has more than 2 decimal places",
        "line 7: duplicates line 2 (same term and course)",
    ]
    assert _count(Offering) == 0


LEAVING = "student_number,name,active\nS1,Student S1,false\n"


def _barred_student():
    """S1, mahroom in CS101 (3 of 10 sessions absent: 70 %) with the scan's alerts; returns S1."""
    course, student = factories.course("CS101"), factories.student("S1")
    db.session.commit()
    factories.attend(student, course, ["absent"] * 3 + ["present"] * 7)
    run_threshold_check()
    return student


def test_an_inactive_students_alerts_close_silently_and_the_next_scan_reopens_them_on_return(any_app):
    _barred_student()
    notifications, deliveries = _count(Notification), _count(Delivery)
    assert notifications == 1  # the mahroom letter (the warning is suppressed)
    result = importing.import_csv("students", io.BytesIO(LEAVING.encode()))
    assert result.alerts_closed == 2
    assert _alerts() == [
        (None, "mahroom", "resolved", "70.00", "inactive"),
        (None, "warning", "resolved", "70.00", "inactive"),
    ]
    assert (_count(Notification), _count(Delivery)) == (notifications, deliveries)
    assert run_threshold_check()["alertsOpened"]["mahroom"] == 0  # gone: not evaluated
    importing.import_csv("students", io.BytesIO(LEAVING.replace("false", "true").encode()))
    assert run_threshold_check()["alertsOpened"]["mahroom"] == 1
    assert _count(Notification) == notifications + 1


def test_a_students_api_alerts_show_the_term_and_why_an_alert_closed(client):
    student = _barred_student()
    importing.import_csv("students", io.BytesIO(LEAVING.encode()))
    from portal.alerts.for_student import student_alerts

    found = student_alerts(student.id)
    assert {(a["kind"], a["status"], a["resolvedReason"], a["termCode"]) for a in found} == {
        ("mahroom", "resolved", "inactive", None),
        ("warning", "resolved", "inactive", None),
    }


def _warning_body(number: str) -> tuple[str, str | None]:
    notification = db.session.execute(
        select(Notification)
        .join(Alert, Alert.id == Notification.alert_id)
        .join(factories.Student, factories.Student.id == Alert.student_id)
        .where(factories.Student.student_number == number, Alert.kind == "warning", Alert.course_id == 1)
    ).scalar_one()
    return notification.body, notification.guardian_body


def test_a_warning_letter_says_how_many_more_hours_bar_the_student_or_that_it_is_certain(app):
    app.config["GUARDIAN_KINDS"] = ("warning", "mahroom")
    _terms()
    cs, ma, ph = factories.course("CS101"), factories.course("MA101", "Calculus"), factories.course("PH101", "Physics")
    english = factories.student("S1", guardian="g1@family.example")
    dari = factories.student("S2", language="fa")
    db.session.commit()
    _offerings("term_code,course_code,planned_hours\n1405-AUT,CS101,64\n1405-AUT,MA101,16\n")
    with time_machine.travel("2026-12-20 09:00:00+04:30", tick=False):
        for student in (english, dari):
            # CS101: 9 of 40 hours absent, 77.5 %: a warning; 7 more absent hours reach 16 of 64.
            factories.attend(student, cs, ["absent"] * 4 + ["present"] * 6, start=date(2026, 7, 20))
            factories.attend(student, cs, ["absent"] + ["present"] * 19, hours="1", start=date(2026, 7, 20), slot=2)
        # MA101: 4.5 of 20 hours absent (77.5 %) with 16 planned: more held than planned, the
        # absences alone already reach the mahroom limit of 4 hours.
        factories.attend(english, ma, ["absent", "present", "present", "present"], hours="4.5", start=date(2026, 7, 20))
        factories.attend(english, ma, ["present"], hours="2", start=date(2026, 9, 1), slot=2)
        # PH101: 4 of 18 hours absent (77.8 %), no planned hours: no forecast sentence.
        factories.attend(english, ph, ["absent"] * 2 + ["present"] * 7, start=date(2026, 7, 20))
        run_threshold_check()
    body, guardian = _warning_body("S1")
    assert (
        "absent for 9 hours. This term's sessions of the course will hold 64 hours: if you are absent for "
        "7 more hours, you will be barred from the final exam.\n\n"
    ) in body
    assert (
        "This term's sessions of the course will hold 64 hours: if Student S1 is absent for 7 more hours, "
        "Student S1 will be barred from the final exam.\n\n"
    ) in guardian
    body, _ = _warning_body("S2")
    assert (
        "جلسات این مضمون در این سمستر ۶۴ ساعت خواهد بود: اگر ۷ ساعت دیگر غیرحاضر باشید، از امتحان نهایی محروم می‌شوید."
        in body
    )
    maths = db.session.execute(
        select(Notification.body).join(Alert, Alert.id == Notification.alert_id).where(Alert.course_id == ma.id)
    ).scalar_one()
    assert (
        "This term's sessions of the course will hold 16 hours, and your absences have already reached the mahroom "
        "limit of 4 hours: you will be barred from the final exam." in maths
    )
    physics = db.session.execute(
        select(Notification.body).join(Alert, Alert.id == Notification.alert_id).where(Alert.course_id == ph.id)
    ).scalar_one()
    assert "you were absent for 4 hours.\n\nPlease attend" in physics and "will hold" not in physics


def test_a_withdrawal_closes_that_courses_alerts_silently_and_coming_back_reopens_them(any_app):
    from portal.attendance.term_imports import import_withdrawals

    _barred_student()
    notifications = _count(Notification)
    result = import_withdrawals(io.BytesIO(b"term_code,student_number,course_code\n,S1,CS101\n"))
    assert result.committed and result.alerts_closed == 2
    assert {reason for *_, reason in _alerts()} == {"withdrawn"}
    assert run_threshold_check()["alertsOpened"]["mahroom"] == 0 and _count(Notification) == notifications
    refused = import_withdrawals(
        io.BytesIO(b"term_code,student_number,course_code,withdrawn\n,S1,CS101,false\nX,S1,CS101,maybe\n")
    )
    assert [str(e) for e in refused.errors] == [
        "line 3: withdrawn 'maybe' is not true or false; no enrollment of student 'S1' in course 'CS101' in term 'X'"
    ]
    assert db.session.execute(select(factories.Enrollment.active)).scalar_one() is False  # nothing written
    import_withdrawals(io.BytesIO(b"term_code,student_number,course_code,withdrawn\n,S1,CS101,false\n"))
    assert run_threshold_check()["alertsOpened"]["mahroom"] == 1 and _count(Notification) == notifications + 1
