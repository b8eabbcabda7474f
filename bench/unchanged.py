"""The hourly scan with nothing changed, many times over: wall time and where the CPU goes.

    python bench/unchanged.py --database-url postgresql://postgres@127.0.0.1/attendance_bench --scans 40

One first scan opens every alert, then ``--scans`` scans follow with nothing to change. Prints
their median and minimum wall time, and the CPU milliseconds per scan of each group of
processes (the 2 workers, every PostgreSQL process, redis-server, this process), read from
/proc before and after. CPU time varies far less from run to run than wall time on a shared
2-core machine, so it shows what a change saved even when the wall time is noisy
(docs/performance.md, "where an unchanged scan's CPU goes").
"""

from __future__ import annotations

import argparse
import os
import subprocess

from common import DEFAULT_DB, bench_env, load, make_app, median, private_redis, rq_workers
from scan import reset, timed_scan

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of process ``pid`` (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def pids_named(name: str) -> list[int]:
    found = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True, check=False).stdout.split()
    return [int(pid) for pid in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--scans", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, help="SCAN_BATCH_SIZE (default: the app's default)")
    args = parser.parse_args()
    with private_redis() as redis_url:
        extra = {"SCAN_BATCH_SIZE": str(args.batch_size)} if args.batch_size else {}
        env = bench_env(args.database_url, redis_url, **extra)
        app = make_app()
        reset(app)
        with rq_workers(env, ["thresholds"], args.workers) as procs:
            timed_scan(app)  # the first scan: opens every alert
            timed_scan(app)  # one unchanged scan to warm every cache
            groups = {
                "workers": [proc.pid for proc in procs],
                "postgres": pids_named("postgres"),
                "redis": pids_named("redis-server"),
                "this process": [os.getpid()],
            }
            before = {group: sum(cpu_seconds(pid) for pid in pids) for group, pids in groups.items()}
            walls = []
            for _ in range(args.scans):
                seconds, summary = timed_scan(app)
                assert sum(summary["alertsOpened"].values()) == 0 and summary["alertsResolved"] == 0, summary
                walls.append(seconds)
            groups["postgres"] = sorted(set(groups["postgres"]) | set(pids_named("postgres")))  # new backends too
            after = {group: sum(cpu_seconds(pid) for pid in pids) for group, pids in groups.items()}
        print(
            f"SCAN_BATCH_SIZE={app.config['SCAN_BATCH_SIZE']}, {args.scans} scans with nothing changed: "
            f"median {1000 * median(walls):.0f} ms, min {1000 * min(walls):.0f} ms; CPU ms per scan: "
            + ", ".join(f"{group} {1000 * (after[group] - before[group]) / args.scans:.0f}" for group in groups)
            + f"; load {load()}"
        )


if __name__ == "__main__":
    main()
