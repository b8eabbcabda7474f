"""A 1,000,000-row attendance CSV imported from the browser's route: uploaded over HTTP to the
real app (gunicorn) with a signed-in session, imported by a real RQ worker, on PostgreSQL.

    python bench/imports.py --database-url postgresql://postgres@127.0.0.1/attendance_bench_imports --runs 1

The database is its own (dropped and created again each run, so every run imports into the
same empty attendance table, 20,000 students x 5 courses x 10 sessions); Redis is private.
Reports the upload's seconds (the HTTP POST, streamed from the file in 1 MB chunks, until the
redirect), the job's (``started_at`` to ``finished_at`` of the ``imports`` row), the total
(from the first byte sent to the row being ``done``), rows/s and the web and worker peak RSS.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from common import BIN, ROOT, RssSampler, bench_env, load, machine, make_app, print_table, private_redis, rq_workers
from pages import USER_AGENT, credentials, session_cookie

PORT = 8611
STUDENTS, COURSES_PER_STUDENT, SESSIONS = 20_000, 5, 10
COURSES = 50
HEADER = "student_number,course_code,date,slot,hours,status\n"
STATUSES = ("present", "present", "present", "late", "absent", "sick", "leave", "present")


def fresh_database(url: str) -> None:
    """Drop and create the bench database, migrate it, add the students and courses."""
    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [str(BIN / "python"), "-c", f"from generate import migrate; migrate({url!r})"], cwd=ROOT / "bench", check=True
    )
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY courses (code, title, created_at) FROM STDIN") as copy:
            for c in range(COURSES):
                copy.write_row((f"C{c:03d}", f"Course {c}", "2026-09-01"))
        with cur.copy("COPY students (student_number, name, active, created_at, updated_at) FROM STDIN") as copy:
            for s in range(STUDENTS):
                copy.write_row((f"S{s:06d}", f"Student {s}", True, "2026-09-01", "2026-09-01"))


def write_csv(path: Path) -> int:
    """Write the attendance file (every (student, course, date) once); return its rows."""
    rows = 0
    dates = [f"2026-09-{day:02d}" for day in range(1, 1 + SESSIONS * 2, 2)]
    with open(path, "w") as out:
        out.write(HEADER)
        for s in range(STUDENTS):
            lines = []
            for k in range(COURSES_PER_STUDENT):
                course = f"C{(s + k * 7) % COURSES:03d}"
                for d, day in enumerate(dates):
                    lines.append(f"S{s:06d},{course},{day},1,2,{STATUSES[(s + d) % len(STATUSES)]}\n")
            out.write("".join(lines))
            rows += len(lines)
    return rows


def upload(base_port: int, cookie: str, path: Path) -> tuple[int, float]:
    """POST ``path`` as a multipart upload, streamed from disk; return (import id, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", base_port, timeout=600)
    conn.request("GET", "/imports/", headers={"Cookie": cookie, "User-Agent": USER_AGENT})
    page = conn.getresponse().read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    boundary = uuid.uuid4().hex
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in (("csrf_token", csrf), ("kind", "attendance"))
    )
    head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\nContent-Type: text/csv\r\n\r\n'
    tail = f"\r\n--{boundary}--\r\n".encode()
    started = time.monotonic()
    conn.putrequest("POST", "/imports/")
    conn.putheader("Cookie", cookie)
    conn.putheader("User-Agent", USER_AGENT)
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(len(head.encode()) + path.stat().st_size + len(tail)))
    conn.endheaders()
    conn.send(head.encode())
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            conn.send(chunk)
    conn.send(tail)
    response = conn.getresponse()
    response.read()
    seconds = time.monotonic() - started
    location = response.getheader("Location") or ""
    if response.status != 302 or not re.search(r"/imports/(\d+)$", location):
        raise SystemExit(f"the upload was not accepted: {response.status} {location}")
    return int(location.rsplit("/", 1)[1]), seconds


def wait_done(url: str, import_id: int, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT status, rows_written, rows_invalid, extract(epoch FROM finished_at - started_at), error "
                "FROM imports WHERE id = %s",
                (import_id,),
            ).fetchone()
            if row[0] in ("done", "failed", "refused"):
                return {
                    "status": row[0],
                    "written": row[1],
                    "invalid": row[2],
                    "job": float(row[3] or 0),
                    "error": row[4],
                }
            time.sleep(0.2)
    raise TimeoutError(f"import {import_id} not finished within {timeout} s")


def run_once(url: str, csv: Path, rows: int) -> list:
    fresh_database(url)
    with private_redis(int(os.environ.get("BENCH_IMPORTS_REDIS_PORT", "6397"))) as redis_url:
        env = bench_env(url, redis_url, UPLOAD_FOLDER=tempfile.mkdtemp(prefix="bench-uploads-"))
        credentials(make_app())
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{PORT}", "--workers", "2", "--timeout", "300", "wsgi:app"],
            cwd=ROOT,
            env=env,
            stderr=None if os.environ.get("BENCH_VERBOSE") else subprocess.DEVNULL,
        )
        sampler = RssSampler()
        sampler.watch(server.pid, "gunicorn")
        try:
            from common import wait_until

            wait_until(lambda: _up(PORT), 60, 0.2, "gunicorn up")
            cookie = session_cookie(f"http://127.0.0.1:{PORT}")
            with rq_workers(env, ["maintenance"], count=1) as procs:
                sampler.watch(procs[0].pid, "worker")
                sampler.start()
                started = time.monotonic()
                import_id, upload_seconds = upload(PORT, cookie, csv)
                outcome = wait_done(url, import_id)
                total = time.monotonic() - started
                sampler.stop()
        finally:
            server.terminate()
            server.wait(30)
    if outcome["status"] != "done" or outcome["written"] != rows:
        raise SystemExit(f"the import did not write every row: {outcome}")
    peaks = sampler.mb()
    return [
        f"{rows:,}",
        f"{csv.stat().st_size / 1e6:.0f} MB",
        upload_seconds,
        outcome["job"],
        total,
        f"{rows / total:,.0f}",
        peaks.get("gunicorn horse", 0),
        peaks.get("worker", 0),
        load(),
    ]


def _up(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/healthz")
        return conn.getresponse().status < 500
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1/attendance_bench_imports")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    csv = Path(tempfile.mkdtemp(prefix="bench-import-")) / "attendance-1m.csv"
    rows = write_csv(csv)
    print(f"machine: {machine()}; file: {rows:,} rows, {csv.stat().st_size:,} bytes; load: {load()}", flush=True)
    results = [run_once(args.database_url, csv, rows) for _ in range(args.runs)]
    os.remove(csv)
    print_table(
        "Browser import of attendance (PostgreSQL, gunicorn 2 workers, 1 RQ worker)",
        ["rows", "file", "upload s", "job s", "total s", "rows/s", "web peak RSS MB", "worker peak RSS MB", "load"],
        results,
    )


if __name__ == "__main__":
    main()
