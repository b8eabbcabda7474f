"""Benchmark 4: the dashboard, the live fragments it polls, the retry-queue page, a student's page,
the at-risk page and its CSV export, the alerts page and ``GET /api/admin/background-jobs`` under
load from wrk (a second process), served by gunicorn, with 1M deliveries and 10k pending retries.

    python bench/pages.py --database-url postgresql://postgres@127.0.0.1/attendance_bench --runs 3

Replaces the alerts, notifications and deliveries of the database with 250,000 resolved alerts,
their notifications and 4 deliveries each (sent, except 10,000 waiting for a retry and 2,000
dead), then opens the alerts the current term's hour totals call for (warning, mahroom with its
suppressed warning, tasdiq; no notifications) with a case on every other one (a third handled):
the at-risk page and export are those of the course with the most open alerts. The pages and fragments are fetched signed in (session cookie), the API with a Bearer
token. An open dashboard fetches each of its four fragments every ``LIVE_REFRESH_SECONDS``.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from common import (
    BIN,
    DEFAULT_DB,
    ROOT,
    bench_env,
    load,
    machine,
    make_app,
    median,
    print_table,
    private_redis,
    wait_until,
)

# BENCH_PAGES_PORT: another checkout running this benchmark at the same time needs its own port.
PORT = int(os.environ.get("BENCH_PAGES_PORT", "8601"))
# The student page's student: 6 courses, 240 records, 20 notifications of 4 deliveries each.
BENCH_STUDENT = "BENCH-S1"
# Signed-in endpoints: (label, path, a marker of the real answer, whether it is a fragment).
SESSION_TARGETS = [
    ("dashboard `/`", "/", "Jobs", False),
    ("live fragment `/live/health`", "/live/health", "data-health=", True),
    ("live fragment `/live/jobs`", "/live/jobs", '<table class="jobs">', True),
    ("live fragment `/live/queues`", "/live/queues", "<h2>Queues</h2>", True),
    ("live fragment `/live/retry`", "/live/retry", "data-retry-total=", True),
    ("retry queue `/retry-queue/`", "/retry-queue/", "Retry queue", False),
    ("student page `/students/<number>`", f"/students/{BENCH_STUDENT}", "Attendance records", False),
]
PASSWORD = "bench password 1234"
# Sessions are bound to the client's address and User-Agent (Flask-Login "strong" protection):
# wrk sends the one the session signed in with, or every request would be a redirect to sign-in.
USER_AGENT = "bench-pages"
# wrk's own error count leaves out 3xx: a redirect to sign-in would be timed as a page. Every
# answer that is not 2xx is counted here, in the thread, and added up when the run is done.
LUA = """
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end
init = function(args)
  not_2xx = 0
end
response = function(status, headers, body)
  if status < 200 or status > 299 then
    not_2xx = not_2xx + 1
  end
