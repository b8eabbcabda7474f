"""Validation of incoming rows (CSV lines or JSON objects) for students, courses and attendance.

Each ``parse_*`` function returns ``(value, errors)``: a typed value when the row is valid,
otherwise None and a list of human-readable reasons naming the field that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

ATTENDANCE_STATUSES = ("present", "late", "absent", "sick", "leave")
ATTENDANCE_FIELDS = ("student_number", "course_code", "date", "slot", "hours", "status")
STUDENT_FIELDS = ("student_number", "name", "email", "guardian_email", "active", "language")
# The languages letters are written in (portal.domain.letters has their texts).
LETTER_LANGUAGES = {"fa": "Dari", "ps": "Pashto", "en": "English"}
COURSE_FIELDS = ("code", "title")

MAX_HOURS_PER_SESSION = Decimal("24")
MAX_SLOT = 32767
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,31}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")
TRUE_WORDS = {"1", "true", "yes", "y", "active"}
FALSE_WORDS = {"0", "false", "no", "n", "inactive"}


@dataclass(frozen=True)
class AttendanceInput:
    student_number: str
    course_code: str
    date: date
    slot: int
    hours: Decimal
    status: str


@dataclass(frozen=True)
class StudentInput:
    student_number: str
    name: str
    email: str | None
    guardian_email: str | None
    active: bool
    # A code of LETTER_LANGUAGES; "" for an empty cell (the default language); None when the
    # row has no language column at all (an import then leaves stored languages alone).
    language: str | None = None


@dataclass(frozen=True)
class CourseInput:
    code: str
    title: str


def missing_fields(header: list[str] | tuple[str, ...] | None, required: tuple[str, ...]) -> list[str]:
    """Return the required column names that ``header`` lacks."""
    present = {h.strip() for h in (header or []) if h}
    return [name for name in required if name not in present]


def _text(row: Mapping[str, Any], field: str, errors: list[str], *, required: bool = True) -> str | None:
    value = row.get(field)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        if required:
            errors.append(f"{field} is missing")
        return None
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{field} must be text")
            return None
        value = str(value)
    if "\x00" in value:
        errors.append(f"{field} contains a NUL character")
        return None
    return value.strip()


def _code(row: Mapping[str, Any], field: str, errors: list[str]) -> str | None:
    value = _text(row, field, errors)
    if value is not None and not CODE_PATTERN.match(value):
        errors.append(f"{field} {value[:40]!r} is not a valid code (letters, digits, . _ / -; at most 32)")
        return None
    return value


def parse_date(raw: Any, errors: list[str], *, latest: date | None = None) -> date | None:
    """Parse an ISO date (YYYY-MM-DD); note an error when malformed or after ``latest``."""
    if not isinstance(raw, str) or not raw.strip():
        errors.append("date is missing" if raw in (None, "") else "date must be text in YYYY-MM-DD form")
        return None
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        errors.append(f"date {raw.strip()[:40]!r} is not a valid YYYY-MM-DD date")
        return None
    if len(raw.strip()) != 10:
        errors.append(f"date {raw.strip()[:40]!r} is not in YYYY-MM-DD form")
        return None
    if latest is not None and value > latest:
        errors.append(f"date {value.isoformat()} is in the future (sessions not yet held do not count)")
        return None
    return value


def parse_hours(raw: Any, errors: list[str]) -> Decimal | None:
    """Parse hours: a positive exact decimal with at most two places, at most 24."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.append("hours is missing")
        return None
    if isinstance(raw, bool) or isinstance(raw, float) and raw != raw:
        errors.append("hours must be a number")
        return None
    try:
        value = Decimal(str(raw).strip()) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        errors.append(f"hours {str(raw)[:40]!r} is not a number")
        return None
    if not value.is_finite():
        errors.append("hours must be a finite number")
        return None
    if value <= 0:
        errors.append(f"hours must be positive, got {value}")
        return None
    if value.as_tuple().exponent < -2 and value != value.quantize(Decimal("0.01")):
        errors.append(f"hours {value} has more than 2 decimal places")
        return None
    if value > MAX_HOURS_PER_SESSION:
        errors.append(f"hours {value} is more than {MAX_HOURS_PER_SESSION} for one session")
        return None
    return value.quantize(Decimal("0.01"))


