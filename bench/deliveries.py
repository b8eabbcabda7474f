"""Benchmark 3: 10,000 queued deliveries to a local SMTP sink and to a local HTTP sink, 2 workers.

The letters are the shipped warning letter in Dari, Pashto and English in turn: email as
``multipart/alternative`` (text and HTML, RFC 2047 subject), webhooks with the letter's text.

    python bench/deliveries.py --database-url postgresql://postgres@127.0.0.1/attendance_bench --runs 3

The deliveries are written as the scan writes them (pending, a job id per 100), then their jobs
are enqueued with ``enqueue_delivery_jobs`` while 2 real RQ workers listen. Timing ends when
every delivery is ``sent`` in the database. Redis commands are counted by Redis itself
(``total_commands_processed``, worker heartbeats included) and are an upper bound on round trips.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from contextlib import contextmanager

from common import (
    BIN,
    DEFAULT_DB,
    ROOT,
    RssSampler,
    bench_env,
    load,
    machine,
    make_app,
    median,
    print_table,
    private_redis,
    redis_commands,
    rq_workers,
    wait_until,
)

SMTP_PORT, HTTP_PORT = 2599, 8599
RESET = "TRUNCATE inbox_messages, deliveries, notifications, alerts RESTART IDENTITY CASCADE"


@contextmanager
def sink(kind: str, port: int):
    proc = subprocess.Popen([str(BIN / "python"), str(ROOT / "bench" / "sinks.py"), kind, str(port)], cwd=ROOT)
    try:
        import socket

        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, 20, 0.05, f"{kind} sink")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def sample_letters() -> dict[str, str]:
    """The shipped warning letter in Dari, Pashto and English for one alert (77.50 %, 18 of 80
    hours absent), as the fan-out renders it: the bench's notifications rotate through them."""
    from decimal import Decimal

    from portal.domain.letters import default_text, letter_values, render
    from portal.domain.messages import AlertFacts
    from portal.notifications.letters import catalogs

    facts = AlertFacts(
        "warning",
        "Ahmad Haidari",
        "S000003",
        "C0001",
        "Course 1",
        Decimal("77.50"),
        Decimal("80.00"),
        Decimal("80"),
        Decimal("18"),
        Decimal("0"),
    )
    out = {}
    for language in ("fa", "ps", "en"):
        letter = render(
            default_text("warning", "student", language, catalogs()), letter_values(facts, language), language
        )
        out[f"{language}_subject"], out[f"{language}_body"] = letter.subject, letter.body
    return out


def prepare(app, channel: str, count: int, url: str) -> list[tuple[str, str, list[int]]]:
    """Write ``count`` pending deliveries on ``channel`` (one per alert/notification); return their jobs."""
    from portal.extensions import db
    from portal.notifications.fanout import DELIVERY_CHUNK
    from portal.queues import NOTIFICATIONS

    with app.app_context():
        db.session.execute(db.text(RESET))
        db.session.execute(
            db.text(
                "INSERT INTO alerts (student_id, course_id, term_id, kind, status, suppressed, rate, threshold, "
                "held_hours, absent_hours, excused_hours, opened_at) "
                "SELECT student_id, course_id, term_id, 'warning', 'resolved', false, "
                "77.5, 80, 80, 18, 0, now() AT TIME ZONE 'utc' FROM enrollments ORDER BY id LIMIT :n"
            ),
            {"n": count},
        )
        texts = sample_letters()
        db.session.execute(
            db.text(
                "INSERT INTO notifications (alert_id, student_id, kind, subject, body, payload, created_at, language, "
                "template_version) SELECT a.id, a.student_id, 'warning', "
                "CASE a.id % 3 WHEN 0 THEN :fa_subject WHEN 1 THEN :ps_subject ELSE :en_subject END, "
                "CASE a.id % 3 WHEN 0 THEN :fa_body WHEN 1 THEN :ps_body ELSE :en_body END, "
                "jsonb_build_object('event', 'attendance.alert', 'alertId', a.id, 'language', "
                "CASE a.id % 3 WHEN 0 THEN 'fa' WHEN 1 THEN 'ps' ELSE 'en' END, 'recipient', 'student'), "
                "now() AT TIME ZONE 'utc', CASE a.id % 3 WHEN 0 THEN 'fa' WHEN 1 THEN 'ps' ELSE 'en' END, 0 FROM alerts a"
            ),
            texts,
        )
        db.session.execute(
            db.text(
                "INSERT INTO deliveries (notification_id, kind, channel, recipient, status, attempts, next_attempt_at, "
                "job_id, created_at, updated_at) SELECT n.id, 'warning', CAST(:channel AS varchar), "
                "CASE WHEN CAST(:channel AS varchar) = 'email' THEN 'b' || n.student_id || '@students.example' ELSE CAST(:url AS varchar) END, "
                "'pending', 0, now() AT TIME ZONE 'utc', 'deliveries-bench-' || ((n.id - 1) / :chunk), "
                "now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc' FROM notifications n ORDER BY n.id"
            ),
            {"channel": channel, "url": url, "chunk": DELIVERY_CHUNK},
        )
        db.session.commit()
        jobs: dict[str, list[int]] = {}
        for did, job_id in db.session.execute(db.text("SELECT id, job_id FROM deliveries ORDER BY id")):
            jobs.setdefault(job_id, []).append(did)
        db.session.remove()
    return [(NOTIFICATIONS, job_id, ids) for job_id, ids in jobs.items()]


