"""Writing attendance: upsert records, keep enrollment totals exact, then trigger checks.

Every write path (the API, CSV imports, demo data) goes through ``write_records`` so the
per-enrollment totals the scan reads are rewritten from the records in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from portal import audit
from portal.alerts.scan import enqueue_immediate_checks
from portal.attendance.summary_cache import invalidate_students
from portal.attendance.terms import TermCalendar, university_today
from portal.clock import utcnow
from portal.domain.records import AttendanceInput
from portal.extensions import db
from portal.models import AttendanceRecord, Course, Enrollment, Student
from portal.storage.bulk import insert_rows, upsert_rows

log = logging.getLogger(__name__)

Pair = tuple[int, int]  # (student_id, course_id)


def latest_allowed_date() -> date:
    """Return today's date at the university (records for later dates are refused)."""
    return university_today()


def resolve_ids(
    session: Session, numbers: Iterable[str], codes: Iterable[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Return ``({student_number: id}, {course_code: id})`` for the given keys that exist."""
    numbers, codes = set(numbers), set(codes)
    students = (
        dict(
            session.execute(select(Student.student_number, Student.id).where(Student.student_number.in_(numbers))).all()
        )
        if numbers
        else {}
    )
    courses = dict(session.execute(select(Course.code, Course.id).where(Course.code.in_(codes))).all()) if codes else {}
    return students, courses


def write_records(
    session: Session, rows: Sequence[tuple[int, int, AttendanceInput]], calendar: TermCalendar | None = None
) -> set[Pair]:
    """Upsert ``(student_id, course_id, record)`` rows and recompute the touched totals.

    Each record goes to the term containing its date (``calendar``, read when not given);
    ``match_records`` has refused dates outside every term. Returns the (student_id,
    course_id) pairs touched. Does not commit.
    """
    if not rows:
        return set()
    calendar = calendar or TermCalendar.load(session)
    now = utcnow()
    # Last row wins when one batch holds the same (student, course, date, slot) twice.
    latest: dict[tuple, dict] = {}
    term_of_day: dict[date, int] = {}
    for sid, cid, rec in rows:
        term_id = term_of_day.get(rec.date)
        if term_id is None:
            term_id = calendar.term_for(rec.date)
            if term_id is None:
                raise ValueError(calendar.outside_reason(rec.date))
            term_of_day[rec.date] = term_id
        latest[(sid, cid, rec.date, rec.slot)] = {
            "student_id": sid,
            "course_id": cid,
            "term_id": term_id,
            "date": rec.date,
            "slot": rec.slot,
            "hours": rec.hours,
            "status": rec.status,
            "recorded_at": now,
        }
    keys = {(r["student_id"], r["course_id"], r["term_id"]) for r in latest.values()}
    # Enrollment (in the record's term) is implied by attendance.
    insert_rows(
        session,
        Enrollment.__table__,
        [
            {"student_id": s, "course_id": c, "term_id": t, "active": True, "created_at": now}
            for s, c, t in sorted(keys)
        ],
        conflict_index=["student_id", "course_id", "term_id"],
    )
    enrollment_ids = _lock_enrollments(session, keys)
    # One JSON document per 10,000 records on PostgreSQL (docs/performance.md, imports).
    upsert_rows(
        session,
        AttendanceRecord.__table__,
        list(latest.values()),
        ["student_id", "course_id", "date", "slot"],
        ["hours", "status", "recorded_at"],
    )
    recompute_totals(session, enrollment_ids)
    return {(s, c) for s, c, _ in keys}


def _lock_enrollments(session: Session, keys: set[tuple[int, int, int]]) -> list[int]:
    """Lock the (student, course, term) enrollment rows (id order, so writers never deadlock)
    and return their ids.

    The lock makes a concurrent writer's recompute wait until this transaction commits, so
    its totals statement sees our records too (PostgreSQL READ COMMITTED takes a new snapshot
    per statement). SQLite serialises writers anyway.
    """
    ids: list[int] = []
    by_student: dict[int, set[tuple[int, int]]] = {}
    for sid, cid, tid in keys:
        by_student.setdefault(sid, set()).add((cid, tid))
    student_ids = sorted(by_student)
    for start in range(0, len(student_ids), 500):
        chunk = student_ids[start : start + 500]
        found = session.execute(
            select(Enrollment.id, Enrollment.student_id, Enrollment.course_id, Enrollment.term_id)
            .where(Enrollment.student_id.in_(chunk))
            .order_by(Enrollment.id)
            .with_for_update()
        ).all()
        ids.extend(eid for eid, sid, cid, tid in found if (cid, tid) in by_student[sid])
    return sorted(ids)


def _sum_status(*statuses: str):
    hours = case((AttendanceRecord.status.in_(statuses), AttendanceRecord.hours), else_=0)
    return func.coalesce(func.sum(hours), 0)


def recompute_totals(session: Session, enrollment_ids: Sequence[int]) -> None:
    """Rewrite held/absent/excused hours of the given enrollments from their records."""
    match = and_(
        AttendanceRecord.student_id == Enrollment.student_id,
        AttendanceRecord.course_id == Enrollment.course_id,
        AttendanceRecord.term_id == Enrollment.term_id,
    )

    def total(expr):
        return select(expr).where(match).correlate(Enrollment).scalar_subquery()

    now = utcnow()
    for start in range(0, len(enrollment_ids), 500):
        chunk = enrollment_ids[start : start + 500]
        session.execute(
            update(Enrollment)
            .where(Enrollment.id.in_(chunk))
            .values(
                held_hours=total(func.coalesce(func.sum(AttendanceRecord.hours), 0)),
                absent_hours=total(_sum_status("absent")),
                excused_hours=total(_sum_status("sick", "leave")),
                totals_updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )


def totals_mismatches(session: Session, limit: int = 100) -> list[dict]:
    """Return enrollments whose stored totals differ from a recompute over the records (want: none)."""
    sums = (
        select(
            AttendanceRecord.student_id,
            AttendanceRecord.course_id,
            AttendanceRecord.term_id,
            func.sum(AttendanceRecord.hours).label("held"),
            _sum_status("absent").label("absent"),
            _sum_status("sick", "leave").label("excused"),
        )
        .group_by(AttendanceRecord.student_id, AttendanceRecord.course_id, AttendanceRecord.term_id)
        .subquery()
    )
    held = func.coalesce(sums.c.held, 0)
    absent = func.coalesce(sums.c.absent, 0)
    excused = func.coalesce(sums.c.excused, 0)
    rows = session.execute(
        select(
            Enrollment.id,
            Enrollment.held_hours,
            held,
            Enrollment.absent_hours,
            absent,
            Enrollment.excused_hours,
            excused,
        )
        .outerjoin(
            sums,
            and_(
                sums.c.student_id == Enrollment.student_id,
                sums.c.course_id == Enrollment.course_id,
                sums.c.term_id == Enrollment.term_id,
            ),
        )
        .where(
            (Enrollment.held_hours != held)
            | (Enrollment.absent_hours != absent)
            | (Enrollment.excused_hours != excused)
        )
        .limit(limit)
    ).all()
    return [
        {
            "enrollment_id": r[0],
            "stored": [str(r[1]), str(r[3]), str(r[5])],
            "recomputed": [str(r[2]), str(r[4]), str(r[6])],
        }
        for r in rows
    ]


def after_attendance_saved(pairs: set[Pair]) -> None:
    """Invalidate the students' cached summaries and queue immediate checks (after commit).

    Redis being down here loses nothing: the records are committed and the hourly scan
    evaluates them; the failure is logged.
    """
    if not pairs:
        return
    try:
        invalidate_students({sid for sid, _ in pairs})
        enqueue_immediate_checks(sorted(pairs))
    except Exception as exc:  # noqa: BLE001 - the write succeeded; the scan is the safety net
        log.warning("attendance saved but immediate checks not queued (%s); the hourly scan will evaluate it", exc)


def match_records(
    session: Session, keyed: Sequence[tuple[object, AttendanceInput]], calendar: TermCalendar | None = None
) -> tuple[list, list]:
    """Resolve each ``(key, record)``'s student and course; return ``(rows, problems)``.

    ``rows`` are ``(student_id, course_id, record)`` ready for ``write_records``;
    ``problems`` are ``(key, reasons)`` for records naming an unknown student or course, or
    (when dated terms exist) dated outside every term.
    """
    calendar = calendar or TermCalendar.load(session)
    students, courses = resolve_ids(session, (r.student_number for _, r in keyed), (r.course_code for _, r in keyed))
    rows, problems = [], []
    for key, rec in keyed:
        reasons = []
        if rec.student_number not in students:
            reasons.append(f"unknown student {rec.student_number!r}")
        if rec.course_code not in courses:
            reasons.append(f"unknown course {rec.course_code!r}")
        if calendar.term_for(rec.date) is None:
            reasons.append(calendar.outside_reason(rec.date))
        if reasons:
            problems.append((key, reasons))
        else:
            rows.append((students[rec.student_number], courses[rec.course_code], rec))
    return rows, problems


def save_attendance(
    records: Sequence[AttendanceInput], *, actor: str = "system", source: str = "api", ip: str | None = None
) -> tuple[set[Pair], list[dict]]:
    """Save validated records and their audit entry in one transaction; return (pairs, problems).

    Problems (unknown student or course, a date in no term) are returned with their index and
    nothing is written. A record of an ended term updates that term's totals (audit-logged
    here like any save) and sends nothing: scans evaluate only the terms in progress.
    """
    session = db.session
    calendar = TermCalendar.load(session)
    rows, problems = match_records(session, list(enumerate(records)), calendar)
    if problems:
        return set(), [{"index": index, "errors": reasons} for index, reasons in problems]
    pairs = write_records(session, rows, calendar)
    audit.record(
        actor,
        "attendance.save",
        f"{len(records)} record(s)",
        details={"records": len(records), "pairs": len(pairs)},
        source=source,
        ip=ip,
    )
    session.commit()
    after_attendance_saved(pairs)
    return pairs, []
