"""Academic terms: records belong to the term of their date, rates and alerts are per term, a
student retaking a course starts fresh, the forecast's limits are exact, leavers' alerts close
silently. On SQLite and PostgreSQL wherever SQL is involved."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from portal.alerts.evaluation import range_candidates
from portal.alerts.scan import check_pairs, run_threshold_check
from portal.attendance import importing, term_imports
from portal.attendance.saving import save_attendance, totals_mismatches
from portal.domain.forecast import forecast
from portal.domain.records import AttendanceInput
from portal.domain.rules import Thresholds
from portal.extensions import db
from portal.models import (
    OPEN_TERM_ID,
    Alert,
    AttendanceRecord,
    Delivery,
    Enrollment,
    Notification,
    Offering,
    Term,
)
from tests import factories

TERMS = "code,name,starts_on,ends_on\n1405-SPR,Spring 1405,2026-03-01,2026-07-15\n1405-AUT,Autumn 1405,2026-07-16,2027-01-20\n"
SPRING_DAY = "2026-06-20 08:00:00+04:30"  # in Kabul
AUTUMN_DAY = "2026-10-20 08:00:00+04:30"


def _terms(text: str = TERMS) -> importing.ImportResult:
    return term_imports.import_terms(io.BytesIO(text.encode()))


def _offerings(text: str) -> importing.ImportResult:
    return term_imports.import_offerings(io.BytesIO(text.encode()))


def _term_id(code: str) -> int:
    return db.session.execute(select(Term.id).where(Term.code == code)).scalar_one()


def _alerts() -> list[tuple]:
    rows = db.session.execute(
        select(Term.code, Alert.kind, Alert.status, Alert.rate, Alert.resolved_reason)
        .join(Term, Term.id == Alert.term_id)
        .order_by(Alert.term_id, Alert.kind)
    ).all()
    return [(code, kind, status, str(rate), reason) for code, kind, status, rate, reason in rows]


def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_a_retaking_student_starts_the_new_term_fresh_and_keeps_the_old_alert_as_history(any_app):
    _terms()
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    with time_machine.travel(SPRING_DAY, tick=False):
        # Spring: 3 of 10 sessions absent: 70 %, mahroom (and the suppressed warning).
        factories.attend(student, course, ["absent"] * 3 + ["present"] * 7, start=date(2026, 3, 7))
        assert run_threshold_check()["alertsOpened"]["mahroom"] == 1
    with time_machine.travel(AUTUMN_DAY, tick=False):
        # Autumn: the retake, present at both sessions so far.
        factories.attend(student, course, ["present", "present"], start=date(2026, 9, 5))
        summary = run_threshold_check()
    assert summary["alertsOpened"] == {"warning": 0, "mahroom": 0, "tasdiq": 0} and summary["alertsResolved"] == 0
    # The spring alerts are history: still as they were, though their term's rate no longer changes.
    assert _alerts() == [("1405-SPR", "mahroom", "open", "70.00", None), ("1405-SPR", "warning", "open", "70.00", None)]
    totals = db.session.execute(
        select(Term.code, Enrollment.held_hours, Enrollment.absent_hours)
        .join(Term, Term.id == Enrollment.term_id)
        .order_by(Term.starts_on)
    ).all()
    assert [(c, str(h), str(a)) for c, h, a in totals] == [("1405-SPR", "20.00", "6.00"), ("1405-AUT", "4.00", "0.00")]
    # A correction to spring (now ended) updates spring's totals and opens nothing.
    with time_machine.travel(AUTUMN_DAY, tick=False):
        factories.attend(student, course, ["present"] * 3, start=date(2026, 3, 7))
        assert run_threshold_check()["alertsOpened"] == {"warning": 0, "mahroom": 0, "tasdiq": 0}
    spring = db.session.execute(select(Enrollment).where(Enrollment.term_id == _term_id("1405-SPR"))).scalar_one()
    assert spring.absent_hours == Decimal("0.00")
    assert _alerts()[0] == ("1405-SPR", "mahroom", "open", "70.00", None)
    assert totals_mismatches(db.session) == []


def test_a_correction_that_crosses_in_an_ended_term_opens_nothing_by_any_path(any_app):
    _terms()
    student, course = factories.student("S2"), factories.course("CS101")
    db.session.commit()
    with time_machine.travel(SPRING_DAY, tick=False):
        factories.attend(student, course, ["present"] * 10, start=date(2026, 3, 7))
    with time_machine.travel(AUTUMN_DAY, tick=False):
        factories.attend(student, course, ["absent"] * 5, start=date(2026, 3, 7))  # spring: now 50 %
        assert check_pairs([(student.id, course.id)])["alertsOpened"] == {"warning": 0, "mahroom": 0, "tasdiq": 0}
        assert sum(run_threshold_check()["alertsOpened"].values()) == 0
        # Nothing of an ended term is even a candidate for the scan.
        found = range_candidates(db.session, 0, 10**9, Thresholds(), date(2026, 10, 20))
    assert found.enrollment_ids in ([], None) and found.terms == [_term_id("1405-AUT")]
    assert _alerts() == []


def test_records_on_a_terms_first_and_last_day_belong_to_it_and_the_day_after_to_the_next(any_app):
    _terms()
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    with time_machine.travel(AUTUMN_DAY, tick=False):
        for day in (date(2026, 3, 1), date(2026, 7, 15), date(2026, 7, 16)):
            factories.attend(student, course, ["absent"], start=day)
    terms = dict(
        db.session.execute(
            select(AttendanceRecord.date, Term.code).join(Term, Term.id == AttendanceRecord.term_id)
        ).all()
    )
    assert terms == {date(2026, 3, 1): "1405-SPR", date(2026, 7, 15): "1405-SPR", date(2026, 7, 16): "1405-AUT"}
    held = dict(
        db.session.execute(select(Term.code, Enrollment.held_hours).join(Term, Term.id == Enrollment.term_id)).all()
    )
    assert held == {"1405-SPR": Decimal("4.00"), "1405-AUT": Decimal("2.00")}


def test_a_record_between_terms_is_refused_by_the_csv_import_and_the_api_and_nothing_is_written(app):
    _terms("code,name,starts_on,ends_on\nA,Autumn,2026-09-01,2026-12-31\nB,Spring,2027-03-01,2027-06-30\n")
    factories.student("S1"), factories.course("CS101")
    db.session.commit()
    csv_text = (
        "student_number,course_code,date,slot,hours,status\n"
        "S1,CS101,2026-10-01,1,2,present\n"
        "S1,CS101,2027-01-10,1,2,absent\n"
        "S1,CS101,2026-08-31,1,2,absent\n"
    )
    with time_machine.travel("2027-01-20 10:00:00+04:30", tick=False):
        result = importing.import_csv("attendance", io.BytesIO(csv_text.encode()))
        assert [str(e) for e in result.errors] == [
            "line 3: date 2027-01-10 is in no term: between term A (ends 2026-12-31) and term B (starts 2027-03-01)",
            "line 4: date 2026-08-31 is in no term: before the first term, A (starts 2026-09-01)",
        ]
        pairs, problems = save_attendance(
            [
                AttendanceInput("S1", "CS101", date(2026, 10, 8), 1, Decimal(2), "present"),
                AttendanceInput("S1", "CS101", date(2027, 1, 15), 1, Decimal(2), "present"),
            ]
        )
    assert problems == [
        {
            "index": 1,
            "errors": [
                "date 2027-01-15 is in no term: between term A (ends 2026-12-31) and term B (starts 2027-03-01)"
            ],
        }
    ]
    assert pairs == set() and _count(AttendanceRecord) == 0 and _count(Enrollment) == 0


def test_overlapping_terms_bad_dates_and_repeated_codes_are_refused_and_nothing_is_written(app):
    _terms("code,name,starts_on,ends_on\nOLD,Kept,2025-01-01,2025-06-30\n")
    result = _terms(
        "code,name,starts_on,ends_on\n"
        "A,Autumn,2026-09-01,2027-01-20\n"
        "B,Winter,2027-01-15,2027-03-01\n"  # overlaps A
        "C,Backwards,2027-06-01,2027-05-01\n"
        "D,Bad date,2027-02-30,2027-07-01\n"
        "A,Again,2028-01-01,2028-02-01\n"
    )
    assert [str(e) for e in result.errors] == [
        "line 4: ends_on 2027-05-01 is before starts_on 2027-06-01",
        "line 5: starts_on '2027-02-30' is not a date (YYYY-MM-DD)",
        "line 6: duplicates line 2 (same code)",
    ]
    result = _terms(
        "code,name,starts_on,ends_on\nA,Autumn,2026-09-01,2027-01-20\nB,Winter,2027-01-15,2027-03-01\n"
        "E,Overlaps the kept one,2025-06-30,2025-08-01\n"
    )
    assert [str(e) for e in result.errors] == [
        "line 4: term E overlaps term OLD (2025-01-01 to 2025-06-30, already recorded)",
        "line 2: term A overlaps term B (2027-01-15 to 2027-03-01, on line 3)",
    ]
    assert not result.committed
    assert db.session.execute(select(Term.code).where(Term.code.is_not(None))).scalars().all() == ["OLD"]


def test_reimporting_a_term_updates_it_and_shortening_it_past_its_records_is_refused(any_app):
    _terms()
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    with time_machine.travel(AUTUMN_DAY, tick=False):
        factories.attend(student, course, ["present"] * 3, start=date(2026, 9, 1))  # 1, 8 and 15 September
    shorter = TERMS.replace("1405-AUT,Autumn 1405,2026-07-16,2027-01-20", "1405-AUT,Autumn,2026-07-16,2026-09-07")
    result = _terms(shorter)
    assert [str(e) for e in result.errors] == [
        "line 3: term 1405-AUT would be 2026-07-16 to 2026-09-07, leaving 2 recorded session(s) outside it "
        "(the first on 2026-09-08); correct those records first"
    ]
    assert db.session.get(Term, _term_id("1405-AUT")).ends_on == date(2027, 1, 20)
    renamed = TERMS.replace("Autumn 1405,2026-07-16,2027-01-20", "Autumn term 1405,2026-07-16,2027-01-31")
    assert _terms(renamed).rows_written == 2
    term = db.session.get(Term, _term_id("1405-AUT"))
    assert (term.name, term.ends_on, _count(Term)) == ("Autumn term 1405", date(2027, 1, 31), 3)


def test_importing_the_first_terms_moves_the_open_ended_records_into_them(any_app):
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    with time_machine.travel(AUTUMN_DAY, tick=False):
        factories.attend(student, course, ["absent", "present"], start=date(2026, 6, 1))  # spring
        factories.attend(student, course, ["present", "present", "absent"], start=date(2026, 9, 1))  # autumn
        factories.attend(student, course, ["absent"], start=date(2026, 2, 1))  # before every term
    assert {e.term_id for e in db.session.scalars(select(Enrollment))} == {OPEN_TERM_ID}
    result = _terms()
    assert result.records_moved == 5
    db.session.expire_all()
    totals = db.session.execute(
        select(Enrollment.term_id, Enrollment.held_hours, Enrollment.absent_hours).order_by(Enrollment.term_id)
    ).all()
    spring, autumn = _term_id("1405-SPR"), _term_id("1405-AUT")
    assert [tuple(t) for t in totals] == [
        (OPEN_TERM_ID, Decimal("2.00"), Decimal("2.00")),  # the February record stays where it was
        (spring, Decimal("4.00"), Decimal("2.00")),
        (autumn, Decimal("6.00"), Decimal("2.00")),
    ]
    assert totals_mismatches(db.session) == []


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


def test_an_inactive_students_alerts_close_silently_and_the_next_scan_reopens_them_on_return(any_app):
    factories.course("CS101")
    student = factories.student("S1")
    db.session.commit()
    factories.attend(
        student, db.session.execute(select(factories.Course)).scalar_one(), ["absent"] * 3 + ["present"] * 7
    )
    run_threshold_check()
    notifications, deliveries = _count(Notification), _count(Delivery)
    assert notifications == 1  # the mahroom letter (the warning is suppressed)
    students = "student_number,name,active\nS1,Student S1,false\n"
    result = importing.import_csv("students", io.BytesIO(students.encode()))
    assert result.alerts_closed == 2
    assert _alerts() == [
        (None, "mahroom", "resolved", "70.00", "inactive"),
        (None, "warning", "resolved", "70.00", "inactive"),
    ]
    assert (_count(Notification), _count(Delivery)) == (notifications, deliveries)
    assert run_threshold_check()["alertsOpened"]["mahroom"] == 0  # gone: not evaluated
    importing.import_csv("students", io.BytesIO(students.replace("false", "true").encode()))
    assert run_threshold_check()["alertsOpened"]["mahroom"] == 1
    assert _count(Notification) == notifications + 1


def test_a_students_api_alerts_show_the_term_and_why_an_alert_closed(client):
    factories.course("CS101")
    student = factories.student("S1")
    db.session.commit()
    factories.attend(
        student, db.session.execute(select(factories.Course)).scalar_one(), ["absent"] * 3 + ["present"] * 7
    )
    run_threshold_check()
    importing.import_csv("students", io.BytesIO(b"student_number,name,active\nS1,Student S1,false\n"))
    from portal.alerts.for_student import student_alerts

    found = student_alerts(student.id)
    assert {(a["kind"], a["status"], a["resolvedReason"], a["termCode"]) for a in found} == {
        ("mahroom", "resolved", "inactive", None),
        ("warning", "resolved", "inactive", None),
    }


def test_the_term_and_offering_commands_report_what_they_did(app, runner, tmp_path):
    factories.course("CS101")
    db.session.commit()
    terms = tmp_path / "terms.csv"
    terms.write_text(TERMS)
    result = runner.invoke(args=["import", "terms", str(terms)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 terms row(s)" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("term_code,course_code,planned_hours\n1405-AUT,CS101,-1\n")
    result = runner.invoke(args=["import", "offerings", str(bad)])
    assert result.exit_code == 1
    assert "line 2: planned_hours '-1' is not a number of hours above 0" in result.output
    assert "nothing was written (fix them)" in result.output
    result = runner.invoke(args=["import", "terms", str(terms), "--skip-invalid"])
    assert result.exit_code == 2 and "--skip-invalid does not apply to terms" in result.output
    assert _count(Offering) == 0


def test_the_scan_between_terms_evaluates_nothing(any_app):
    _terms("code,name,starts_on,ends_on\nA,Autumn,2026-09-01,2026-12-31\nB,Spring,2027-03-01,2027-06-30\n")
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    with time_machine.travel("2026-12-20 09:00:00+04:30", tick=False):
        factories.attend(student, course, ["absent"] * 3 + ["present"], start=date(2026, 9, 1))
    with time_machine.travel("2027-01-10 09:00:00+04:30", tick=False):
        assert sum(run_threshold_check()["alertsOpened"].values()) == 0
    with time_machine.travel("2026-12-31 12:00:00+04:30", tick=False):
        assert run_threshold_check()["alertsOpened"]["mahroom"] == 1


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


def test_alerts_list_names_each_alerts_term(app, runner):
    import json

    _terms()
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    with time_machine.travel(AUTUMN_DAY, tick=False):
        factories.attend(student, course, ["absent"] * 3 + ["present"] * 7, start=date(2026, 7, 20))
        run_threshold_check()
    listed = json.loads(runner.invoke(args=["alerts", "list", "--json"]).output)
    assert {(a["kind"], a["termCode"], a["resolvedReason"]) for a in listed} == {
        ("mahroom", "1405-AUT", None),
        ("warning", "1405-AUT", None),
    }
    lines = runner.invoke(args=["alerts", "list"]).output.splitlines()
    assert sorted(line.split("\t")[:4] for line in lines) == [
        ["S1", "CS101", "1405-AUT", "mahroom"],
        ["S1", "CS101", "1405-AUT", "warning (suppressed)"],
    ]
