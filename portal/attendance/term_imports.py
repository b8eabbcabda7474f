"""CSV imports of terms (``code,name,starts_on,ends_on``), offerings
(``term_code,course_code,planned_hours``) and withdrawals
(``term_code,student_number,course_code[,withdrawn]``): checked whole, then written all at once.

Both files are a few dozen rows, read into memory. Any bad row writes nothing: a term that
overlaps another, ends before it starts, or would leave recorded sessions outside its dates
cannot be partly right. Importing the first dated terms moves the records that the
open-ended term holds into the terms containing their dates (see ``_move_open_records``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import IO

from sqlalchemy import exists, func, literal, select, true, update

from portal import audit
from portal.alerts.closing import close_alerts_of_withdrawn
from portal.attendance.importing import ImportResult, RowError, _rows
from portal.attendance.saving import recompute_totals
from portal.clock import utcnow
from portal.extensions import db
from portal.models import OPEN_TERM_ID, AttendanceRecord, Course, Enrollment, Offering, Student, Term
from portal.storage.upsert import dialect_insert, upsert

KINDS = ("terms", "offerings", "withdrawals")
TERM_COLUMNS = ("code", "name", "starts_on", "ends_on")
OFFERING_COLUMNS = ("term_code", "course_code", "planned_hours")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
MAX_PLANNED_HOURS = Decimal("99999.99")


@dataclass(frozen=True)
class TermRow:
    line: int
    code: str
    name: str
    starts_on: date
    ends_on: date

    def span(self) -> str:
        return f"{self.starts_on} to {self.ends_on}"


def _date(value: str) -> date | None:
    """``YYYY-MM-DD`` as a date; None for anything else (``2026-02-30`` included)."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _parse_term(line: int, row: dict) -> tuple[TermRow | None, list[str]]:
    reasons: list[str] = []
    code = (row.get("code") or "").strip()
    name = (row.get("name") or "").strip()
    if not _CODE.fullmatch(code):
        reasons.append(f"code {code!r} must be 1-32 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if not name:
        reasons.append("name is empty")
    elif len(name) > 200:
        reasons.append(f"name is {len(name)} characters (at most 200)")
    dates = {}
    for column in ("starts_on", "ends_on"):
        raw = (row.get(column) or "").strip()
        value = _date(raw)
        if value is None:
            reasons.append(f"{column} {raw!r} is not a date (YYYY-MM-DD)")
        dates[column] = value
    if dates["starts_on"] and dates["ends_on"] and dates["ends_on"] < dates["starts_on"]:
        reasons.append(f"ends_on {dates['ends_on']} is before starts_on {dates['starts_on']}")
    if reasons:
        return None, reasons
    return TermRow(line, code, name, dates["starts_on"], dates["ends_on"]), []


def _read(stream: IO[bytes], columns: tuple[str, ...], result: ImportResult) -> list[tuple[int, dict]]:
    rows = []
    for line, row in _rows(stream, columns):
        result.rows_read += 1
        if "__extra__" in row:
            result.errors.append(RowError(line, ["more fields than the header has columns"]))
        else:
            rows.append((line, row))
    return rows


def _overlaps(terms: list[TermRow], kept: list[Term]) -> list[RowError]:
    """Overlaps among the file's terms and with the stored terms the file leaves as they are."""
    spans = [(t.starts_on, t.ends_on, t.code, t.line) for t in terms] + [
        (k.starts_on, k.ends_on, k.code, None) for k in kept
    ]
    spans.sort()
    errors = []
    for (s1, e1, c1, l1), (s2, e2, c2, l2) in zip(spans, spans[1:], strict=False):
        if s2 <= e1:
            where = f"on line {l2}" if l2 is not None else "already recorded"
            other = f"term {c2} ({s2} to {e2}, {where})"
            line = l1 if l1 is not None else l2
            this = c1 if l1 is not None else c2
            that = other if l1 is not None else f"term {c1} ({s1} to {e1}, already recorded)"
            errors.append(RowError(line, [f"term {this} overlaps {that}"]))
    return errors


def _shortened(session, terms: list[TermRow], stored: dict[str, Term]) -> list[RowError]:
    """Stored terms whose new dates would leave some of their recorded sessions outside."""
    errors = []
    for term in terms:
        old = stored.get(term.code)
        if old is None:
            continue
        outside, first = session.execute(
            select(func.count(), func.min(AttendanceRecord.date)).where(
                AttendanceRecord.term_id == old.id,
                (AttendanceRecord.date < term.starts_on) | (AttendanceRecord.date > term.ends_on),
            )
        ).one()
        if outside:
            errors.append(
                RowError(
                    term.line,
                    [
                        f"term {term.code} would be {term.span()}, leaving {outside:,} recorded session(s) "
                        f"outside it (the first on {first}); correct those records first"
                    ],
                )
            )
    return errors


def import_terms(stream: IO[bytes], *, actor: str = "system", source: str = "cli") -> ImportResult:
    """Import terms: create new codes, update the dates and names of known ones; all or nothing."""
    result = ImportResult("terms")
    session = db.session
    terms: list[TermRow] = []
    seen: dict[str, int] = {}
    for line, row in _read(stream, TERM_COLUMNS, result):
        term, reasons = _parse_term(line, row)
        if term and term.code in seen:
            reasons, term = [f"duplicates line {seen[term.code]} (same code)"], None
        if reasons:
            result.errors.append(RowError(line, reasons))
        else:
            seen[term.code] = line
            terms.append(term)
    stored = {t.code: t for t in session.scalars(select(Term).where(Term.code.is_not(None)))}
    if not result.errors:
        kept = [t for code, t in stored.items() if code not in seen]
        result.errors.extend(_overlaps(terms, kept))
        result.errors.extend(_shortened(session, terms, stored))
    if result.errors:
        session.rollback()
        return result
    now = utcnow()
    upsert(
        session,
        Term,
        [
            {"code": t.code, "name": t.name, "starts_on": t.starts_on, "ends_on": t.ends_on, "updated_at": now}
            for t in terms
        ],
        ["code"],
        ["name", "starts_on", "ends_on", "updated_at"],
    )
    moved = _move_open_records(session)
    result.rows_written = len(terms)
    audit.record(
        actor,
        "terms.import",
        f"{len(terms)} term(s)",
        details={"terms": [t.code for t in terms], "recordsMoved": moved},
        source=source,
    )
    session.commit()
    result.committed = True
    result.records_moved = moved
    return result


def _move_open_records(session) -> int:
    """Move the open-ended term's records whose dates a dated term contains into that term.

    A deployment that ran without terms keeps its records in the open-ended term; when its
    terms are imported, each record goes to the term of its date and the totals of both
    terms' enrollments are rebuilt. The open-ended term's alerts stay as they are (history).
    Returns how many records moved.
    """
    moved, touched = 0, [OPEN_TERM_ID]
    dated = session.execute(select(Term.id, Term.starts_on, Term.ends_on).where(Term.starts_on.is_not(None))).all()
    now = utcnow()
    for term_id, starts_on, ends_on in dated:

        def inside(records, first=starts_on, last=ends_on):
            return (records.c.term_id == OPEN_TERM_ID) & records.c.date.between(first, last)

        # The open-ended enrollments with a record in the term (one probe of the records'
        # unique index each) get their enrollment in the term, then the records move.
        records = AttendanceRecord.__table__.alias("r")
        held = (
            select(Enrollment.student_id, Enrollment.course_id, literal(term_id), true(), literal(now))
            .where(Enrollment.term_id == OPEN_TERM_ID)
            .where(
                exists().where(
                    records.c.student_id == Enrollment.student_id,
                    records.c.course_id == Enrollment.course_id,
                    inside(records),
                )
            )
        )
        columns = ["student_id", "course_id", "term_id", "active", "created_at"]
        session.execute(
            dialect_insert(session, Enrollment)
            .from_select(columns, held)
            .on_conflict_do_nothing(index_elements=["student_id", "course_id", "term_id"])
        )
        count = session.execute(
            update(AttendanceRecord)
            .where(inside(AttendanceRecord.__table__))
            # recorded_at stays when the session was recorded (the column's onupdate would stamp it)
            .values(term_id=term_id, recorded_at=AttendanceRecord.recorded_at)
            .execution_options(synchronize_session=False)
        ).rowcount
        moved += count
        touched += [term_id] if count else []
    if moved:
        # Rebuild the totals of every enrollment of the open-ended term and of the dated terms
        # that received records (one statement per 500, like every attendance write).
        ids = session.scalars(
            select(Enrollment.id).where(Enrollment.term_id.in_(touched)).order_by(Enrollment.id)
        ).all()
        recompute_totals(session, ids)
    return moved


def _parse_offering(row: dict, terms: dict[str, int], courses: dict[str, int]) -> tuple[tuple | None, list[str]]:
    reasons = []
    term_code = (row.get("term_code") or "").strip()
    course_code = (row.get("course_code") or "").strip()
    raw = (row.get("planned_hours") or "").strip()
    if term_code not in terms:
        reasons.append(f"unknown term {term_code!r} (import it with `flask import terms` first)")
    if course_code not in courses:
        reasons.append(f"unknown course {course_code!r}")
    try:
        planned = Decimal(raw)
        if not planned.is_finite() or planned <= 0 or planned > MAX_PLANNED_HOURS:
            raise InvalidOperation
        if planned.as_tuple().exponent < -2:
            reasons.append(f"planned_hours {raw!r} has more than 2 decimal places")
    except InvalidOperation:
        reasons.append(f"planned_hours {raw!r} is not a number of hours above 0 and at most {MAX_PLANNED_HOURS}")
        planned = None
    if reasons:
        return None, reasons
    return (terms[term_code], courses[course_code], planned), []


def import_offerings(stream: IO[bytes], *, actor: str = "system", source: str = "cli") -> ImportResult:
    """Import the planned hours of each (term, course); all or nothing."""
    result = ImportResult("offerings")
    session = db.session
    rows = _read(stream, OFFERING_COLUMNS, result)
    terms = dict(session.execute(select(Term.code, Term.id).where(Term.code.is_not(None))).all())
    courses = dict(session.execute(select(Course.code, Course.id)).all())
    values: list[dict] = []
    seen: dict[tuple[int, int], int] = {}
    now = utcnow()
    for line, row in rows:
        value, reasons = _parse_offering(row, terms, courses)
        if value and value[:2] in seen:
            reasons = [f"duplicates line {seen[value[:2]]} (same term and course)"]
        if reasons:
            result.errors.append(RowError(line, reasons))
            continue
        seen[value[:2]] = line
        values.append({"term_id": value[0], "course_id": value[1], "planned_hours": value[2], "updated_at": now})
    if result.errors:
        session.rollback()
        return result
    upsert(session, Offering, values, ["term_id", "course_id"], ["planned_hours", "updated_at"])
    result.rows_written = len(values)
    audit.record(actor, "offerings.import", f"{len(values)} offering(s)", details={"rows": len(values)}, source=source)
    session.commit()
    result.committed = True
    return result


WITHDRAWAL_COLUMNS = ("term_code", "student_number", "course_code")
_TRUTH = {"": True, "true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _enrollments_by_key(session, numbers: set[str], codes: set[str]) -> dict[tuple, int]:
    """``{(student number, course code, term id): enrollment id}`` of the named students and
    courses, in one query (a withdrawals file names a few of each)."""
    if not numbers or not codes:
        return {}
    rows = session.execute(
        select(Student.student_number, Course.code, Enrollment.term_id, Enrollment.id)
        .join(Student, Student.id == Enrollment.student_id)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Student.student_number.in_(numbers), Course.code.in_(codes))
    )
    return {(number, code, term): eid for number, code, term, eid in rows}


def import_withdrawals(stream: IO[bytes], *, actor: str = "system", source: str = "cli") -> ImportResult:
    """Mark enrollments withdrawn (``withdrawn`` column: true, the default when absent or
    empty) or back (false): a withdrawn enrollment is not scanned, and its open alerts close
    with the reason "withdrawn" and no notification. An empty ``term_code`` names the
    open-ended term. All or nothing."""
    result = ImportResult("withdrawals")
    session = db.session
    rows = _read(stream, WITHDRAWAL_COLUMNS, result)
    terms = dict(session.execute(select(Term.code, Term.id)).all())  # code None: the open-ended term
    keys = [tuple(row.get(c, "").strip() for c in WITHDRAWAL_COLUMNS) for _, row in rows]
    enrollments = _enrollments_by_key(session, {n for _, n, _ in keys}, {c for _, _, c in keys})
    changes: dict[int, bool] = {}
    for (line, row), (term_code, number, code) in zip(rows, keys, strict=True):
        flag = (row.get("withdrawn") or "").strip().lower()
        reasons = [] if flag in _TRUTH else [f"withdrawn {flag!r} is not true or false"]
        enrollment = enrollments.get((number, code, terms.get(term_code or None)))
        if enrollment is None:
            reasons.append(f"no enrollment of student {number!r} in course {code!r} in term {term_code!r}")
        if reasons:
            result.errors.append(RowError(line, reasons))
        else:
            changes[enrollment] = _TRUTH[flag]
    if result.errors:
        session.rollback()
        return result
    withdrawn = sorted(e for e, out in changes.items() if out)
    for active, ids in ((False, withdrawn), (True, sorted(e for e, out in changes.items() if not out))):
        if ids:
            session.execute(update(Enrollment).where(Enrollment.id.in_(ids)).values(active=active))
    result.alerts_closed = close_alerts_of_withdrawn(session, withdrawn, utcnow())
    result.rows_written = len(changes)
    audit.record(
        actor,
        "withdrawals.import",
        f"{len(withdrawn)} withdrawn, {len(changes) - len(withdrawn)} back",
        details={
            "withdrawn": len(withdrawn),
            "back": len(changes) - len(withdrawn),
            "alertsClosed": result.alerts_closed,
        },
        source=source,
    )
    session.commit()
    result.committed = True
    return result
