"""Academic terms: records belong to the term of their date, rates and alerts are per term, a
student retaking a course starts fresh, the forecast's limits are exact, leavers' alerts close
silently. On SQLite and PostgreSQL wherever SQL is involved."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import time_machine
from sqlalchemy import func, select

from portal.alerts.evaluation import range_candidates
from portal.alerts.scan import check_pairs, run_threshold_check
from portal.attendance import importing, term_imports
from portal.attendance.saving import save_attendance, totals_mismatches
from portal.domain.records import AttendanceInput
from portal.domain.rules import Thresholds
from portal.extensions import db
from portal.models import (
    OPEN_TERM_ID,
    Alert,
    AttendanceRecord,
    Enrollment,
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
    recorded = dict(db.session.execute(select(AttendanceRecord.id, AttendanceRecord.recorded_at)).all())
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
    # Moving a record to its term does not change when it was recorded.
    assert dict(db.session.execute(select(AttendanceRecord.id, AttendanceRecord.recorded_at)).all()) == recorded


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


def test_course_statistics_count_the_term_in_progress_only(any_app):
    from portal.alerts.course_stats import course_stats, refresh_course_stats

    _terms()
    student, course = factories.student("S1"), factories.course("CS101")
    db.session.commit()
    with time_machine.travel(SPRING_DAY, tick=False):
        factories.attend(student, course, ["absent"] * 3 + ["present"] * 7, start=date(2026, 3, 7))
        refresh_course_stats()
        spring = course_stats()[0]
    with time_machine.travel(AUTUMN_DAY, tick=False):
        factories.attend(student, course, ["present", "present"], start=date(2026, 9, 5))
        refresh_course_stats()
        autumn = course_stats()[0]
    assert (spring["enrolled"], spring["atMahroom"], str(spring["heldHours"])) == (1, 1, "20.00")
    assert (autumn["enrolled"], autumn["atMahroom"], str(autumn["heldHours"])) == (1, 0, "4.00")
