"""``make bench``: create the bench database, generate the university if missing, run every benchmark.

    BENCH_STUDENTS=20000 python bench/run.py      # 4.8M records (attendance_bench)
    BENCH_STUDENTS=100000 python bench/run.py     # 24M records (attendance_bench_100k)

PostgreSQL at BENCH_PG (default postgresql://postgres@127.0.0.1) with rights to create a
database; redis-server and wrk on the PATH. The tables are printed as each benchmark ends.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from common import BIN, ROOT

STUDENTS = int(os.environ.get("BENCH_STUDENTS", "20000"))
RUNS = os.environ.get("BENCH_RUNS", "3")
TERMS = int(os.environ.get("BENCH_TERMS", "2"))
SERVER = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1")


def database_name(students: int) -> str:
    return "attendance_bench" if students == 20000 else f"attendance_bench_{students // 1000}k"


def ensure_data(url: str, name: str) -> None:
    """Create the database when missing and generate the data when its student count differs."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url) as conn:
        try:
            have = conn.execute("SELECT count(*) FROM students").fetchone()[0]
            terms = conn.execute("SELECT greatest(count(*), 1) FROM terms WHERE starts_on IS NOT NULL").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            have, terms = 0, 0
    if (have, terms) != (STUDENTS, TERMS):
        print(f"generating {STUDENTS:,} students, {TERMS} term(s), into {name} (about 4 minutes at 100k)", flush=True)
        subprocess.run(
            [sys.executable, "bench/generate.py", "--database-url", url, "--students", str(STUDENTS), "--terms", str(TERMS)],
            cwd=ROOT,
            check=True,
        )
    else:  # kept from an earlier run: bring its schema up to this checkout's migrations
        subprocess.run(
            [sys.executable, "-c", f"from generate import migrate; migrate({url!r})"],
            cwd=ROOT / "bench",
            check=True,
        )


def main() -> None:
    name = database_name(STUDENTS)
    url = f"{SERVER}/{name}"
    ensure_data(url, name)
    python = str(BIN / "python")
    scan = [python, "bench/scan.py", "--database-url", url, "--runs", RUNS]
    if STUDENTS <= 20000:
        scan.append("--reference")  # minutes per run beyond that size
    for command in (
        scan,
        [python, "bench/deliveries.py", "--database-url", url, "--runs", RUNS],
        [python, "bench/pages.py", "--database-url", url, "--runs", RUNS],
        # its own database (1M inbox messages, generated once), whatever BENCH_STUDENTS is
        [python, "bench/inbox.py", "--database-url", f"{SERVER}/attendance_bench_inbox", "--runs", RUNS],
        # its own database too, dropped and created again by every run (1M attendance rows uploaded)
        [python, "bench/imports.py", "--database-url", f"{SERVER}/attendance_bench_imports", "--runs", RUNS],
    ):
        subprocess.run(command, cwd=ROOT, check=True)


if __name__ == "__main__":
    main()
