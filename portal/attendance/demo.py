"""A realistic demo university with students spread around every threshold."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select

from portal.alerts.evaluation import apply_evaluations, totals_for_student_range
from portal.attendance.saving import latest_allowed_date, recompute_totals
from portal.clock import utcnow
from portal.extensions import db
from portal.models import AttendanceRecord, Course, Enrollment, Offering, Student, Term
from portal.storage.upsert import insert_ignore

COURSE_TITLES = [
    ("CS101", "Introduction to Programming"),
    ("MATH110", "Calculus I"),
    ("PHYS120", "Physics I"),
    ("ENG101", "Academic English"),
    ("DARI102", "Dari Literature"),
    ("CHEM101", "General Chemistry"),
    ("STAT201", "Probability and Statistics"),
    ("ECON101", "Principles of Economics"),
    ("HIST110", "History of Afghanistan"),
    ("BIO101", "Biology I"),
]
FIRST = [
    "Ahmad",
    "Fatima",
    "Mohammad",
    "Zahra",
    "Ali",
    "Maryam",
    "Hamid",
    "Shabnam",
    "Farid",
    "Nilofar",
    "Omid",
    "Parwana",
    "Karim",
    "Sodaba",
    "Javid",
    "Laila",
]
LAST = [
    "Ahmadi",
    "Rahimi",
    "Karimi",
    "Hashimi",
    "Noori",
    "Sultani",
    "Haidari",
    "Popal",
    "Wardak",
    "Amiri",
    "Sadat",
    "Nazari",
]
# (share of enrollments, absent sessions range, sick/leave sessions range) as fractions of sessions.
PROFILES = [
    (0.55, (0.0, 0.08), (0.0, 0.0)),  # attending well
    (0.12, (0.12, 0.20), (0.0, 0.0)),  # around the warning line (80 %)
    (0.10, (0.20, 0.25), (0.0, 0.0)),  # warning, near mahroom (75 %)
    (0.08, (0.25, 0.45), (0.0, 0.0)),  # mahroom
    (0.15, (0.0, 0.10), (0.08, 0.25)),  # sick or on leave: tasdiq
]
CHUNK = 5000


def has_students() -> bool:
    """True when the database already holds at least one student."""
    return db.session.execute(select(func.count()).select_from(Student)).scalar_one() > 0


def _profile(rng: random.Random):
    pick = rng.random()
    for share, absent, excused in PROFILES:
        if pick < share:
            return absent, excused
        pick -= share
    return PROFILES[0][1], PROFILES[0][2]


# Half Dari, a third Pashto, a sixth English (not drawn from the seeded generator, so the rest
# of the demo data stays what it was).
DEMO_LANGUAGES = ("fa", "fa", "fa", "ps", "ps", "en")


PAST_TERM_WEEKS = 16
CURRENT_TERM_EXTRA_WEEKS = 10  # weeks of the current term still to come
SESSION_HOURS = Decimal(2)  # a session's planned length (recorded sessions vary: 1 to 3 hours)


def seed(
    *, students: int, courses: int, sessions: int, seed: int, progress: Callable[[str], None] | None = None
) -> dict:
    """Insert a demo university and return counts of what was written.

    Two terms: the past one (16 weekly sessions per course, ended the day before the current
    one began) and the current one (``sessions`` held so far, 10 weeks to go, planned hours
    per course). Every student took 3-4 courses last term; whoever ended one of them mahroom
    retakes it this term, beside 3-4 new courses. The past term's alerts are written as its
    scans would have left them, without notifications (history).
    """
    rng, session, say = random.Random(seed), db.session, progress or (lambda message: None)
    course_ids = _insert_courses(session, courses)
    numbers = _insert_students(session, rng, students)
    say(f"{students:,} students written")
    today = latest_allowed_date()
    current_start = today - timedelta(days=7 * sessions)
    past, current = _demo_terms(session, course_ids, current_start, today + timedelta(weeks=CURRENT_TERM_EXTRA_WEEKS))
    past_start = current_start - timedelta(weeks=PAST_TERM_WEEKS)
    records_written = enrollments = retakes = 0
    now = utcnow()
    for start in range(0, len(numbers), 1000):
        ids = list(
            session.execute(
                select(Student.id).where(Student.student_number.in_(numbers[start : start + 1000]))
            ).scalars()
        )
        pending: list[dict] = []
        pairs = []
        for sid in ids:
            taken = rng.sample(course_ids, k=min(len(course_ids), rng.randint(3, 4)))
            failed = []
            for cid in taken:
                records = _term(rng, sid, cid, PAST_TERM_WEEKS, past_start, past)
                failed += [cid] if _absent_share(records) >= Decimal("0.25") else []
                pairs.append(_enrollment(sid, cid, past, now))
                pending.extend(records)
            fresh = [c for c in course_ids if c not in failed]
            retakes += len(failed)
            for cid in failed + rng.sample(fresh, k=min(len(fresh), rng.randint(3, 4))):
                pairs.append(_enrollment(sid, cid, current, now))
                pending.extend(_term(rng, sid, cid, sessions, current_start, current))
        insert_ignore(session, Enrollment, pairs, ["student_id", "course_id", "term_id"])
        enrollments += len(pairs)
        for chunk_start in range(0, len(pending), CHUNK):
            session.execute(insert(AttendanceRecord), pending[chunk_start : chunk_start + CHUNK])
        records_written += len(pending)
        enrollment_ids = list(session.execute(select(Enrollment.id).where(Enrollment.student_id.in_(ids))).scalars())
        recompute_totals(session, enrollment_ids)
        _past_alerts(session, ids[0], ids[-1], past, past_start + timedelta(weeks=PAST_TERM_WEEKS))
        session.commit()
        say(f"{min(start + 1000, len(numbers)):,}/{len(numbers):,} students' attendance written")
    return {
        "students": students,
        "courses": len(course_ids),
        "enrollments": enrollments,
        "records": records_written,
        "retakes": retakes,
    }


def _enrollment(sid: int, cid: int, term_id: int, now) -> dict:
    return {"student_id": sid, "course_id": cid, "term_id": term_id, "active": True, "created_at": now}


def _demo_terms(session, course_ids: list[int], current_start: date, current_end: date) -> tuple[int, int]:
    """Create (or find) the past and the current demo term and the current term's planned hours."""
    past_start = current_start - timedelta(weeks=PAST_TERM_WEEKS)
    rows = [
        {
            "code": "DEMO-PAST",
            "name": "Last term (demo)",
            "starts_on": past_start,
            "ends_on": current_start - timedelta(days=1),
        },
        {"code": "DEMO-NOW", "name": "This term (demo)", "starts_on": current_start, "ends_on": current_end},
    ]
    insert_ignore(session, Term, [{**r, "created_at": utcnow(), "updated_at": utcnow()} for r in rows], ["code"])
    ids = dict(session.execute(select(Term.code, Term.id).where(Term.code.in_(["DEMO-PAST", "DEMO-NOW"]))).all())
    weeks = (current_end - current_start).days // 7 + 1
    insert_ignore(
        session,
        Offering,
        [
            {
                "term_id": ids["DEMO-NOW"],
                "course_id": cid,
                "planned_hours": SESSION_HOURS * weeks,
                "updated_at": utcnow(),
            }
            for cid in course_ids
        ],
        ["term_id", "course_id"],
    )
    return ids["DEMO-PAST"], ids["DEMO-NOW"]