def run_once(app, redis_url: str, jobs, count: int) -> tuple[float, float]:
    """Enqueue the delivery jobs and wait until all are sent; return (seconds, Redis commands per delivery)."""
    from portal.extensions import db
    from portal.notifications.fanout import QueuedDeliveries, enqueue_delivery_jobs

    before = redis_commands(redis_url)
    started = time.monotonic()
    with app.app_context():
        enqueue_delivery_jobs(QueuedDeliveries(jobs=jobs))

    def all_sent():
        with app.app_context():
            sent = db.session.execute(db.text("SELECT count(*) FROM deliveries WHERE status = 'sent'")).scalar_one()
            db.session.remove()
            return sent == count

    wait_until(all_sent, 300, 0.05, "all deliveries sent")
    elapsed = time.monotonic() - started
    return elapsed, (redis_commands(redis_url) - before) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="workers.worker.PortalWorker")
    args = parser.parse_args()
    hook = f"http://127.0.0.1:{HTTP_PORT}/hook"
    rows = []
    with private_redis() as redis_url:
        env = bench_env(args.database_url, redis_url, SMTP_URL=f"smtp://127.0.0.1:{SMTP_PORT}", WEBHOOK_URL=hook)
        app = make_app()
        print(f"machine: {machine()}; load before: {load()}")
        for channel, kind, port in (("email", "smtp", SMTP_PORT), ("webhook", "http", HTTP_PORT)):
            times, commands, loads = [], [], []
            sampler = RssSampler().start()
            with sink(kind, port), rq_workers(env, ["notifications"], args.workers, args.worker_class) as procs:
                for n, proc in enumerate(procs):
                    sampler.watch(proc.pid, f"worker {n + 1}")
                for run in range(args.runs):
                    jobs = prepare(app, channel, args.count, hook)
                    seconds, per = run_once(app, redis_url, jobs, args.count)
                    times.append(seconds)
                    commands.append(per)
                    loads.append(load())
                    print(
                        f"{channel} run {run + 1}: {args.count / seconds:,.0f}/s ({seconds:.2f} s), "
                        f"{per:.2f} Redis commands per delivery; load {loads[-1]}",
                        flush=True,
                    )
            peaks = sampler.mb()
            sampler.stop()
            rows.append(
                [
                    f"{channel} ({kind} sink)",
                    f"{args.count / median(times):,.0f}",
                    ", ".join(f"{args.count / t:,.0f}" for t in times),
                    f"{median(commands):.2f}",
                    f"{max(peaks.values()):.0f}",
                    "; ".join(loads),
                ]
            )
    print_table(
        f"Benchmark 3: {args.count:,} deliveries, {args.workers} workers ({args.worker_class.rsplit('.', 1)[-1]}), median of {args.runs}",
        ["channel", "deliveries/s", "runs", "Redis commands / delivery", "peak RSS MB", "load after each run"],
        rows,
    )


if __name__ == "__main__":
    main()
