"""Checking the rows of one batch (a CSV file, an API request) in order, the same way for both.

A row is checked on its own fields (``portal.domain.records``) and then against the rows
before it: a second row with the same key (the same student, course, date and slot for
attendance) is refused naming the first, since one batch cannot say two things of one record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

from portal.domain.records import (
    ATTENDANCE_FIELDS,
    COURSE_FIELDS,
    STUDENT_FIELDS,
    AttendanceInput,
    CourseInput,
    StudentInput,
    parse_attendance,
    parse_course,
    parse_student,
)

KINDS = ("students", "courses", "attendance")
FIELDS = {"students": STUDENT_FIELDS, "courses": COURSE_FIELDS, "attendance": ATTENDANCE_FIELDS}
# The columns a CSV file of each kind must have (students' email, guardian and active are optional).
REQUIRED_COLUMNS = {"students": ("student_number", "name"), "courses": COURSE_FIELDS, "attendance": ATTENDANCE_FIELDS}
# Past this many keys the checker forgets them (the database keeps keys unique anyway): bounded memory.
MAX_REMEMBERED_KEYS = 2_000_000

Parsed = AttendanceInput | StudentInput | CourseInput


def row_key(value: Parsed) -> tuple:
    """The key that identifies the record a row writes (re-importing it updates that record)."""
    if isinstance(value, AttendanceInput):
        return (value.student_number, value.course_code, value.date, value.slot)
    if isinstance(value, StudentInput):
        return (value.student_number,)
    return (value.code,)


class RowChecker:
    """Checks the rows of one batch of ``kind`` in order; see ``check``.

    ``place`` names a row's position in messages (``line`` for CSV files, ``record`` for the
    API's list indexes) and ``same`` what a duplicate shares (``key``, or the key's fields). ``latest`` is the last date attendance may carry (today, locally).
    With ``known_fields_only`` a row with a field outside the kind's fields is refused.
    """

    def __init__(
        self,
        kind: str,
        *,
        latest: date | None = None,
        place: str = "line",
        same: str = "key",
        known_fields_only: bool = False,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind = kind
        self.place = place
        self.same = same
        self.known_fields_only = known_fields_only
        self._parse: Callable[[Mapping[str, Any]], tuple[Parsed | None, list[str]]] = (
            (lambda row: parse_attendance(row, latest=latest))
            if kind == "attendance"
            else {"students": parse_student, "courses": parse_course}[kind]
        )
        self._seen: dict[tuple, int] = {}

    def check(self, row: Mapping[str, Any], position: int) -> tuple[Parsed | None, list[str]]:
        """Return ``(value, [])`` for a good row at ``position``, else ``(None, reasons)``."""
        value, reasons = self._parse(row)
        if self.known_fields_only:
            unknown = sorted(set(row) - set(FIELDS[self.kind]))
            if unknown:
                reasons = [*reasons, f"unknown field(s) {', '.join(str(u)[:40] for u in unknown[:5])}"]
                value = None
        if value is None:
            return None, reasons
        key = row_key(value)
        first = self._seen.get(key)
        if first is not None:
            return None, [f"duplicates {self.place} {first} (same {self.same})"]
        if len(self._seen) >= MAX_REMEMBERED_KEYS:
            self._seen.clear()
        self._seen[key] = position
        return value, []
