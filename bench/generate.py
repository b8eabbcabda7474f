"""Load a synthetic university straight into PostgreSQL with COPY (benchmarks only).

    python bench/generate.py --database-url postgresql://postgres@127.0.0.1/attendance_bench --students 20000

Creates the schema (migrations) when missing, empties the tables, then writes students,
courses, enrollments (with their hour totals) and 40 two-hour sessions per course per student:
6 courses each, so 20,000 students give 4.8M attendance rows and 100,000 give 24M.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COURSES_PER_STUDENT = 6
SESSION_HOURS = 2
# (share, absent sessions range, sick/leave sessions range) out of 40 sessions.
PROFILES = [
    (0.60, (0, 3), (0, 0)),
    (0.12, (5, 8), (0, 0)),  # around the warning line
    (0.10, (8, 10), (0, 0)),  # warning, near mahroom
    (0.06, (10, 16), (0, 0)),  # mahroom
    (0.12, (0, 4), (3, 9)),  # tasdiq
]
TABLES = [
    "inbox_messages",
    "deliveries",
    "notifications",
    "alerts",
    "attendance_records",
    "enrollments",
    "students",
    "courses",
    "job_runs",
]


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def migrate(url: str) -> None:
    os.environ.setdefault("FLASK_ENV", "development")
    from flask_migrate import upgrade

    from portal import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url.replace("postgresql://", "postgresql+psycopg://", 1)})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))


def profile(rng: random.Random) -> tuple[int, int]:
    pick = rng.random()
    for share, (alo, ahi), (elo, ehi) in PROFILES:
        if pick < share:
            return rng.randint(alo, ahi), rng.randint(elo, ehi)
        pick -= share
    return 0, 0


def drop_record_indexes(cur) -> list[str]:
    """Drop attendance_records' foreign keys, unique constraint and indexes (the bulk-load
    recipe); return the statements that put them back."""
    constraints = cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'attendance_records'::regclass AND contype IN ('f', 'u')"
    ).fetchall()
    indexes = cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'attendance_records' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'attendance_records'::regclass)"
    ).fetchall()
    for name, _ in constraints:
        cur.execute(f'ALTER TABLE attendance_records DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cur.execute(f'DROP INDEX "{name}"')
    return [definition for _, definition in indexes] + [
        f'ALTER TABLE attendance_records ADD CONSTRAINT "{name}" {definition}' for name, definition in constraints
    ]


def generate(url: str, students: int, sessions: int, seed: int) -> dict:
    rng = random.Random(seed)
    courses = max(COURSES_PER_STUDENT, students // 400)
    start = date(2026, 9, 1)
    dates = [start + timedelta(days=(i // 2) * 7 + (i % 2) * 2) for i in range(sessions)]
    timings = {}
    with psycopg.connect(plain_url(url), autocommit=False) as conn:
        cur = conn.cursor()
        t = time.monotonic()
        cur.execute("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE")
        with cur.copy("COPY courses (id, code, title, created_at) FROM STDIN") as copy:
            for c in range(1, courses + 1):
                copy.write_row((c, f"C{c:04d}", f"Course {c}", "2026-09-01"))
        with cur.copy(
            "COPY students (id, student_number, name, email, guardian_email, active, created_at, updated_at) FROM STDIN"
        ) as copy:
            for s in range(1, students + 1):
                copy.write_row(
                    (s, f"B{s:07d}", f"Student {s}", f"b{s}@students.example", None, True, "2026-09-01", "2026-09-01")
                )
        timings["students+courses"] = time.monotonic() - t
        t = time.monotonic()
        saved = drop_record_indexes(cur)
        enrollment_buf = io.StringIO()
        eid = 0
        with cur.copy(
            "COPY attendance_records (student_id, course_id, date, slot, hours, status, recorded_at) FROM STDIN"
        ) as copy:
            for s in range(1, students + 1):
                chunk = []
                for c in rng.sample(range(1, courses + 1), COURSES_PER_STUDENT):
                    absent, excused = profile(rng)
                    statuses = ["absent"] * absent + ["sick"] * excused
                    statuses += ["present"] * (sessions - len(statuses))
                    rng.shuffle(statuses)
                    for i, status in enumerate(statuses):
                        chunk.append(f"{s}\t{c}\t{dates[i]}\t1\t{SESSION_HOURS}\t{status}\t2026-11-01\n")
                    eid += 1
                    enrollment_buf.write(
                        f"{eid}\t{s}\t{c}\tt\t{sessions * SESSION_HOURS}\t{absent * SESSION_HOURS}\t{excused * SESSION_HOURS}\t2026-11-01\t2026-09-01\n"
                    )
                copy.write("".join(chunk))
        timings["attendance"] = time.monotonic() - t
        t = time.monotonic()
        for statement in saved:
            cur.execute(statement)
        timings["attendance indexes"] = time.monotonic() - t
        t = time.monotonic()
        with cur.copy(
            "COPY enrollments (id, student_id, course_id, active, held_hours, absent_hours, excused_hours, totals_updated_at, created_at) FROM STDIN"
        ) as copy:
            copy.write(enrollment_buf.getvalue())
        for table in ("students", "courses", "enrollments", "attendance_records"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        timings["enrollments"] = time.monotonic() - t
        t = time.monotonic()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
        timings["vacuum"] = time.monotonic() - t
    return {"students": students, "courses": courses, "enrollments": eid, "records": eid * sessions, "seconds": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/attendance_bench"),
    )
    parser.add_argument("--students", type=int, default=20000)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    migrate(args.database_url)
    result = generate(args.database_url, args.students, args.sessions, args.seed)
    print(result)


if __name__ == "__main__":
    main()
