"""Benchmark 5: the student app's inbox, ``GET /api/students/<student_number>/inbox``, under load
from wrk (a second process), served by gunicorn, with 1,000,000 inbox messages (target: p95 < 50 ms).

    python bench/inbox.py --database-url postgresql://postgres@127.0.0.1/attendance_bench_inbox --runs 3

Uses its own database (created and migrated when missing; the other benchmarks TRUNCATE theirs)
and fills it once with set-based SQL: 50,000 students in 4 of 200 courses each, one resolved
alert, notification and inbox delivery per message, and 1M messages written in time order
(ids grow with created_at, a student's messages scattered over the table): 10 heavy students
with 2,000 each, 490 busy ones with 100-300, the others about 18; about a quarter unread
(mostly the newest). Each wrk run picks a random student of the group on every request, with
an ``inbox``-scope token. Every case is checked once before it is timed, and the queries of one
call are timed with EXPLAIN ANALYZE (``--explain``: their plans too).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg
from common import BIN, ROOT, bench_env, load, machine, make_app, median, print_table, private_redis, wait_until
from pages import LUA as REPORT_LUA
from pages import wrk

DEFAULT_URL = "postgresql://postgres@127.0.0.1/attendance_bench_inbox"
PORT = 8602  # pages.py serves on 8601
REDIS_PORT = 6393  # the other benchmarks' private Redis is on 6391
STUDENTS, COURSES, MESSAGES = 50_000, 200, 1_000_000
HEAVY, HEAVY_MESSAGES, BUSY = 10, 2_000, 500  # students 1-10: 2,000 each; 11-500: 100-300
TARGET_MS = 50.0
# (label, first student, last student, query string, messages on the page when checked)
CASES = [
    ("typical student, page 1", BUSY + 1, STUDENTS, "", None),
    ("typical student, `unread=1`", BUSY + 1, STUDENTS, "?unread=1", None),
    ("busy student (100-300), page 5", HEAVY + 1, BUSY, "?page=5", 20),
    ("heavy student (2,000), page 1", 1, HEAVY, "", 20),
    ("heavy student (2,000), page 50", 1, HEAVY, "?page=50", 20),
    ("heavy student (2,000), page 100 (last)", 1, HEAVY, "?page=100", 20),
    ("heavy student (2,000), `unread=1`", 1, HEAVY, "?unread=1", 20),
]
# pages.py's reporting (percentiles, non-2xx counted per thread) plus a random student per request.
REQUEST_LUA = """
math.randomseed(os.time())
request = function()
  return wrk.format(nil, string.format("/api/students/B%07d/inbox{query}", math.random({lo}, {hi})))
