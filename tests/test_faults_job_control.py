"""Job control with real processes: two scheduler processes running their loops enqueue each
due job once per tick; two triggers of one job at the same moment, on two workers, run once
and record the other as skipped. (tests/test_schedules.py covers two schedulers in burst mode,
tests/test_job_control.py the skipped run in-process.)"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select, text

from portal import queues
from portal.clock import utcnow
from portal.extensions import db
from portal.models import AuditLog, JobRun
from portal.periodic import jobs, registry, sync
from tests.faultkit import wait_for

pytestmark = pytest.mark.slow
ALL = {job.name for job in registry.PERIODIC_JOBS}
ENTRY = "audit-log-archival"  # daily at 02:00: its own cron never fires during the test


def _outcomes(job_name: str) -> list[str]:
    db.session.expire_all()
    query = select(JobRun.status).where(JobRun.job_name == job_name).order_by(JobRun.id)
    return list(db.session.scalars(query))


def _wait_for_a_heartbeat_after(redis, moment: float) -> None:
    wait_for(lambda: float(redis.get(queues.SCHEDULER_HEARTBEAT_KEY) or 0) > moment, 30, "later scheduler passes")


def test_two_running_schedulers_enqueue_a_due_job_once_per_tick(pg_app, pg_procs):
    scheduler = queues.get_scheduler()
    sync.sync_schedule(scheduler, ALL)
    db.session.remove()
    pg_procs.scheduler("--interval", "1")
    pg_procs.scheduler("--interval", "1")
    maintenance, redis = queues.get_queue("maintenance"), scheduler.connection
    wait_for(lambda: queues.get_queue("notifications").count >= 2, 60, "both start-up retry passes")
    for tick in range(3):
        redis.zadd(scheduler.scheduled_jobs_key, {ENTRY: int(time.time()) - 1})
        wait_for(lambda: _tick_jobs(maintenance), 30, f"tick {tick} to enqueue {ENTRY}")
        # Both schedulers pass every second: wait for a heartbeat written 2 s later, so each has
        # had its chance to enqueue the entry a second time.
        _wait_for_a_heartbeat_after(redis, time.time() + 2)
        assert redis.zscore(scheduler.scheduled_jobs_key, ENTRY) > time.time()  # next cron time
        assert len(_tick_jobs(maintenance)) == 1
        maintenance.remove(_tick_jobs(maintenance)[0])
    db.session.expire_all()
    ticks = db.session.scalars(select(JobRun.tick_at).where(JobRun.job_name == ENTRY, JobRun.tick_at.is_not(None)))
    assert len(set(ticks)) == 3


def _tick_jobs(queue) -> list[str]:
    return [job_id for job_id in queue.job_ids if job_id.startswith(f"{ENTRY}-tick-")]


def test_two_triggers_at_the_same_moment_run_once_and_record_one_skipped(pg_app, pg_procs, postgres_url):
    old = AuditLog(at=utcnow() - timedelta(days=200), actor="bob", action="job.stop", target="x", source="cli")
    db.session.add(old)
    db.session.commit()
    engine = create_engine(postgres_url)
    with engine.connect() as hold:
        # The archival copies this entry, then waits to delete it while the test holds the row.
        hold.execute(text("SELECT id FROM audit_log WHERE id = :id FOR UPDATE"), {"id": old.id})
        first = jobs.trigger_job("audit-log-archival", "alice", "api")
        second = jobs.trigger_job("audit-log-archival", "bob", "api")
        pg_procs.worker("maintenance")
        pg_procs.worker("maintenance")
        wait_for(lambda: "skipped" in _outcomes("audit-log-archival"), 60, "one trigger to be skipped")
        hold.rollback()
    engine.dispose()
    wait_for(lambda: not {"queued", "running"} & set(_outcomes("audit-log-archival")), 60, "the other run to finish")
    by_id = {run.id: run for run in db.session.scalars(select(JobRun).where(JobRun.id.in_([first.id, second.id])))}
    assert sorted(run.status for run in by_id.values()) == ["skipped", "success"]
    ran = next(run for run in by_id.values() if run.status == "success")
    skipped = next(run for run in by_id.values() if run.status == "skipped")
    assert skipped.summary == {"reason": "already executing", "executingRunId": ran.id}
    assert ran.summary["archived"] == 1