end
done = function(summary, latency, requests)
  local failed = summary.errors.connect + summary.errors.read + summary.errors.timeout
  for _, thread in ipairs(threads) do
    failed = failed + thread:get("not_2xx")
  end
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %.3f\\n", summary.requests, failed,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.duration / 1000000))
end
"""
DATA_SQL = [
    "TRUNCATE inbox_messages, deliveries, notifications, alerts RESTART IDENTITY CASCADE",
    "INSERT INTO alerts (student_id, course_id, term_id, kind, status, suppressed, rate, threshold, held_hours, "
    "absent_hours, excused_hours, opened_at, resolved_at, resolved_rate) "
    "SELECT e.student_id, e.course_id, e.term_id, k.kind, 'resolved', false, "
    "77.5, 80, 80, 18, 0, now() AT TIME ZONE 'utc' - interval '30 days', now() AT TIME ZONE 'utc', 90 "
    "FROM enrollments e CROSS JOIN (VALUES ('warning'), ('mahroom'), ('tasdiq')) AS k(kind) ORDER BY e.id, k.kind "
    "LIMIT :alerts",
    "INSERT INTO notifications (alert_id, student_id, kind, subject, body, payload, created_at) SELECT a.id, "
    "a.student_id, a.kind, 'Attendance ' || a.kind, repeat('Your attendance is low. ', 20), "
    "jsonb_build_object('alertId', a.id), a.opened_at FROM alerts a",
    "INSERT INTO deliveries (notification_id, kind, channel, recipient, status, attempts, next_attempt_at, "
    "last_attempt_at, sent_at, created_at, updated_at) SELECT n.id, n.kind, c.channel, c.recipient || n.student_id, "
    "'sent', 1, NULL, n.created_at, n.created_at, n.created_at, n.created_at FROM notifications n CROSS JOIN "
    "(VALUES ('inbox', 'student:'), ('email', 's@'), ('email', 'g@'), ('webhook', 'http://hook/')) AS c(channel, recipient)",
    "UPDATE deliveries SET status = 'pending', attempts = 1 + id % 3, last_error = 'attempt 1 (transient): SMTP 451', "
    "next_attempt_at = now() AT TIME ZONE 'utc' + interval '15 minutes', sent_at = NULL, "
    "job_id = 'delivery-retry-' || id || '-' || (2 + id % 3) WHERE channel = 'email' AND id % 100 = 3",
    "UPDATE deliveries SET status = 'dead', attempts = 4, last_error = 'attempt 4 (transient): SMTP 451', "
    "sent_at = NULL WHERE channel = 'webhook' AND id % 500 = 4",
]

# Written after DATA_SQL: the open alerts of the term in progress, as the scan would open them
# from the enrollments' totals, and their cases (the at-risk page and its CSV export).
AT_RISK_SQL = [
    "INSERT INTO alerts (student_id, course_id, term_id, kind, status, suppressed, rate, threshold, held_hours, "
    "absent_hours, excused_hours, opened_at) SELECT e.student_id, e.course_id, e.term_id, k.kind, 'open', "
    "k.kind = 'warning' AND 100 * (e.held_hours - e.absent_hours) <= 75 * e.held_hours, "
    "round(100 * (e.held_hours - e.absent_hours - CASE WHEN k.kind = 'tasdiq' THEN e.excused_hours ELSE 0 END) "
    "/ e.held_hours, 2), k.threshold, e.held_hours, e.absent_hours, e.excused_hours, "
    "now() AT TIME ZONE 'utc' - interval '3 days' FROM enrollments e "
    "JOIN terms t ON t.id = e.term_id AND current_date BETWEEN t.starts_on AND t.ends_on "
    "CROSS JOIN (VALUES ('warning', 80), ('mahroom', 75), ('tasdiq', 85)) AS k(kind, threshold) "
    "WHERE e.held_hours > 0 AND CASE k.kind "
    "WHEN 'warning' THEN 100 * (e.held_hours - e.absent_hours) < 80 * e.held_hours "
    "WHEN 'mahroom' THEN 100 * (e.held_hours - e.absent_hours) <= 75 * e.held_hours "
    "ELSE e.excused_hours > 0 AND 100 * (e.held_hours - e.absent_hours - e.excused_hours) < 85 * e.held_hours END",
    "INSERT INTO alert_cases (alert_id, acknowledged_at, handled_at, outcome, updated_at) SELECT a.id, a.opened_at, "
    "CASE WHEN a.id % 3 = 0 THEN a.opened_at END, CASE WHEN a.id % 3 = 0 THEN 'contacted' END, a.opened_at "
    "FROM alerts a WHERE a.status = 'open' AND a.id % 2 = 0",
]
BUSIEST_COURSE_SQL = (
    "SELECT c.code FROM alerts a JOIN courses c ON c.id = a.course_id WHERE a.status = 'open' "
    "GROUP BY c.code ORDER BY count(*) DESC, c.code LIMIT 1"
)

# Written after DATA_SQL (which empties the alerts): the student page's student and history.
STUDENT_SQL = [
    "INSERT INTO students (student_number, name, email, language, active, created_at, updated_at) VALUES "
    "(:number, 'Bench Student', 'bench@uni.example', 'en', true, now(), now()) ON CONFLICT (student_number) DO NOTHING",
    "INSERT INTO courses (code, title, created_at) SELECT 'BENCH-C' || n, 'Bench course ' || n, now() "
    "FROM generate_series(1, 6) n ON CONFLICT (code) DO NOTHING",
    "INSERT INTO enrollments (student_id, course_id, term_id, active, created_at) SELECT s.id, c.id, 1, true, now() "
    "FROM students s, courses c WHERE s.student_number = :number AND c.code LIKE 'BENCH-C%' ON CONFLICT DO NOTHING",
    "INSERT INTO attendance_records (student_id, course_id, date, term_id, slot, hours, status, recorded_at) "
    "SELECT e.student_id, e.course_id, date '2026-01-03' + 7 * k, 1, 1, 2, CASE WHEN k % 5 = 0 THEN 'absent' "
    "WHEN k % 11 = 0 THEN 'sick' ELSE 'present' END, now() AT TIME ZONE 'utc' FROM enrollments e "
    "JOIN students s ON s.id = e.student_id CROSS JOIN generate_series(0, 39) k WHERE s.student_number = :number "
    "ON CONFLICT DO NOTHING",
    "UPDATE enrollments e SET held_hours = t.held, absent_hours = t.absent, excused_hours = t.excused FROM "
    "(SELECT r.student_id, r.course_id, sum(r.hours) AS held, sum(r.hours) FILTER (WHERE r.status = 'absent') AS absent, "
    "coalesce(sum(r.hours) FILTER (WHERE r.status IN ('sick', 'leave')), 0) AS excused FROM attendance_records r "
    "JOIN students s ON s.id = r.student_id WHERE s.student_number = :number GROUP BY r.student_id, r.course_id) t "
    "WHERE e.student_id = t.student_id AND e.course_id = t.course_id AND e.term_id = 1",
    "INSERT INTO alerts (student_id, course_id, term_id, kind, status, suppressed, rate, threshold, held_hours, "
    "absent_hours, excused_hours, opened_at, resolved_at, resolved_rate) SELECT e.student_id, e.course_id, 1, "
    "(ARRAY['warning', 'mahroom', 'tasdiq'])[1 + g % 3], 'resolved', false, 77.5, 80, 80, 16, 6, "
    "now() AT TIME ZONE 'utc' - g * interval '1 day', now() AT TIME ZONE 'utc', 90 FROM generate_series(0, 19) g "
    "JOIN (SELECT e.*, row_number() OVER (ORDER BY e.course_id) - 1 AS n FROM enrollments e JOIN students s "
    "ON s.id = e.student_id WHERE s.student_number = :number) e ON e.n = g % 6",
    "INSERT INTO notifications (alert_id, student_id, kind, subject, body, payload, created_at, language) "
    "SELECT a.id, a.student_id, a.kind, 'Attendance ' || a.kind, repeat('Your attendance is low. ', 20), "
    "jsonb_build_object('alertId', a.id), a.opened_at, 'en' FROM alerts a JOIN students s ON s.id = a.student_id "
    "WHERE s.student_number = :number",
    "INSERT INTO deliveries (notification_id, kind, channel, recipient, status, attempts, last_attempt_at, sent_at, "
    "last_error, created_at, updated_at) SELECT n.id, n.kind, c.channel, c.recipient, c.status, c.attempts, "
    "n.created_at, n.created_at, c.error, n.created_at, n.created_at FROM notifications n JOIN students s "
    "ON s.id = n.student_id CROSS JOIN (VALUES ('inbox', 'student:BENCH-S1', 'sent', 1, NULL), "
    "('email', 'bench@uni.example', 'sent', 2, 'attempt 1 (transient): SMTP 451'), "
    "('email', 'guardian@family.example', 'dead', 4, 'attempt 4 (permanent): SMTP 550'), "
    "('webhook', 'http://hook/', 'sent', 1, NULL)) AS c(channel, recipient, status, attempts, error) "
    "WHERE s.student_number = :number",
]


def load_data(app, alerts: int) -> dict:
    """Write the page benchmark's data set; return the counts."""
    from portal.extensions import db

    with app.app_context():
        for statement in DATA_SQL:
            db.session.execute(db.text(statement), {"alerts": alerts})
        for statement in AT_RISK_SQL:
            db.session.execute(db.text(statement))
        for statement in STUDENT_SQL:
            db.session.execute(db.text(statement), {"number": BENCH_STUDENT})
        db.session.commit()
        counts = dict(
            db.session.execute(
                db.text(
                    "SELECT 'deliveries', count(*) FROM deliveries UNION ALL SELECT status, count(*) FROM deliveries "
                    "GROUP BY status UNION ALL SELECT 'open alerts', count(*) FROM alerts WHERE status = 'open' "
                    "UNION ALL SELECT 'alert cases', count(*) FROM alert_cases"
                )
            ).all()
        )
        db.session.remove()
        raw = db.engine.raw_connection()
        raw.driver_connection.autocommit = True
        raw.cursor().execute("VACUUM ANALYZE")
        raw.close()
    return counts


