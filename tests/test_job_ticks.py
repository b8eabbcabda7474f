"""One run per tick, enforced by the database: two schedulers whose lock lapsed, an entry enqueued
as it is, a tick's RQ job enqueued again (real Redis, real database, time controlled)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from rq.job import Job
from sqlalchemy import func, select

from portal import queues
from portal.extensions import db
from portal.models import JobRun
from portal.periodic import registry, sync, ticks
from portal.periodic.scheduler import serve_schedule

ALL = set(registry.job_names())
START = datetime(2026, 11, 20, 1, 58)


def _rows_per_tick() -> dict[tuple[str, datetime], int]:
    db.session.expire_all()
    query = select(JobRun.job_name, JobRun.tick_at, func.count()).where(JobRun.tick_at.is_not(None))
    return {(name, tick): n for name, tick, n in db.session.execute(query.group_by(JobRun.job_name, JobRun.tick_at))}


def _expected_ticks(until: datetime) -> set[tuple[str, datetime]]:
    return {
        (job.name, tick)
        for job in registry.PERIODIC_JOBS
        for tick in (START + timedelta(minutes=m) for m in range(1, int((until - START).total_seconds() // 60) + 1))
        if ticks.ticks_between(job.cron, tick - timedelta(seconds=1), tick) == [tick]
    }


def _tick_job_ids() -> list[str]:
    return [job_id for q in queues.all_queues() for job_id in q.job_ids if "-tick-" in job_id]


def test_two_schedulers_with_the_lock_deleted_between_their_loops_run_each_tick_once(any_app, run_jobs):
    redis = queues.get_redis()
    first, second = queues.get_scheduler(), queues.get_scheduler()
    for scheduler in (first, second):
        serve_schedule(scheduler)
    with time_machine.travel(START, tick=False) as clock:
        sync.sync_schedule(first, ALL)
        for _ in range(14):  # 01:59 .. 02:12, one loop of each scheduler a minute
            clock.shift(timedelta(minutes=1))
            assert first.acquire_lock()
            due_first = list(first.get_jobs_to_queue(with_times=True))
            redis.delete(first.scheduler_lock_key)  # the lock lapsed while the first loop ran long
            assert second.acquire_lock()
            due_second = list(second.get_jobs_to_queue(with_times=True))
            assert [job.id for job, _ in due_first] == [job.id for job, _ in due_second]  # both saw them due
            first.enqueue_due(due_first)
            second.enqueue_due(due_second)
            redis.delete(first.scheduler_lock_key)
        run_jobs()

    expected = _expected_ticks(START + timedelta(minutes=14))
    assert len(expected) == 8  # cache refresh 3, statistics 2; monitor, retry processor, archival at 02:00
    assert _rows_per_tick() == dict.fromkeys(expected, 1)
    served = db.session.scalars(select(JobRun).where(JobRun.tick_at.is_not(None))).all()
    assert {run.status for run in served} == {"success"}
    assert all(run.trigger == "schedule" and run.covers_from is None for run in served)
    # Whatever else was attempted ran nothing and names the run that holds its tick.
    others = db.session.scalars(select(JobRun).where(JobRun.tick_at.is_(None))).all()
    holders = {(run.job_name, run.tick_at): run.id for run in served}
    for other in others:
        assert other.status == "skipped"
        tick = datetime.fromisoformat(other.summary["tick"].rstrip("Z"))
        assert other.summary["servedByRunId"] == holders[(other.job_name, tick)]


def test_a_second_claim_of_a_tick_is_recorded_skipped_naming_the_run_that_has_it(any_app):
    tick = datetime(2026, 11, 20, 2, 0)
    holder = ticks.claim_tick("audit-log-archival", tick)
    again = ticks.claim_tick("audit-log-archival", tick)

    assert holder is not None and again is None
    skipped = db.session.scalars(select(JobRun).where(JobRun.status == "skipped")).one()
    assert skipped.summary == {
        "reason": "tick already served",
        "tick": "2026-11-20T02:00:00Z",
        "servedByRunId": holder.id,
    }
    assert skipped.tick_at is None and skipped.job_name == "audit-log-archival"
    # Another job's run of the same tick is its own tick; manual runs carry no tick at all.
    assert ticks.claim_tick("cache-refresh", tick) is not None


def test_an_entry_enqueued_as_it_is_twice_runs_its_tick_once(app, run_jobs):
    scheduler = queues.get_scheduler()  # stock rq-scheduler behaviour: the entry itself is enqueued
    with time_machine.travel(datetime(2026, 11, 20, 2, 0, 30), tick=False):
        sync.sync_schedule(scheduler, ALL)
        entry = Job.fetch("audit-log-archival", connection=scheduler.connection)
        scheduler.enqueue_job(entry)
        run_jobs()
        scheduler.enqueue_job(entry)
        run_jobs()

    db.session.expire_all()
    ran, skipped = db.session.scalars(select(JobRun).order_by(JobRun.id)).all()
    assert (ran.status, ran.tick_at) == ("success", datetime(2026, 11, 20, 2, 0))
    assert skipped.status == "skipped" and skipped.summary["servedByRunId"] == ran.id


@pytest.mark.parametrize("finished", [True, False], ids=["after-it-finished", "while-it-is-queued-twice"])
def test_a_ticks_rq_job_enqueued_again_never_runs_the_tick_twice(app, run_jobs, finished):
    spec = registry.get_job("materialized-view-refresh")
    with time_machine.travel(datetime(2026, 11, 20, 2, 0, 10), tick=False):
        served = ticks.serve_ticks(spec)
        job_id = queues.tick_run_job_id(spec.name, served["runId"])
        if finished:
            run_jobs()
        queues.get_queue(spec.queue).enqueue_job(Job.fetch(job_id, connection=queues.get_redis()))
        run_jobs()

    db.session.expire_all()
    run = db.session.get(JobRun, served["runId"])
    assert run.status == "success" and run.tick_at == datetime(2026, 11, 20, 2, 0)
    duplicate = db.session.scalars(select(JobRun).where(JobRun.id != run.id)).one()
    assert duplicate.status == "skipped" and duplicate.summary["servedByRunId"] == run.id
