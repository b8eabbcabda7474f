"""Every job's status (API, dashboard, live fragment) reads the jobs' latest runs in one SQL
statement, whatever the history, and shows the same values on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from portal.extensions import db
from portal.models import JobRun
from portal.periodic import jobs, runs
from tests import factories
from tests.sqltrace import sql_statements

API = "/api/admin/background-jobs"
PASSWORD = "correct horse battery"
START = datetime(2026, 10, 1, 8, 0, 0)


def add_run(name: str, status: str, minute: int, duration_ms: int | None = None, error: str | None = None) -> JobRun:
    """A run of ``name`` started ``minute`` minutes after START, committed."""
    started = None if status in ("queued", "skipped") else START + timedelta(minutes=minute)
    run = JobRun(
        job_name=name,
        trigger="schedule",
        status=status,
        queued_at=START + timedelta(minutes=minute),
        started_at=started,
        duration_ms=duration_ms,
        error=error,
    )
    db.session.add(run)
    db.session.commit()
    return run


def history() -> None:
    """Interleaved runs of four jobs (the threshold monitor has none), one lock per kind of holder."""
    for i in range(30):  # a long history the newest runs must be found in
        add_run("cache-refresh", "success", i, duration_ms=100 + i)
        add_run("notification-retry-processor", "skipped", i)
    add_run("materialized-view-refresh", "error", 40, duration_ms=9, error="old failure")
    add_run("materialized-view-refresh", "success", 41, duration_ms=42)
    add_run("cache-refresh", "error", 42, duration_ms=7, error="boom")
    add_run("cache-refresh", "skipped", 43)  # a skipped run is neither the last run nor a finished one
    running = add_run("materialized-view-refresh", "running", 44)
    forgotten = add_run("audit-log-archival", "success", 45, duration_ms=5)
    assert runs.acquire_execution_lock("materialized-view-refresh", running.id, 60)
    assert runs.acquire_execution_lock("audit-log-archival", forgotten.id, 60)  # finished: not executing
    jobs.stop_job("notification-threshold-monitor", "alice", "cli")


def bearer() -> dict:
    return {"Authorization": f"Bearer {factories.token_for(factories.user('admin', 'admin'))}"}


def sign_in(client) -> None:
    factories.user("viewer", "viewer", PASSWORD)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})


def test_every_job_shows_its_newest_run_newest_finished_run_and_executing_run(any_app):
    history()
    response = any_app.test_client().get(API, headers=bearer())
    assert response.status_code == 200, response.json
    shown = {job["name"]: job for job in response.json["data"]["jobs"]}
    fields = ("status", "executing", "lastRun", "lastDuration", "errorMessage", "lastOutcome")
    assert {name: tuple(job[f] for f in fields) for name, job in shown.items()} == {
        "cache-refresh": ("error", False, "2026-10-01T08:42:00Z", 7, "boom", "error"),
        "materialized-view-refresh": ("running", True, "2026-10-01T08:44:00Z", 42, None, "running"),
        "audit-log-archival": ("running", False, "2026-10-01T08:45:00Z", 5, None, "success"),
        "notification-retry-processor": ("running", False, None, None, None, None),
        "notification-threshold-monitor": ("stopped", False, None, None, None, None),
    }
    assert response.json["data"]["errorJobs"] == 1 and response.json["data"]["stoppedJobs"] == 1
    for name, job in shown.items():  # one job's status reads the same way
        assert {**jobs.job_status(name), "nextRun": None} == {**job, "nextRun": None}


@pytest.mark.parametrize(
    ("path", "session"),
    [(API, False), ("/live/jobs", True), ("/live/health", True), ("/", True)],
)
def test_one_request_reads_the_runs_of_every_job_in_one_statement(any_app, path, session):
    history()
    client = any_app.test_client()
    headers = {}
    if session:
        sign_in(client)
    else:
        headers = bearer()
    assert client.get(path, headers=headers).status_code == 200  # warm: the token's last use is recorded
    with sql_statements() as statements:
        response = client.get(path, headers=headers)
    assert response.status_code == 200
    on_runs = [s for s, _ in statements if "FROM job_runs" in s]
    # One job at a time it was 2 statements per job (10) plus one for the lock holders.
    assert len(on_runs) == 1, on_runs
    assert len(statements) <= 6, statements
