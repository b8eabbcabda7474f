"""Benchmarks 1 and 2: the full threshold scan through 2 real RQ workers vs. a per-student
reference (one rate query per student, the way the first version of this system scanned),
then the incremental work (immediate checks, unchanged scan).

    python bench/scan.py --database-url postgresql://postgres@127.0.0.1/attendance_bench --runs 3 --reference

Each run starts from no alerts. With ``--reference``, the per-student reference runs first, on
the same data. Then the first scan opens every alert of the data set (every batch commits its
alerts, the last one records the run) and queues the fan-out jobs, and ``--unchanged-scans``
scans follow with nothing changed (their median is the run's figure). The workers listen on
``thresholds`` during the scans. Then 2 workers on ``notifications`` run
the fan-out (notifications, inbox messages and pending email/webhook deliveries written,
delivery jobs enqueued; the deliveries themselves are benchmark 3), timed until every
notification the scan queued exists. The queued delivery jobs are then dropped and 2
workers on ``urgent`` take the immediate checks.
"""

from __future__ import annotations

import argparse
import time
from decimal import Decimal

from common import (
    DEFAULT_DB,
    RssSampler,
    bench_env,
    load,
    machine,
    make_app,
    median,
    print_table,
    private_redis,
    rq_workers,
    self_peak_mb,
    wait_until,
)

RESET = "TRUNCATE inbox_messages, deliveries, notifications, alerts, scan_batches, job_runs RESTART IDENTITY CASCADE"
MONITOR = "notification-threshold-monitor"


def reset(app) -> None:
    """Forget every alert, notification, delivery and run (the attendance data stays)."""
    from portal.extensions import db
    from portal.queues import get_redis

    with app.app_context():
        db.session.execute(db.text(RESET))
        db.session.commit()
        get_redis().flushdb()


def drop_delivery_jobs(app) -> None:
    """Empty the delivery queues the scans filled (benchmark 3 measures sending), so the
    immediate check's job is not queued behind thousands of mahroom deliveries."""
    from portal import queues

    with app.app_context():
        for name in (queues.URGENT, queues.NOTIFICATIONS):
            queues.get_queue(name).empty()


def timed_scan(app, timeout: float = 600) -> tuple[float, dict]:
    """Trigger the monitor as an operator would and wait for its run to finish; return (s, summary).

    The run's row is polled every 5 ms on a plain connection of its own: the waiting must not
    take CPU from the two workers and the database it is timing (an app context and an ORM
    query per poll cost ~1.5 ms of CPU each, about 15% of a core at this rate).
    """
    import psycopg

    from portal.periodic.jobs import trigger_job

    url = app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.monotonic()
        with app.app_context():
            run_id = trigger_job(MONITOR, "bench", "bench").id

        def finished():
            status, summary = conn.execute("SELECT status, summary FROM job_runs WHERE id = %s", (run_id,)).fetchone()
            return (status, summary) if status in ("success", "error", "skipped") else None

        status, summary = wait_until(finished, timeout, 0.005, "scan run finished")
        elapsed = time.monotonic() - started
    if status != "success":
        raise RuntimeError(f"scan run ended {status}: {summary}")
    return elapsed, summary


def timed_fanout(app, expected: int, timeout: float = 600) -> tuple[float, dict]:
    """Wait until ``expected`` notifications exist (the workers are running the fan-out jobs);
    return (seconds, rows written by the fan-out)."""
    from portal.extensions import db

    started = time.monotonic()

    def notifications():
        with app.app_context():
            have = db.session.execute(db.text("SELECT count(*) FROM notifications")).scalar_one()
            db.session.remove()
            return have >= expected

    wait_until(notifications, timeout, 0.02, f"{expected:,} notifications")
    elapsed = time.monotonic() - started
    with app.app_context():
        written = {
            table: db.session.execute(db.text(f"SELECT count(*) FROM {table}")).scalar_one()
            for table in ("notifications", "inbox_messages", "deliveries")
        }
        db.session.remove()
    return elapsed, written