def _absent_share(records: list[dict]) -> Decimal:
    held = sum(r["hours"] for r in records)
    return sum(r["hours"] for r in records if r["status"] == "absent") / held if held else Decimal(0)


def _past_alerts(session, first: int, last: int, past: int, ended_on: date) -> None:
    """The alerts the past term's scans would have left open at its end (no notifications)."""
    at = datetime.combine(ended_on, time(12))
    rows = totals_for_student_range(session, first, last, [past])
    apply_evaluations(session, rows, at, [past])


def _insert_courses(session, courses: int) -> list[int]:
    """Insert ``courses`` demo courses (titles repeat with a suffix past the list); return their ids."""
    titles = (COURSE_TITLES * (courses // len(COURSE_TITLES) + 1))[:courses]
    course_rows = [
        {"code": code if i < len(COURSE_TITLES) else f"{code}-{i // len(COURSE_TITLES)}", "title": title}
        for i, (code, title) in enumerate(titles)
    ]
    insert_ignore(session, Course, course_rows, ["code"])
    return list(session.execute(select(Course.id).where(Course.code.in_([c["code"] for c in course_rows]))).scalars())


def _insert_students(session, rng: random.Random, students: int) -> list[str]:
    """Insert ``students`` demo students numbered after those that exist; return their numbers."""
    start_number = session.execute(select(func.count()).select_from(Student)).scalar_one()
    student_rows = []
    for i in range(students):
        number = f"S{start_number + i + 1:06d}"
        first, last = rng.choice(FIRST), rng.choice(LAST)
        student_rows.append(
            {
                "student_number": number,
                "name": f"{first} {last}",
                "email": f"{number.lower()}@students.university.example",
                "guardian_email": f"guardian.{number.lower()}@family.example" if rng.random() < 0.6 else None,
                "language": DEMO_LANGUAGES[i % len(DEMO_LANGUAGES)],
                "active": rng.random() > 0.02,
                "created_at": utcnow(),
                "updated_at": utcnow(),
            }
        )
    insert_ignore(session, Student, student_rows, ["student_number"])
    return [r["student_number"] for r in student_rows]


def _term(rng: random.Random, sid: int, cid: int, sessions: int, term_start: date, term_id: int) -> list[dict]:
    (absent_lo, absent_hi), (excused_lo, excused_hi) = _profile(rng)
    held = max(1, sessions - rng.randint(0, 2))
    absent = round(held * rng.uniform(absent_lo, absent_hi))
    excused = round(held * rng.uniform(excused_lo, excused_hi))
    statuses = ["absent"] * absent + [rng.choice(["sick", "leave"]) for _ in range(excused)]
    statuses = statuses[:held]
    statuses += [rng.choice(["present"] * 9 + ["late"]) for _ in range(held - len(statuses))]
    rng.shuffle(statuses)
    # Sessions of different lengths spread the rates finely, so every band (warning only,
    # mahroom, tasdiq, just above a line) has students in it.
    lengths = [Decimal(rng.choice(["1", "1.5", "2", "2", "3"])) for _ in statuses]
    now = utcnow()
    return [
        {
            "student_id": sid,
            "course_id": cid,
            "term_id": term_id,
            "date": term_start + timedelta(days=7 * n),
            "slot": 1,
            "hours": hours,
            "status": status,
            "recorded_at": now,
        }
        for n, (status, hours) in enumerate(zip(statuses, lengths, strict=True))
    ]
