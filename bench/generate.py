"""Load a synthetic university straight into PostgreSQL with COPY (benchmarks only).

    python bench/generate.py --database-url postgresql://postgres@127.0.0.1/attendance_bench --students 20000

Creates the schema (migrations) when missing, empties the tables, then writes students,
courses, enrollments (with their hour totals) and 40 two-hour sessions per course per student
per term: 6 courses each term. With ``--terms 2`` (the default) there are two terms, the
current one (it began 100 days ago) and the one before it, each with its own 6 courses per
student: 20,000 students give 9.6M attendance rows and 100,000 give 48M (``--terms 1``: one
open-ended term, half of that, as the benchmarks ran before terms existed).
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
    "offerings",
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


def term_spans(terms: int) -> list[tuple[int | None, date, date]]:
    """``(term id, first day, last day)`` of each term, oldest first; id None: the open-ended
    term (``--terms 1``). The current term contains today, so the scan evaluates it."""
    today = date.today()
    current = (today - timedelta(days=100), today + timedelta(days=60))
    if terms == 1:
        return [(None, *current)]
    spans = []
    for back in range(terms - 1, 0, -1):  # 200-day terms before the current one
        end = current[0] - timedelta(days=1 + 200 * (back - 1))
        spans.append((None, end - timedelta(days=199), end))
    return [(i + 2, first, last) for i, (_, first, last) in enumerate([*spans, (None, *current)])]


def write_terms(cur, spans) -> None:
    cur.execute("DELETE FROM terms WHERE id <> 1")
    for number, (term_id, first, last) in enumerate(spans, start=1):
        if term_id is not None:
            cur.execute(
                "INSERT INTO terms (id, code, name, starts_on, ends_on, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, now(), now())",
                (term_id, f"BENCH-{number}", f"Benchmark term {number}", first, last),
            )
    cur.execute("SELECT setval(pg_get_serial_sequence('terms', 'id'), (SELECT max(id) FROM terms))")


def generate(url: str, students: int, sessions: int, seed: int, terms: int = 2) -> dict:
    rng = random.Random(seed)
    courses = max(COURSES_PER_STUDENT, students // 400)
    spans = term_spans(terms)
    timings = {}
    with psycopg.connect(plain_url(url), autocommit=False) as conn:
        cur = conn.cursor()
        t = time.monotonic()
        cur.execute("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY CASCADE")
        write_terms(cur, spans)
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
            "COPY attendance_records (student_id, course_id, term_id, date, slot, hours, status, recorded_at) FROM STDIN"
        ) as copy:
            for term_id, first, _ in spans:
                term = term_id or 1
                dates = [first + timedelta(days=(i // 2) * 7 + (i % 2) * 2) for i in range(sessions)]
                for s in range(1, students + 1):
                    chunk = []
                    for c in rng.sample(range(1, courses + 1), COURSES_PER_STUDENT):
                        absent, excused = profile(rng)
                        statuses = ["absent"] * absent + ["sick"] * excused
                        statuses += ["present"] * (sessions - len(statuses))
                        rng.shuffle(statuses)
                        for i, status in enumerate(statuses):
                            chunk.append(f"{s}\t{c}\t{term}\t{dates[i]}\t1\t{SESSION_HOURS}\t{status}\t2026-11-01\n")
                        eid += 1
                        enrollment_buf.write(
                            f"{eid}\t{s}\t{c}\t{term}\tt\t{sessions * SESSION_HOURS}\t{absent * SESSION_HOURS}\t"
                            f"{excused * SESSION_HOURS}\t2026-11-01\t2026-09-01\n"
                        )
                    copy.write("".join(chunk))
        timings["attendance"] = time.monotonic() - t
        t = time.monotonic()
        for statement in saved:
            cur.execute(statement)
        timings["attendance indexes"] = time.monotonic() - t
        t = time.monotonic()
        with cur.copy(
            "COPY enrollments (id, student_id, course_id, term_id, active, held_hours, absent_hours, excused_hours, "
            "totals_updated_at, created_at) FROM STDIN"
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
    return {
        "students": students,
        "courses": courses,
        "terms": terms,
        "enrollments": eid,
        "records": eid * sessions,
        "seconds": timings,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/attendance_bench"),
    )
    parser.add_argument("--students", type=int, default=20000)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--terms", type=int, default=2, help="terms of data (1: the open-ended term only)")
    args = parser.parse_args()
    migrate(args.database_url)
    result = generate(args.database_url, args.students, args.sessions, args.seed, args.terms)
    print(result)


if __name__ == "__main__":
    main()