end
"""
KINDS = "(ARRAY['warning', 'mahroom', 'tasdiq'])[1 + (id % 3)::int]"
COURSE = f"1 + (student_id + (id % 4) * {COURSES // 4}) % {COURSES}"
DATA_SQL = [
    "TRUNCATE inbox_messages, deliveries, notifications, alerts, attendance_records, enrollments, students, courses "
    "RESTART IDENTITY CASCADE",
    f"INSERT INTO courses (id, code, title, created_at) SELECT c, 'C' || lpad(c::text, 4, '0'), 'Course ' || c, "
    f"timestamp '2025-09-01' FROM generate_series(1, {COURSES}) c",
    "INSERT INTO students (id, student_number, name, email, active, created_at, updated_at) SELECT s, "
    "'B' || lpad(s::text, 7, '0'), 'Student ' || s, 'b' || s || '@students.example', true, "
    f"timestamp '2025-09-01', timestamp '2025-09-01' FROM generate_series(1, {STUDENTS}) s",
    "INSERT INTO enrollments (student_id, course_id, active, held_hours, absent_hours, excused_hours, "
    f"totals_updated_at, created_at) SELECT s, 1 + (s + k * {COURSES // 4}) % {COURSES}, true, 80, 18, 0, "
    f"timestamp '2026-06-01', timestamp '2025-09-01' FROM generate_series(1, {STUDENTS}) s, generate_series(0, 3) k",
    # One row per message: its student, time, rank (1 = newest) and whether it is unread.
    "CREATE TEMP TABLE plan ON COMMIT DROP AS SELECT row_number() OVER (ORDER BY t, student_id, n) AS id, "
    "student_id, t, row_number() OVER (PARTITION BY student_id ORDER BY t DESC, n DESC) AS newest, unread "
    "FROM (SELECT c.student_id, g.n, c.unread, timestamp '2025-09-01' + random() * interval '300 days' AS t "
    "FROM unnest(%(students)s::int[], %(counts)s::int[], %(unread)s::int[]) AS c(student_id, total, unread) "
    "CROSS JOIN LATERAL generate_series(1, c.total) AS g(n)) m",
    "INSERT INTO alerts (id, student_id, course_id, kind, status, suppressed, rate, threshold, held_hours, "
    "absent_hours, excused_hours, opened_at, resolved_at, resolved_rate) SELECT id, student_id, "
    f"{COURSE}, {KINDS}, 'resolved', false, 77.5, 80, 80, 18, 0, t, t + interval '14 days', 85 FROM plan ORDER BY id",
    "INSERT INTO notifications (id, alert_id, student_id, kind, subject, body, payload, created_at) SELECT id, id, "
    f"student_id, {KINDS}, 'Attendance ' || {KINDS}, repeat('Your attendance is low. ', 20), "
    "jsonb_build_object('alertId', id), t FROM plan ORDER BY id",
    "INSERT INTO deliveries (id, notification_id, kind, channel, recipient, status, attempts, last_attempt_at, "
    f"sent_at, created_at, updated_at) SELECT id, id, {KINDS}, 'inbox', 'student:' || student_id, 'sent', 1, t, t, "
    "t, t FROM plan ORDER BY id",
    "INSERT INTO inbox_messages (id, student_id, delivery_id, subject, body, urgent, created_at, read_at) SELECT id, "
    f"student_id, id, 'Attendance ' || {KINDS}, repeat('Your attendance is low. ', 20), id % 3 = 1, t, "
    "CASE WHEN newest <= unread OR id % 50 = 0 THEN NULL ELSE t + interval '2 days' END FROM plan ORDER BY id",
    *(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
        for table in ("courses", "students", "enrollments", "alerts", "notifications", "deliveries", "inbox_messages")
    ),
]


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def message_counts(seed: int = 7) -> tuple[list[int], list[int]]:
    """Return each student's message count (summing to MESSAGES) and how many of the newest are unread."""
    rng = random.Random(seed)
    counts = [HEAVY_MESSAGES] * HEAVY + [rng.randint(100, 300) for _ in range(HEAVY, BUSY)]
    typical = STUDENTS - BUSY
    average = (MESSAGES - sum(counts)) // typical
    rest = [rng.randint(5, 2 * average - 5) for _ in range(typical)]
    step = 1 if sum(rest) < MESSAGES - sum(counts) else -1
    while sum(counts) + sum(rest) != MESSAGES:  # off by a few hundred at most
        i = rng.randrange(typical)
        if rest[i] + step >= 1:
            rest[i] += step
    counts += rest
    # Most students read nearly everything; some leave a backlog; some never open the app.
    unread = [int(n * rng.choice([0.0, 0.05, 0.1, 0.1, 0.2, 0.3, 0.5, 1.0])) for n in counts]
    unread[:HEAVY] = [400] * HEAVY
    return counts, unread


def ensure_database(url: str) -> None:
    """Create the database when missing, then migrate it (generate.py's ``migrate``)."""
    from generate import migrate

    parts = urllib.parse.urlsplit(plain(url))
    name = parts.path.lstrip("/")
    server = urllib.parse.urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    migrate(plain(url))


def have_data(url: str) -> dict | None:
    """Return the data set's counts when it is the one this benchmark writes, else None."""
    with psycopg.connect(plain(url)) as conn:
        students, messages, unread, heavy = conn.execute(
            "SELECT (SELECT count(*) FROM students), count(*), count(*) FILTER (WHERE read_at IS NULL), "
            "count(*) FILTER (WHERE student_id = 1) FROM inbox_messages"
        ).fetchone()
    if (students, messages, heavy) != (STUDENTS, MESSAGES, HEAVY_MESSAGES):
        return None
    return {"students": students, "inbox messages": messages, "unread": unread}


