"""The row validation shared by CSV imports and the attendance API."""

from datetime import date
from decimal import Decimal

import pytest

from portal.domain.records import parse_attendance, parse_course, parse_student

GOOD = {
    "student_number": "S000001",
    "course_code": "CS101",
    "date": "2026-10-05",
    "slot": "1",
    "hours": "1.5",
    "status": "Late",
}


def test_a_good_attendance_row_is_parsed_exactly():
    record, errors = parse_attendance(GOOD, latest=date(2026, 11, 28))
    assert errors == []
    assert record.hours == Decimal("1.50") and record.status == "late" and record.date == date(2026, 10, 5)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("hours", "0", "hours must be positive"),
        ("hours", "-2", "hours must be positive"),
        ("hours", "1.505", "more than 2 decimal places"),
        ("hours", "abc", "is not a number"),
        ("hours", "NaN", "finite"),
        ("hours", "25", "more than 24"),
        ("date", "2026-02-30", "not a valid YYYY-MM-DD date"),
        ("date", "05/10/2026", "not a valid YYYY-MM-DD date"),
        ("date", "2026-11-29", "in the future"),
        ("status", "excused", "not one of present, late, absent, sick, leave"),
        ("slot", "0", "slot must be between"),
        ("slot", "x", "not a whole number"),
        ("student_number", "", "student_number is missing"),
        ("course_code", "CS 101; DROP TABLE", "not a valid code"),
    ],
)
def test_each_bad_attendance_value_is_refused_with_a_reason_naming_it(field, value, reason):
    record, errors = parse_attendance({**GOOD, field: value}, latest=date(2026, 11, 28))
    assert record is None
    assert any(reason in e for e in errors), errors


def test_every_problem_of_a_row_is_reported_not_only_the_first():
    _, errors = parse_attendance({"student_number": "S1"}, latest=None)
    assert {e.split()[0] for e in errors} == {"course_code", "date", "slot", "hours", "status"}


def test_hours_with_trailing_zeros_beyond_two_places_are_still_exact():
    record, errors = parse_attendance({**GOOD, "hours": "2.500"})
    assert errors == [] and record.hours == Decimal("2.50")


def test_json_numbers_are_accepted_for_slot_and_hours_but_booleans_are_not():
    record, errors = parse_attendance({**GOOD, "slot": 2, "hours": 2})
    assert errors == [] and record.slot == 2
    _, errors = parse_attendance({**GOOD, "slot": True, "hours": False})
    assert any("slot" in e for e in errors) and any("hours" in e for e in errors)


def test_student_rows_validate_emails_and_active_flag():
    student, errors = parse_student({"student_number": "S1", "name": "Zahra", "email": "", "active": "no"})
    assert errors == [] and student.active is False and student.email is None
    _, errors = parse_student({"student_number": "S1", "name": "Zahra", "email": "not-an-email", "active": "maybe"})
    assert any("email" in e for e in errors) and any("active" in e for e in errors)


def test_course_rows_need_code_and_title():
    _, errors = parse_course({"code": "CS101"})
    assert errors == ["title is missing"]