def reference_scan(app) -> dict:
    """The first version's approach without its pauses: batches of 10 students, one rate query per student,
    each alert change written by its own statement (into a scratch table, rolled back at the end)."""
    from portal.domain.rates import HourTotals
    from portal.domain.rules import Thresholds, alert_changes, evaluate
    from portal.extensions import db

    with app.app_context():
        thresholds = Thresholds.from_config(app.config)
        raw = db.engine.raw_connection()
        cur = raw.cursor()
        cur.execute("CREATE TEMP TABLE ref_alerts (student_id int, course_id int, kind text, rate numeric)")
        ids = [r[0] for r in cur.execute("SELECT id FROM students WHERE active ORDER BY id").fetchall()]
        term = cur.execute(CURRENT_TERM_SQL).fetchone()[0]
        started = time.monotonic()
        opened = 0
        for start in range(0, len(ids), 10):
            for sid in ids[start : start + 10]:
                rows = cur.execute(
                    "SELECT r.course_id, sum(r.hours), "
                    "sum(CASE WHEN r.status = 'absent' THEN r.hours ELSE 0 END), "
                    "sum(CASE WHEN r.status IN ('sick', 'leave') THEN r.hours ELSE 0 END) "
                    "FROM attendance_records r JOIN enrollments e ON e.student_id = r.student_id "
                    "AND e.course_id = r.course_id AND e.term_id = r.term_id AND e.active "
                    "WHERE r.student_id = %s AND r.term_id = %s GROUP BY r.course_id",
                    (sid, term),
                ).fetchall()
                for cid, held, absent, excused in rows:
                    result = evaluate(HourTotals(Decimal(held), Decimal(absent), Decimal(excused)), thresholds)
                    if result is None:
                        continue
                    for kind, _suppressed in alert_changes(result.holding, frozenset()).to_open:
                        cur.execute(
                            "INSERT INTO ref_alerts VALUES (%s, %s, %s, %s)", (sid, cid, kind, result.rate_for(kind))
                        )
                        opened += 1
            raw.commit()
        elapsed = time.monotonic() - started
        cur.execute("DROP TABLE ref_alerts")
        raw.commit()
        raw.close()
    return {"seconds": elapsed, "students": len(ids), "opened": opened}


# The term in progress today (the open-ended term, 1, when no term is dated).
CURRENT_TERM_SQL = (
    "SELECT coalesce((SELECT id FROM terms WHERE starts_on <= current_date AND ends_on >= current_date), 1)"
)