def at_risk_targets(app) -> list[tuple[str, str, str, bool]]:
    """The at-risk page and CSV export of the course with the most open alerts, and the alerts page."""
    from portal.extensions import db

    with app.app_context():
        course = db.session.execute(db.text(BUSIEST_COURSE_SQL)).scalar_one()
        lines = db.session.execute(
            db.text(
                "SELECT count(DISTINCT (a.student_id, a.term_id)) FROM alerts a JOIN courses c ON c.id = a.course_id "
                "WHERE a.status = 'open' AND c.code = :code"
            ),
            {"code": course},
        ).scalar_one()
        db.session.remove()
    print(f"at-risk course: {course} ({lines} lines)", flush=True)
    return [
        (
            f"at-risk page `/at-risk?course=<busiest>` ({lines} lines, 25 a page)",
            f"/at-risk?course={course}",
            "data-line=",
            False,
        ),
        (
            f"at-risk export `/at-risk.csv?course=<busiest>` ({lines} lines)",
            f"/at-risk.csv?course={course}",
            "student_number,",
            False,
        ),
        ("alerts page `/alerts?status=open`", "/alerts?status=open", "data-alert=", False),
    ]


def credentials(app) -> str:
    """Create (or replace) the bench admin user; return a Bearer token."""
    from werkzeug.security import generate_password_hash

    from portal.auth import create_token
    from portal.extensions import db
    from portal.models import User

    with app.app_context():
        user = db.session.execute(db.select(User).where(User.username == "bench")).scalar_one_or_none()
        if user is None:
            user = User(username="bench", role="admin", password_hash=generate_password_hash(PASSWORD))
            db.session.add(user)
        token = create_token(user, "bench")
        db.session.commit()
        db.session.remove()
    return token