def generate(url: str) -> dict:
    """Write the data set (set-based SQL, one transaction), then VACUUM ANALYZE; return the counts."""
    counts, unread = message_counts()
    params = {"students": list(range(1, STUDENTS + 1)), "counts": counts, "unread": unread}
    print(f"generating {STUDENTS:,} students and {MESSAGES:,} inbox messages (a few minutes)", flush=True)
    started = time.monotonic()
    with psycopg.connect(plain(url)) as conn:
        conn.execute("SELECT setseed(0.7)")
        for statement in DATA_SQL:
            conn.execute(statement, params if "%(" in statement else None)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")  # the visibility map too: the counts are index-only scans
    print(f"generated in {time.monotonic() - started:.0f} s", flush=True)
    return have_data(url)


def credentials(app) -> str:
    """Create the bench viewer (once) and a fresh ``inbox``-scope token; return the token."""
    from werkzeug.security import generate_password_hash

    from portal.auth import create_token
    from portal.extensions import db
    from portal.models import ApiToken, User

    with app.app_context():
        user = db.session.execute(db.select(User).where(User.username == "bench-inbox")).scalar_one_or_none()
        if user is None:
            user = User(username="bench-inbox", role="viewer", password_hash=generate_password_hash("bench inbox 1234"))
            db.session.add(user)
            db.session.flush()
        db.session.execute(db.delete(ApiToken).where(ApiToken.user_id == user.id))  # earlier runs' tokens
        token = create_token(user, "bench-inbox", scope="inbox")
        db.session.commit()
        db.session.remove()
    return token


def sample_students(url: str) -> dict[tuple[int, int], str]:
    """Return one student number per student range of CASES, with at least 20 messages (20 unread)."""
    picked = {}
    with psycopg.connect(plain(url)) as conn:
        for _, lo, hi, _, _ in CASES:
            picked[(lo, hi)] = conn.execute(
                "SELECT s.student_number FROM students s WHERE s.id BETWEEN %s AND %s AND "
                "(SELECT count(*) FROM inbox_messages m WHERE m.student_id = s.id AND m.read_at IS NULL) >= 20 "
                "ORDER BY s.id LIMIT 1",
                (lo, hi),
            ).fetchone()[0]
    return picked


def fetch_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        if response.status != 200:
            raise SystemExit(f"{url}: status {response.status}")
        return json.loads(response.read())


def verify(base: str, token: str, number: str, query: str, expected: int | None) -> None:
    """Fail unless the case's answer is a successful page of that student's messages, newest first."""
    body = fetch_json(f"{base}/api/students/{number}/inbox{query}", token)
    if body.get("success") is not True:
        raise SystemExit(f"{number}{query}: no success: {str(body)[:300]}")
    data = body["data"]
    messages = data["messages"]
    ids = [m["id"] for m in messages]
    problems = []
    if len(messages) != (expected or 20):  # the students checked have at least 20 (unread) messages
        problems.append(f"{len(messages)} messages, expected {expected or 20}")
    if ids != sorted(ids, reverse=True):
        problems.append("not newest first")
    if "unread=1" in query and any(m["readAt"] is not None for m in messages):
        problems.append("read messages in the unread filter")
    if not all(m["courseCode"] and m["kind"] for m in messages):
        problems.append("a message without its course or kind")
    if problems:
        raise SystemExit(f"GET {number}/inbox{query}: " + "; ".join(problems))
    print(f"checked {number}/inbox{query}: {len(messages)} messages, {data['unread']} unread, {data['pages']} pages")


def explain(app, number: str, query: str, show: bool) -> list[float]:
    """Run the view's queries once (as the app does) and EXPLAIN ANALYZE each; return their ms."""
    from sqlalchemy import event

    from portal.extensions import db
    from portal.notifications import inbox

    args = urllib.parse.parse_qs(query.lstrip("?"))
    page, unread_only = int(args.get("page", ["1"])[0]), args.get("unread", ["0"])[0] == "1"
    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    with app.app_context():
        student = inbox.find_student(number)
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            inbox.inbox_page(student.id, page, unread_only)
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        times = []
        with db.engine.connect() as conn:
            for statement, parameters in captured:
                plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
                times.append(float(plan[-1].split()[2]))  # "Execution Time: 0.123 ms"
                if show:
                    print(f"-- {number}{query}\n{statement % _quoted(parameters)}\n" + "\n".join(plan) + "\n")
        db.session.remove()
    return times


