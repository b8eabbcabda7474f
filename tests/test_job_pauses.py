"""Stopping a job with a reason and an end (CLI, API, pages); the scheduler resumes it at its time,
audit-logged as automatic (real Redis, real database, time controlled)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal import queues
from portal.extensions import db
from portal.models import AuditLog, JobState
from portal.periodic import jobs, pauses, registry, sync
from portal.periodic.scheduler import serve_schedule
from tests import factories
from tests.adminkit import API, state_snapshot

ALL = set(registry.job_names())
T0 = datetime(2026, 11, 20, 8, 0)
JOB = "cache-refresh"
PASSWORD = "correct horse battery"


def _scheduled(name: str) -> bool:
    return name in queues.get_scheduler()


def _audit() -> list[tuple[str, str, str, dict]]:
    db.session.expire_all()
    entries = db.session.scalars(select(AuditLog).where(AuditLog.target == JOB).order_by(AuditLog.id))
    return [(e.actor, e.action, e.source, e.details) for e in entries]


def test_a_paused_job_resumes_at_its_time_once_and_the_resume_is_audited_as_automatic(app, runner):
    first, second = queues.get_scheduler(), queues.get_scheduler()
    for scheduler in (first, second):
        serve_schedule(scheduler)
    with time_machine.travel(T0, tick=False) as clock:
        sync.sync_schedule(first, ALL)
        stopped = runner.invoke(args=["jobs", "stop", JOB, "--reason", "exam week: Redis maintenance", "--for", "3h"])
        assert stopped.exit_code == 0, stopped.output
        assert "until 2026-11-20 15:30 Asia/Kabul" in stopped.output  # 11:00 UTC, shown in local time
        status = jobs.job_status(JOB)
        assert (status["status"], status["pauseReason"], status["resumeAt"]) == (
            "stopped",
            "exam week: Redis maintenance",
            "2026-11-20T11:00:00Z",
        )
        paused_by = status["pausedBy"]
        assert paused_by.startswith("cli") and not _scheduled(JOB)

        clock.move_to(T0 + timedelta(hours=2, minutes=59, seconds=59))
        first.enqueue_jobs()
        assert jobs.job_status(JOB)["status"] == "stopped" and not _scheduled(JOB)

        clock.move_to(T0 + timedelta(hours=3))
        first.enqueue_jobs()
        second.enqueue_jobs()  # a second scheduler's pass: the resume happens once
        status = jobs.job_status(JOB)

    assert status["status"] == "running" and status["pauseReason"] is None and status["resumeAt"] is None
    assert _scheduled(JOB) and status["nextRun"] == "2026-11-20T11:05:00Z"
    resumes = [entry for entry in _audit() if entry[1] == "job.start"]
    assert resumes == [
        (
            "scheduler",
            "job.start",
            "system",
            {
                "enabled": True,
                "previous": False,
                "automatic": True,
                "resumeAt": "2026-11-20T11:00:00Z",
                "pausedBy": paused_by,
                "pauseReason": "exam week: Redis maintenance",
                "schedulerUpdated": True,
            },
        )
    ]


def test_until_is_local_time_and_a_job_paused_without_an_end_shows_for_how_long(app, runner):
    with time_machine.travel(T0, tick=False) as clock:
        assert runner.invoke(args=["jobs", "stop", JOB, "--until", "2026-12-24T06:00"]).exit_code == 0
        assert db.session.get(JobState, JOB).resume_at == datetime(2026, 12, 24, 1, 30)  # Kabul is UTC+4:30
        assert runner.invoke(args=["jobs", "stop", "audit-log-archival"]).exit_code == 0
        clock.shift(timedelta(hours=2, minutes=5))
        status = jobs.job_status("audit-log-archival")
        shown = runner.invoke(args=["jobs", "status", "audit-log-archival"]).output
        assert jobs.resume_due_jobs() == []  # no end: it stays stopped

    assert status["resumeAt"] is None and status["pausedForSeconds"] == 2 * 3600 + 5 * 60
    assert "not set: until started again" in shown


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--until", "next tuesday"], "is not a date and time"),
        (["--until", "2026-11-20T12:00"], "must end in the future"),  # 07:30 UTC: before T0
        (["--for", "3 weeks"], "is not a duration"),
        (["--for", "0h"], "longer than zero"),
        (["--for", "3h", "--until", "2026-12-24T06:00"], "not both"),
        (["--reason", "x" * 501], "at most 500"),
    ],
)
def test_a_bad_pause_from_the_cli_is_refused_and_changes_nothing(app, runner, args, complaint):
    with time_machine.travel(T0, tick=False):
        result = runner.invoke(args=["jobs", "stop", JOB, *args])
    assert result.exit_code != 0 and complaint in result.output
    assert db.session.get(JobState, JOB) is None and _audit() == []


def test_the_api_stop_accepts_reason_and_until_and_job_status_shows_them(client, admin):
    with time_machine.travel(T0, tick=False):
        body = {"action": "stop", "jobName": JOB, "reason": "migrating the cache", "until": "2026-11-20T10:30:00Z"}
        response = client.post(API, json=body, headers=admin)
        status = client.post(API, json={"action": "getJobStatus", "jobName": JOB}, headers=admin).json["data"]
        listed = next(job for job in client.get(API, headers=admin).json["data"]["jobs"] if job["name"] == JOB)

    assert response.status_code == 200 and response.json["data"]["resumeAt"] == "2026-11-20T10:30:00Z"
    assert status["pauseReason"] == "migrating the cache" and status["pausedBy"] == "admin"
    assert status["pausedAt"] == "2026-11-20T08:00:00Z" and status["pausedForSeconds"] == 0
    assert listed["resumeAt"] == "2026-11-20T10:30:00Z" and listed["status"] == "stopped"
    assert _audit()[0][3]["reason"] == "migrating the cache" and _audit()[0][3]["resumeAt"] == "2026-11-20T10:30:00Z"


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        ({"until": "2026-11-20T07:00:00Z"}, "must end in the future"),
        ({"until": "soon"}, "'until' must be an ISO 8601 date and time with Z or an offset"),
        ({"until": "2026-11-20T10:00"}, "with Z or an offset"),  # naive: which zone would it be?
        ({"until": "2026-13-40T10:00Z"}, "is not a date and time"),
        ({"until": 1790000000}, "'until' must be an ISO 8601 date and time"),
        ({"reason": ["a", "list"]}, "reason must be text"),
    ],
)
def test_a_bad_pause_from_the_api_is_a_400_and_changes_nothing(client, admin, extra, complaint):
    before = state_snapshot()
    with time_machine.travel(T0, tick=False):
        response = client.post(API, json={"action": "stop", "jobName": JOB, **extra}, headers=admin)
    assert response.status_code == 400 and complaint in response.json["error"]
    assert state_snapshot() == before


def _sign_in_admin(client):
    factories.user("admin", "admin", PASSWORD)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
    return lambda url, **data: client.post(url, data={"csrf_token": csrf, **data}, follow_redirects=True)


def test_the_stop_form_takes_a_reason_and_a_local_end_and_the_pages_show_them(client):
    with time_machine.travel(T0, tick=False):
        post = _sign_in_admin(client)
        said = post(f"/jobs/{JOB}/stop", reason="exams <b>", until="2026-11-20T18:00", **{"for": ""})
        job_page = client.get(f"/jobs/{JOB}").get_data(as_text=True)
        dashboard = client.get("/").get_data(as_text=True)
        refused = post("/jobs/audit-log-archival/stop", reason="", until="", **{"for": "forever"})

    assert "Stopped cache-refresh until 2026-11-20 18:00 Asia/Kabul" in said.get_data(as_text=True)
    assert db.session.get(JobState, JOB).resume_at == datetime(2026, 11, 20, 13, 30)
    assert "exams &lt;b&gt;" in job_page and ">2026-11-20 18:00</time> (starts again by itself)" in job_page
    assert (
        "stopped by admin: exams &lt;b&gt;" in dashboard
        and 'until <time datetime="2026-11-20T13:30:00Z" title="2026-11-20 13:30:00 UTC">2026-11-20 18:00</time>'
        in dashboard
    )
    assert "audit-log-archival was not stopped: &#39;forever&#39; is not a duration" in refused.get_data(as_text=True)
    assert db.session.get(JobState, "audit-log-archival") is None


def test_the_service_refuses_a_resume_time_in_the_past_whoever_calls_it(app):
    with time_machine.travel(T0, tick=False), pytest.raises(pauses.InvalidPause, match="must end in the future"):
        jobs.stop_job(JOB, "alice", "cli", resume_at=T0 - timedelta(minutes=1))
    assert db.session.get(JobState, JOB) is None and _audit() == []


def test_stop_all_with_a_reason_and_an_end_resumes_every_job_then(client, admin):
    scheduler = queues.get_scheduler()
    serve_schedule(scheduler)
    with time_machine.travel(T0, tick=False) as clock:
        body = {"action": "stopAll", "reason": "database upgrade", "until": "2026-11-20T13:00:00+04:30"}
        response = client.post(API, json=body, headers=admin)
        clock.move_to(T0 + timedelta(minutes=30))
        scheduler.enqueue_jobs()
        after = {job["name"]: job["status"] for job in jobs.list_job_status()}

    assert response.status_code == 200
    assert {(job["pauseReason"], job["resumeAt"]) for job in response.json["data"]} == {
        ("database upgrade", "2026-11-20T08:30:00Z")  # 13:00 in Kabul
    }
    assert after == dict.fromkeys(ALL, "running")
    db.session.expire_all()
    resumed = db.session.scalars(select(AuditLog.target).where(AuditLog.actor == "scheduler")).all()
    assert sorted(resumed) == sorted(ALL)