def session_cookie(base: str) -> str:
    """Sign in through the login form like a browser; return the Cookie header value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    form = opener.open(f"{base}/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"csrf_token": csrf, "username": "bench", "password": PASSWORD}).encode()
    opener.open(f"{base}/login", data=data, timeout=30).read()
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def verify_page(url: str, cookie: str, marker: str, fragment: bool = False) -> None:
    """Fail unless ``url`` answers 200 with the page (or fragment) itself, not a redirect to sign-in."""
    request = urllib.request.Request(url, headers={"Cookie": cookie, "User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read().decode()
        if response.geturl() != url or response.status != 200 or marker not in body:
            raise SystemExit(f"{url} did not serve the signed-in page (got {response.status} {response.geturl()})")
        if fragment and "<html" in body:
            raise SystemExit(f"{url} served a whole page, not the fragment")


def wrk(url: str, headers: list[str], seconds: int, connections: int, script: str) -> dict:
    """Run wrk against ``url`` with ``headers``; return requests/s, non-2xx answers and p50/p95/p99 in ms."""
    options = [option for header in headers for option in ("-H", header)]
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", *options, "-s", script, url],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    requests, errors, p50, p95, p99, duration = line.split()[1:]
    return {
        "rps": int(requests) / float(duration),
        "errors": int(errors),
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--alerts", type=int, default=250000, help="4 deliveries each")
    parser.add_argument("--gunicorn-workers", type=int, default=2)
    parser.add_argument("--skip-data", action="store_true", help="reuse the data of a previous run")
    parser.add_argument(
        "--only", default="", help="comma-separated texts: run only the endpoints whose label contains one"
    )
    args = parser.parse_args()
    script = Path(tempfile.mkdtemp(prefix="bench-wrk-")) / "report.lua"
    script.write_text(LUA)
    with private_redis() as redis_url:
        env = bench_env(args.database_url, redis_url)
        app = make_app()
        counts = {} if args.skip_data else load_data(app, args.alerts)
        print(f"machine: {machine()}; data: {counts}; load: {load()}", flush=True)
        token = credentials(app)
        base = f"http://127.0.0.1:{PORT}"
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{PORT}", "--workers", str(args.gunicorn_workers), "wsgi:app"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: _up(base), 60, 0.2, "gunicorn up")
            cookie = session_cookie(base)
            session_targets = SESSION_TARGETS + at_risk_targets(app)
            for _, path, marker, fragment in session_targets:
                verify_page(base + path, cookie, marker, fragment)
            browser = [f"Cookie: {cookie}", f"User-Agent: {USER_AGENT}"]
            targets = [(label, base + path, browser) for label, path, _, _ in session_targets]
            targets.append(
                (
                    "`GET /api/admin/background-jobs`",
                    f"{base}/api/admin/background-jobs",
                    [f"Authorization: Bearer {token}"],
                )
            )
            rows = []
            wanted = [text for text in args.only.split(",") if text] or [""]
            targets = [target for target in targets if any(text in target[0] for text in wanted)]
            for label, url, headers in targets:
                results, loads = [], []
                for _ in range(args.runs):
                    results.append(wrk(url, headers, args.seconds, args.connections, str(script)))
                    loads.append(load())
                rows.append(
                    [
                        label,
                        f"{median([r['rps'] for r in results]):.0f}",
                        f"{median([r['p50'] for r in results]):.1f}",
                        f"{median([r['p95'] for r in results]):.1f}",
                        f"{median([r['p99'] for r in results]):.1f}",
                        sum(r["errors"] for r in results),
                        "; ".join(loads),
                    ]
                )
                print(label, results, flush=True)
        finally:
            server.terminate()
            server.wait(20)
    print_table(
        f"Benchmark 4: pages under load (wrk, {args.connections} connections, {args.seconds} s x {args.runs}; "
        f"gunicorn {args.gunicorn_workers} sync workers; medians)",
        ["endpoint", "requests/s", "p50 ms", "p95 ms", "p99 ms", "non-2xx/errors", "load after each run"],
        rows,
    )


def _up(base: str) -> bool:
    try:
        return urllib.request.urlopen(f"{base}/login", timeout=5).status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
