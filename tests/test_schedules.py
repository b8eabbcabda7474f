"""The periodic-job registry synced into rq-scheduler (real Redis), UTC crons, one enqueue per tick."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from datetime import datetime

import pytest
import time_machine
from rq.job import Job
from sqlalchemy import and_, func, or_, select

from portal import queues
from portal.clock import utcnow
from portal.extensions import db
from portal.models import JobRun
from portal.periodic import registry, sync
from portal.periodic.cron import latest_tick, unix_seconds
from tests.conftest import ROOT

ALL = {job.name for job in registry.PERIODIC_JOBS}


@pytest.fixture
def scheduler(app):
    return queues.get_scheduler()


def scheduled(scheduler) -> dict[str, float]:
    redis = scheduler.connection
    return {k.decode(): v for k, v in redis.zrange(scheduler.scheduled_jobs_key, 0, -1, withscores=True)}


def test_sync_registers_every_enabled_job_once_under_its_name(scheduler):
    first = sync.sync_schedule(scheduler, ALL)
    again = sync.sync_schedule(scheduler, ALL)

    assert sorted(first["added"]) == sorted(ALL)
    assert sorted(again["unchanged"]) == sorted(ALL) and not again["added"] and not again["replaced"]
    assert set(scheduled(scheduler)) == ALL
    entry = Job.fetch("cache-refresh", connection=scheduler.connection)
    assert entry.func_name == queues.PERIODIC_DISPATCHER
    assert entry.args == ["cache-refresh", "schedule"]
    assert entry.origin == "maintenance"
    assert entry.meta["cron_string"] == "*/5 * * * *"
    assert entry.timeout == 240


def test_sync_replaces_an_entry_whose_definition_changed(scheduler):
    sync.sync_schedule(scheduler, ALL)
    changed = tuple(
        dataclasses.replace(job, cron="*/7 * * * *", timeout=99) if job.name == "cache-refresh" else job
        for job in registry.PERIODIC_JOBS
    )

    result = sync.sync_schedule(scheduler, ALL, jobs=changed)

    assert result["replaced"] == ["cache-refresh"]
    entry = Job.fetch("cache-refresh", connection=scheduler.connection)
    assert entry.meta["cron_string"] == "*/7 * * * *" and entry.timeout == 99
    assert len(scheduled(scheduler)) == len(ALL)


def test_sync_removes_jobs_no_longer_defined_and_leaves_other_scheduled_work_alone(scheduler):
    retired = registry.PeriodicJob(
        "old-report", "retired", "0 3 * * *", "maintenance", "workers.periodic.run_cache_refresh", 60
    )
    sync.sync_schedule(scheduler, ALL | {"old-report"}, jobs=registry.PERIODIC_JOBS + (retired,))
    assert "old-report" in scheduled(scheduler)
    other = scheduler.enqueue_in(__import__("datetime").timedelta(minutes=15), "workers.periodic.run_cache_refresh", 0)

    result = sync.sync_schedule(scheduler, ALL)

    assert result["removed"] == ["old-report"]
    assert set(scheduled(scheduler)) == ALL | {other.id}


def test_sync_removes_jobs_disabled_in_the_database_or_the_registry(scheduler):
    sync.sync_schedule(scheduler, ALL)
    jobs = tuple(
        dataclasses.replace(j, enabled=False) if j.name == "audit-log-archival" else j for j in registry.PERIODIC_JOBS
    )

    result = sync.sync_schedule(scheduler, ALL - {"cache-refresh"}, jobs=jobs)

    assert sorted(result["removed"]) == ["audit-log-archival", "cache-refresh"]
    assert set(scheduled(scheduler)) == ALL - {"cache-refresh", "audit-log-archival"}


def test_first_run_times_are_computed_in_utc(scheduler):
    with time_machine.travel(datetime(2026, 3, 1, 10, 17, 30), tick=False):
        sync.sync_schedule(scheduler, ALL)
    times = {name: datetime.utcfromtimestamp(score) for name, score in scheduled(scheduler).items()}
    assert times["notification-threshold-monitor"] == datetime(2026, 3, 1, 11, 0)
    assert times["cache-refresh"] == datetime(2026, 3, 1, 10, 20)
    assert times["notification-retry-processor"] == datetime(2026, 3, 1, 10, 30)
    assert times["audit-log-archival"] == datetime(2026, 3, 2, 2, 0)


def _scheduler_env(app, **extra) -> dict:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        FLASK_ENV="testing",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def _make_all_due(scheduler) -> dict[str, datetime]:
    """Set every entry to its latest real tick (as if the scheduler slept through it); return the ticks."""
    now = utcnow()
    ticks = {job.name: latest_tick(job.cron, now) for job in registry.PERIODIC_JOBS}
    scheduler.connection.zadd(scheduler.scheduled_jobs_key, {name: unix_seconds(t) for name, t in ticks.items()})
    return ticks


def _rows_holding(ticks: dict[str, datetime]) -> dict[str, int]:
    db.session.expire_all()
    query = select(JobRun.job_name, func.count()).where(
        or_(*(and_(JobRun.job_name == name, JobRun.tick_at == tick) for name, tick in ticks.items()))
    )
    return dict(db.session.execute(query.group_by(JobRun.job_name)).all())


def _queued_tick_runs() -> list[str]:
    return sorted(job_id for q in queues.all_queues() for job_id in q.job_ids if "-tick-" in job_id)


def test_scheduler_in_kabul_time_zone_schedules_the_next_runs_in_utc(app, scheduler):
    sync.sync_schedule(scheduler, ALL)
    ticks = _make_all_due(scheduler)
    db.session.remove()

    proc = subprocess.run(
        [sys.executable, "schedules.py", "--burst", "--interval", "1"],
        cwd=ROOT,
        env=_scheduler_env(app, TZ="Asia/Kabul"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert proc.returncode == 0, proc.stderr
    scores = scheduled(scheduler)
    # Kabul is UTC+4:30: computed in local time these would fall at half past the hour.
    assert scores["notification-threshold-monitor"] % 3600 == 0
    assert scores["audit-log-archival"] % 86400 == 2 * 3600
    assert scores["materialized-view-refresh"] % 600 == 0
    assert min(scores.values()) > time.time()
    # Each entry's tick is held by one row: a run (on time or caught up) or a skip record.
    assert _rows_holding(ticks) == dict.fromkeys(ALL, 1)


def test_two_schedulers_started_together_enqueue_each_due_job_once(app, scheduler):
    sync.sync_schedule(scheduler, ALL)
    ticks = _make_all_due(scheduler)
    db.session.remove()
    command = [sys.executable, "schedules.py", "--burst", "--interval", "1"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=_scheduler_env(app), stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err

    assert _rows_holding(ticks) == dict.fromkeys(ALL, 1)
    db.session.expire_all()
    queued_runs = db.session.scalars(select(JobRun).where(JobRun.status == "queued", JobRun.tick_at.is_not(None)))
    assert _queued_tick_runs() == sorted(run.rq_job_id for run in queued_runs)
    queued_jobs = [job_id.rsplit("-tick-", 1)[0] for job_id in _queued_tick_runs()]
    # Missed-tick policy "once": their latest tick runs (on time or caught up), queued once.
    assert queued_jobs.count("audit-log-archival") == 1 and queued_jobs.count("notification-threshold-monitor") == 1


def test_cron_answers_are_the_same_from_the_window_cache_at_every_moment():
    """latest_tick / next_run_after answer from a cached (latest, next) window between ticks:
    at, just before and just after each tick, the answers equal the crontab package's own."""
    from datetime import UTC, datetime, timedelta

    from crontab import CronTab

    from portal.periodic import cron

    def expected(expression, moment):
        aware = moment.replace(tzinfo=UTC)
        entry = CronTab(expression)
        latest = entry.previous(now=aware.replace(microsecond=0) + timedelta(seconds=1), return_datetime=True)
        following = entry.next(now=aware, return_datetime=True)
        return latest.astimezone(UTC).replace(tzinfo=None), following.astimezone(UTC).replace(tzinfo=None)

    start = datetime(2026, 12, 4, 1, 58)
    moments = [start + timedelta(seconds=s) for s in range(0, 3 * 3600, 37)]
    moments += [datetime(2026, 12, 4, 2, 0) + timedelta(microseconds=d) for d in (-1, 0, 1, 999_999, 1_000_000)]
    for expression in ("0 * * * *", "*/15 * * * *", "0 2 * * *"):
        for moment in moments:
            assert (cron.latest_tick(expression, moment), cron.next_run_after(expression, moment)) == expected(
                expression, moment
            ), (expression, moment)