def _quoted(parameters) -> dict:
    return {k: repr(v) if isinstance(v, str) else v for k, v in (parameters or {}).items()}


def time_cases(base: str, token: str, args, directory: Path) -> list[list]:
    """Run wrk ``args.runs`` times on every case; return the table's rows."""
    rows = []
    headers = [f"Authorization: Bearer {token}"]
    for label, lo, hi, query, _ in CASES:
        script = directory / f"case-{lo}-{hi}-{len(rows)}.lua"
        script.write_text(
            REPORT_LUA + REQUEST_LUA.replace("{query}", query).replace("{lo}", str(lo)).replace("{hi}", str(hi))
        )
        results, loads = [], []
        for _ in range(args.runs):
            results.append(wrk(f"{base}/api/students/", headers, args.seconds, args.connections, str(script)))
            loads.append(load())
        print(label, results, flush=True)
        p95 = median([r["p95"] for r in results])
        rows.append(
            [
                label,
                f"B{lo:07d}-B{hi:07d}",
                f"{median([r['rps'] for r in results]):.0f}",
                f"{median([r['p50'] for r in results]):.1f}",
                f"{p95:.1f}",
                f"{median([r['p99'] for r in results]):.1f}",
                sum(r["errors"] for r in results),
                "; ".join(loads),
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--explain", action="store_true", help="print each query's plan")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="bench-inbox-"))
    with private_redis(REDIS_PORT) as redis_url:
        env = bench_env(args.database_url, redis_url)
        ensure_database(args.database_url)
        counts = have_data(args.database_url) or generate(args.database_url)
        print(f"machine: {machine()}; data: {counts}; load: {load()}", flush=True)
        app = make_app()
        token = credentials(app)
        samples = sample_students(args.database_url)
        db_rows = []
        for label, lo, hi, query, _ in CASES:
            times = explain(app, samples[(lo, hi)], query, args.explain)
            db_rows.append([label, samples[(lo, hi)] + query, *(f"{t:.2f}" for t in times), f"{sum(times):.2f}"])
        base = f"http://127.0.0.1:{PORT}"
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{PORT}", "--workers", str(args.gunicorn_workers), "wsgi:app"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: _up(base), 60, 0.2, "gunicorn up")
            for _, lo, hi, query, expected in CASES:
                verify(base, token, samples[(lo, hi)], query, expected)
            rows = time_cases(base, token, args, directory)
        finally:
            server.terminate()
            server.wait(20)
    report(args, counts, rows, db_rows)


def report(args, counts: dict, rows: list[list], db_rows: list[list]) -> None:
    print_table(
        "Benchmark 5: inbox queries of one call (EXPLAIN ANALYZE execution time, ms; planning not included)",
        ["case", "student", "unread count", "total count", "page ids", "page rows", "sum"],
        # unread=1: the unread count is the total, so one query fewer
        [row if len(row) == 7 else row[:3] + ["-", *row[3:]] for row in db_rows],
    )
    print_table(
        f"Benchmark 5: `GET /api/students/<n>/inbox` with {counts['inbox messages']:,} inbox messages "
        f"({counts['unread']:,} unread, {counts['students']:,} students; wrk, {args.connections} connections, "
        f"{args.seconds} s x {args.runs}; gunicorn {args.gunicorn_workers} sync workers; random student per request; "
        f"medians)",
        ["case", "students", "requests/s", "p50 ms", "p95 ms", "p99 ms", "non-2xx/errors", "load after each run"],
        rows,
    )
    worst = max(float(row[4]) for row in rows)
    failed = sum(row[6] for row in rows)
    verdict = "PASS" if worst < TARGET_MS and not failed else "FAIL"
    print(f"{verdict}: worst p95 {worst:.1f} ms (target < {TARGET_MS:.0f} ms), {failed} non-2xx/errors", flush=True)


def _up(base: str) -> bool:
    try:
        return urllib.request.urlopen(f"{base}/login", timeout=5).status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