def parse_slot(raw: Any, errors: list[str]) -> int | None:
    """Parse the session slot: a whole number from 1 to MAX_SLOT."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.append("slot is missing")
        return None
    if isinstance(raw, bool):
        errors.append("slot must be a whole number")
        return None
    try:
        value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        errors.append(f"slot {str(raw)[:40]!r} is not a whole number")
        return None
    if not 1 <= value <= MAX_SLOT:
        errors.append(f"slot must be between 1 and {MAX_SLOT}, got {value}")
        return None
    return value


def parse_attendance(row: Mapping[str, Any], *, latest: date | None = None) -> tuple[AttendanceInput | None, list[str]]:
    """Validate one attendance row; dates after ``latest`` are refused."""
    errors: list[str] = []
    student_number = _code(row, "student_number", errors)
    course_code = _code(row, "course_code", errors)
    when = parse_date(row.get("date"), errors, latest=latest)
    slot = parse_slot(row.get("slot"), errors)
    hours = parse_hours(row.get("hours"), errors)
    status_raw = _text(row, "status", errors)
    status = None
    if status_raw is not None:
        status = status_raw.lower()
        if status not in ATTENDANCE_STATUSES:
            errors.append(f"status {status_raw[:40]!r} is not one of {', '.join(ATTENDANCE_STATUSES)}")
            status = None
    if errors:
        return None, errors
    return AttendanceInput(student_number, course_code, when, slot, hours, status), []  # type: ignore[arg-type]


def _email(row: Mapping[str, Any], field: str, errors: list[str]) -> str | None:
    value = _text(row, field, errors, required=False)
    if value is not None and not EMAIL_PATTERN.match(value):
        errors.append(f"{field} {value[:60]!r} is not an email address")
        return None
    return value


def parse_student(row: Mapping[str, Any]) -> tuple[StudentInput | None, list[str]]:
    """Validate one student row (email and guardian email optional; active defaults to true)."""
    errors: list[str] = []
    number = _code(row, "student_number", errors)
    name = _text(row, "name", errors)
    if name is not None and len(name) > 200:
        errors.append("name is longer than 200 characters")
    email = _email(row, "email", errors)
    guardian = _email(row, "guardian_email", errors)
    active_raw = row.get("active")
    active = True
    if isinstance(active_raw, bool):
        active = active_raw
    elif active_raw not in (None, ""):
        word = str(active_raw).strip().lower()
        if word in TRUE_WORDS:
            active = True
        elif word in FALSE_WORDS:
            active = False
        else:
            errors.append(f"active {str(active_raw)[:20]!r} is not true/false")
    language = _language(row.get("language"), errors)
    if errors:
        return None, errors
    return StudentInput(number, name, email, guardian, active, language), []  # type: ignore[arg-type]


def _language(raw: Any, errors: list[str]) -> str | None:
    if raw is None:
        return None
    code = str(raw).strip().lower()
    if code and code not in LETTER_LANGUAGES:
        known = ", ".join(f"{c} ({n})" for c, n in LETTER_LANGUAGES.items())
        errors.append(f"language {str(raw)[:20]!r} is not one of {known} (empty: the default language)")
        return None
    return code


def parse_course(row: Mapping[str, Any]) -> tuple[CourseInput | None, list[str]]:
    """Validate one course row."""
    errors: list[str] = []
    code = _code(row, "code", errors)
    title = _text(row, "title", errors)
    if title is not None and len(title) > 200:
        errors.append("title is longer than 200 characters")
    if errors:
        return None, errors
    return CourseInput(code, title), []  # type: ignore[arg-type]