def immediate_check(app, run_no: int, pairs_wanted: int = 100, per_pair: int = 10) -> tuple[float, int]:
    """Save 1,000 records (10 sessions turned absent for 100 clean pairs) through the service the
    API uses; return (seconds until every pair's mahroom alert exists, records saved)."""
    from portal.attendance.saving import save_attendance
    from portal.domain.records import AttendanceInput
    from portal.extensions import db

    with app.app_context():
        term = db.session.execute(db.text(CURRENT_TERM_SQL)).scalar_one()
        pairs = db.session.execute(
            db.text(
                "SELECT e.student_id, e.course_id, s.student_number, c.code FROM enrollments e "
                "JOIN students s ON s.id = e.student_id JOIN courses c ON c.id = e.course_id "
                "WHERE e.absent_hours = 0 AND e.excused_hours = 0 AND e.held_hours = 80 AND e.term_id = :term "
                "ORDER BY e.id OFFSET :skip LIMIT :n"
            ),
            {"skip": run_no * pairs_wanted * 7, "n": pairs_wanted, "term": term},
        ).all()
        # Each run turns 100 more enrollments absent, so a data set reused many times runs out.
        assert len(pairs) == pairs_wanted, (
            f"only {len(pairs)} enrollments without absences left for run {run_no + 1}: "
            "regenerate the data set (bench/generate.py)"
        )
        records = []
        for sid, cid, number, code in pairs:
            dates = db.session.execute(
                db.text(
                    "SELECT date, slot, hours FROM attendance_records WHERE student_id = :s AND course_id = :c "
                    "AND term_id = :term ORDER BY date LIMIT :k"
                ),
                {"s": sid, "c": cid, "k": per_pair, "term": term},
            ).all()
            records += [AttendanceInput(number, code, d, slot, hours, "absent") for d, slot, hours in dates]
        db.session.remove()
        keys = [(sid, cid) for sid, cid, _, _ in pairs]
        started = time.monotonic()
        _, problems = save_attendance(records)
        assert not problems, problems
        db.session.remove()

    def all_open():
        with app.app_context():
            found = db.session.execute(
                db.text(
                    "SELECT count(*) FROM alerts WHERE kind = 'mahroom' AND status = 'open' "
                    "AND (student_id, course_id) IN (SELECT * FROM unnest(CAST(:s AS int[]), CAST(:c AS int[])))"
                ),
                {"s": [k[0] for k in keys], "c": [k[1] for k in keys]},
            ).scalar_one()
            db.session.remove()
            return found == len(keys)

    wait_until(all_open, 60, 0.01, "immediate mahroom alerts")
    return time.monotonic() - started, len(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reference", action="store_true", help="also time the per-student reference")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, help="SCAN_BATCH_SIZE of the run (default: the app's default)")
    parser.add_argument(
        "--unchanged-scans", type=int, default=5, help="scans with nothing changed per run (their median counts)"
    )
    args = parser.parse_args()
    with private_redis() as redis_url:
        extra = {"SCAN_BATCH_SIZE": str(args.batch_size)} if args.batch_size else {}
        env = bench_env(args.database_url, redis_url, **extra)
        app = make_app()
        batch_size = app.config["SCAN_BATCH_SIZE"]
        with app.app_context():
            from portal.extensions import db

            students = db.session.execute(db.text("SELECT count(*) FROM students WHERE active")).scalar_one()
            records = db.session.execute(
                db.text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'attendance_records'")
            ).scalar_one()
            db.session.remove()
        print(
            f"machine: {machine()}; {students:,} students, ~{records:,} records; "
            f"SCAN_BATCH_SIZE={batch_size}; load before: {load()}"
        )
        sampler = RssSampler().start()
        first, again, every_again, fanouts, checks, opened, loads, references = [], [], [], [], [], [], [], []
        written: dict = {}
        for run in range(args.runs):
            reset(app)
            if args.reference:  # on the same data, in the same run, before the workers start
                references.append(reference_scan(app)["seconds"])
            with rq_workers(env, ["thresholds"], args.workers) as procs:
                sampler.roots = {proc.pid: f"worker {n + 1}" for n, proc in enumerate(procs)}
                seconds, summary = timed_scan(app)
                first.append(seconds)
                opened.append(sum(summary["alertsOpened"].values()))
                unchanged = []
                for _ in range(args.unchanged_scans):
                    seconds, summary2 = timed_scan(app)
                    assert sum(summary2["alertsOpened"].values()) == 0 and summary2["alertsResolved"] == 0, summary2
                    unchanged.append(seconds)
                again.append(median(unchanged))
                every_again += unchanged
            with rq_workers(env, ["notifications"], args.workers) as procs:
                sampler.roots = {proc.pid: f"fan-out worker {n + 1}" for n, proc in enumerate(procs)}
                seconds, written = timed_fanout(app, summary["notificationsQueued"])
                fanouts.append(seconds)
            drop_delivery_jobs(app)
            with rq_workers(env, ["urgent"], args.workers):
                seconds, saved = immediate_check(app, run)
            checks.append(seconds)
            loads.append(load())
            print(
                f"run {run + 1}: "
                + (f"reference {references[-1]:.2f} s, " if references else "")
                + f"first scan {first[-1]:.2f} s ({opened[-1]:,} alerts), then its fan-out "
                f"{fanouts[-1]:.2f} s ({', '.join(f'{v:,} {k}' for k, v in written.items())}), "
                f"unchanged {again[-1]:.3f} s (median of {', '.join(f'{u:.3f}' for u in unchanged)}), "
                f"immediate check of {saved} records {checks[-1]:.2f} s; load {loads[-1]}",
                flush=True,
            )
        peaks = sampler.mb()
        sampler.stop()
        scan_s = median(first)
        fanout_s = median(fanouts)
        rows = [
            [
                f"full scan, first: {median(opened):,.0f} alerts written, run recorded, 2 RQ workers",
                f"{scan_s:.2f}",
                f"{students / scan_s:,.0f}",
                ", ".join(f"{k} {v:.0f}" for k, v in peaks.items() if not k.startswith("fan-out")),
                "",
            ],
            [
                "its fan-out, after it: " + ", ".join(f"{v:,} {k}" for k, v in written.items()),
                f"{fanout_s:.2f}",
                "",
                ", ".join(f"{k} {v:.0f}" for k, v in peaks.items() if k.startswith("fan-out")),
                "",
            ],
            ["first scan + its fan-out", f"{scan_s + fanout_s:.2f}", f"{students / (scan_s + fanout_s):,.0f}", "", ""],
        ]
        if references:
            ref_s = median(references)
            rows.append(
                [
                    "per-student reference (1 query/student, batches of 10)",
                    f"{ref_s:.2f} ({', '.join(f'{r:.2f}' for r in references)})",
                    f"{students / ref_s:,.0f}",
                    f"bench process {self_peak_mb():.0f}",
                    f"first scan {ref_s / scan_s:.1f}x, with fan-out {ref_s / (scan_s + fanout_s):.1f}x",
                ]
            )
            rows.append(
                [
                    f"full scan, nothing changed (median of each run's {args.unchanged_scans})",
                    f"{median(again):.3f} ({', '.join(f'{a:.3f}' for a in again)})",
                    f"{students / median(again):,.0f}",
                    "",
                    f"{ref_s / median(again):.0f}x",
                ]
            )
        print_table(
            f"Benchmark 1: full scan, {students:,} students (median of {args.runs}; loads {'; '.join(loads)})",
            ["what", "wall s", "students/s", "peak RSS MB", "reference / this"],
            rows,
        )
        print_table(
            f"Benchmark 2: incremental work, {students:,} students (median of {args.runs})",
            ["what", "median s", "runs s"],
            [
                [
                    "immediate check: save 1,000 records -> 100 mahroom alerts exist",
                    f"{median(checks):.2f}",
                    ", ".join(f"{c:.2f}" for c in checks),
                ],
                [
                    f"full scan right after a full scan, nothing changed (median of each run's {args.unchanged_scans})",
                    f"{median(again):.3f}",
                    ", ".join(f"{c:.3f}" for c in again)
                    + f"; all {len(every_again)}: {min(every_again):.3f}-{max(every_again):.3f}",
                ],
                ["(for comparison) first full scan", f"{scan_s:.2f}", ", ".join(f"{c:.2f}" for c in first)],
                ["(for comparison) its fan-out", f"{fanout_s:.2f}", ", ".join(f"{c:.2f}" for c in fanouts)],
            ],
        )


if __name__ == "__main__":
    main()
