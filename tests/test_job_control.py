"""Job control persisted in the database and reflected in rq-scheduler; runs, triggers and the execution lock."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import time_machine
from rq.job import Job
from sqlalchemy import select, text

from portal import queues
from portal.extensions import db
from portal.models import AuditLog, JobRun, JobState
from portal.periodic import jobs, runs, sync
from tests import factories
from tests.conftest import ROOT

ALL = set(jobs.job_names())


def _scheduled(name: str) -> bool:
    return name in queues.get_scheduler()


def _sync_in_a_new_scheduler_process(app) -> None:
    """Restart the scheduler: a fresh process syncs the registry with the database."""
    db.session.remove()
    env = dict(
        os.environ,
        DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        REDIS_URL=app.config["REDIS_URL"],
        FLASK_ENV="testing",
    )
    proc = subprocess.run(
        [sys.executable, "schedules.py", "--sync-only"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_stop_removes_the_entry_and_stays_stopped_after_a_scheduler_restart(app):
    sync.sync_schedule(queues.get_scheduler(), ALL)

    status = jobs.stop_job("cache-refresh", "alice", "cli")
    _sync_in_a_new_scheduler_process(app)

    assert status["status"] == "stopped" and status["enabled"] is False and status["nextRun"] is None
    assert not _scheduled("cache-refresh")
    assert db.session.get(JobState, "cache-refresh").enabled is False
    assert all(_scheduled(name) for name in ALL - {"cache-refresh"})
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "job.stop")).one()
    assert (entry.actor, entry.target, entry.source, entry.outcome) == ("alice", "cache-refresh", "cli", "success")


def test_start_registers_the_entry_again_and_survives_a_restart(app):
    jobs.stop_job("materialized-view-refresh", "alice", "api")
    with time_machine.travel(datetime(2026, 3, 1, 10, 3), tick=False):
        status = jobs.start_job("materialized-view-refresh", "bob", "page")

    _sync_in_a_new_scheduler_process(app)

    assert status["status"] == "running" and status["nextRun"] == "2026-03-01T10:10:00Z"
    assert _scheduled("materialized-view-refresh")
    assert [a.action for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))] == ["job.stop", "job.start"]


def test_stop_all_and_start_all_change_every_job_with_one_audit_entry_each(app):
    sync.sync_schedule(queues.get_scheduler(), ALL)

    jobs.stop_all("alice", "api")
    assert not any(_scheduled(name) for name in ALL)
    assert {job["status"] for job in jobs.list_job_status()} == {"stopped"}

    jobs.start_all("alice", "api")
    assert all(_scheduled(name) for name in ALL)
    assert {job["status"] for job in jobs.list_job_status()} == {"running"}
    assert [a.action for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))] == [
        "job.stop_all",
        "job.start_all",
    ]


def test_unknown_job_names_are_refused(app):
    try:
        jobs.stop_job("no-such-job", "alice", "cli")
    except jobs.UnknownJob as exc:
        assert "cache-refresh" in str(exc)
    else:
        raise AssertionError("UnknownJob not raised")
    assert db.session.scalar(select(JobState).where(JobState.name == "no-such-job")) is None


def test_trigger_records_a_manual_run_that_a_worker_executes(app, run_jobs):
    factories.course()
    for n in range(3):
        factories.attend(
            factories.student(f"S{n}"), db.session.scalars(select(factories.Course)).first(), ["present", "absent"]
        )

    run = jobs.trigger_job("cache-refresh", "alice", "page")
    assert (run.status, run.trigger, run.requested_by) == ("queued", "manual", "alice")
    assert run.rq_job_id in queues.get_queue("maintenance").job_ids

    run_jobs()

    db.session.expire_all()
    done = db.session.get(JobRun, run.id)
    assert done.status == "success" and done.summary == {"students": 3, "chunks": 1}
    assert done.started_at and done.finished_at and done.duration_ms is not None
    status = jobs.job_status("cache-refresh")
    assert status["lastRun"] is not None and status["lastDuration"] == done.duration_ms and not status["executing"]
    assert db.session.scalars(select(AuditLog.action)).all() == ["job.trigger"]


def test_a_scheduled_tick_runs_the_dispatcher_and_records_a_schedule_run(app, run_jobs):
    scheduler = queues.get_scheduler()
    sync.sync_schedule(scheduler, ALL)
    scheduler.enqueue_job(Job.fetch("materialized-view-refresh", connection=scheduler.connection))

    run_jobs()

    run = db.session.scalars(select(JobRun)).one()
    assert (run.job_name, run.trigger, run.status, run.rq_job_id) == (
        "materialized-view-refresh",
        "schedule",
        "success",
        "materialized-view-refresh",
    )
    assert run.summary == {"courses": 0, "method": "rebuilt"}
    assert _scheduled("materialized-view-refresh")  # the cron entry is still there for the next tick


def test_a_scheduled_tick_of_a_stopped_job_records_nothing(app, run_jobs):
    scheduler = queues.get_scheduler()
    sync.sync_schedule(scheduler, ALL)
    entry = Job.fetch("cache-refresh", connection=scheduler.connection)
    scheduler.enqueue_job(entry)
    jobs.stop_job("cache-refresh", "alice", "cli")

    run_jobs()

    assert db.session.scalars(select(JobRun)).all() == []


def test_a_run_while_another_executes_is_recorded_as_skipped(app, run_jobs):
    first = runs.start_run("cache-refresh", "schedule")
    assert runs.acquire_execution_lock("cache-refresh", first.id, 60)
    runs.mark_running(first.id)

    second = jobs.trigger_job("cache-refresh", "alice", "api")
    run_jobs()
    db.session.expire_all()
    assert db.session.get(JobRun, second.id).status == "skipped"
    assert db.session.get(JobRun, second.id).summary == {"reason": "already executing", "executingRunId": first.id}
    assert jobs.job_status("cache-refresh")["executing"] is True

    runs.finish_run(first.id, "success", summary={})
    third = jobs.trigger_job("cache-refresh", "alice", "api")
    run_jobs()
    db.session.expire_all()
    assert db.session.get(JobRun, third.id).status == "success"
    assert jobs.job_status("cache-refresh")["executing"] is False


def test_a_lock_left_by_a_finished_run_does_not_block_the_next_run(app):
    old = runs.start_run("audit-log-archival", "schedule")
    runs.acquire_execution_lock("audit-log-archival", old.id, 3600)
    runs.mark_running(old.id)
    # Finished by code that wrote the row and forgot to release the lock.
    db.session.execute(text("UPDATE job_runs SET status = 'success' WHERE id = :id"), {"id": old.id})
    db.session.commit()

    new = runs.start_run("audit-log-archival", "manual")
    assert runs.acquire_execution_lock("audit-log-archival", new.id, 3600)
    assert runs.lock_holder("audit-log-archival") == new.id


def test_a_run_that_lost_its_lock_is_marked_abandoned_when_the_next_run_starts(app, run_jobs):
    lost = runs.start_run("cache-refresh", "schedule")
    runs.mark_running(lost.id)  # its worker died: no lock, never finished

    jobs.trigger_job("cache-refresh", "alice", "api")
    run_jobs()

    db.session.expire_all()
    assert db.session.get(JobRun, lost.id).status == "error"
    assert "abandoned" in db.session.get(JobRun, lost.id).error


def test_a_failing_job_records_its_error_and_traceback_and_fails_in_rq(app, run_jobs):
    db.session.execute(text("DROP TABLE course_stats"))
    db.session.commit()

    run = jobs.trigger_job("materialized-view-refresh", "alice", "cli")
    run_jobs()

    db.session.expire_all()
    failed = db.session.get(JobRun, run.id)
    assert failed.status == "error" and "course_stats" in failed.error
    assert "Traceback" in failed.traceback and "refresh_course_stats" in failed.traceback
    assert run.rq_job_id in queues.get_queue("maintenance").failed_job_registry.get_job_ids()
    status = jobs.job_status("materialized-view-refresh")
    assert status["status"] == "error" and "course_stats" in status["errorMessage"]
    assert runs.lock_holder("materialized-view-refresh") is None


def test_recent_runs_pages_newest_first(app):
    ids = [runs.start_run("cache-refresh", "schedule").id for _ in range(5)]

    page = jobs.recent_runs("cache-refresh", page=2, per_page=2)

    assert [item["id"] for item in page["items"]] == [ids[2], ids[1]]
    assert (page["total"], page["pages"], page["page"]) == (5, 3, 2)
