"""Pausing a queue: real `rq worker` processes take nothing from it, its jobs wait and run once it
is resumed, `rq info` shows it; the CLI, the admin API and the dashboard pause and resume it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from rq.job import Job
from sqlalchemy import select

from portal import queues
from portal.extensions import db
from portal.models import AuditLog
from tests import factories
from tests.faultkit import wait_for

PASSWORD = "correct horse battery"


def _enqueue(queue_name: str, job_id: str) -> Job:
    """A real job (a delivery job with nothing to deliver) on ``queue_name``."""
    return queues.enqueue(queue_name, queues.DELIVER, [], job_id=job_id)


def _status(job_id: str) -> str:
    return Job.fetch(job_id, connection=queues.get_redis()).get_status()


def _rq_info(redis_url: str) -> str:
    rq = str(Path(sys.executable).with_name("rq"))
    return subprocess.run([rq, "info", "--url", redis_url], capture_output=True, text=True, check=True).stdout


def _audit() -> list[tuple[str, str, str]]:
    db.session.expire_all()
    entries = db.session.scalars(select(AuditLog).where(AuditLog.action.like("queue.%")).order_by(AuditLog.id))
    return [(e.action, e.target, e.source) for e in entries]


def test_a_paused_queue_keeps_its_jobs_from_a_real_worker_until_resumed_and_rq_info_shows_it(app, procs, runner):
    result = runner.invoke(args=["queues", "pause", "notifications"])
    assert result.exit_code == 0 and "Paused notifications" in result.output
    procs.worker()  # all four queues, notifications before maintenance
    _enqueue(queues.NOTIFICATIONS, "held")
    _enqueue(queues.MAINTENANCE, "passing")  # queued after it, on a queue the worker reads later
    wait_for(lambda: _status("passing") == "finished", 60, "the job on the open queue")

    assert _status("held") == "queued" and queues.get_queue(queues.NOTIFICATIONS).count == 1
    info = _rq_info_once(app.config["REDIS_URL"], lambda out: "paused: notifications" in out, "the pause")
    assert re.search(
        r"fault-\w+ \(.*\): idle \(paused: notifications\) urgent, thresholds, notifications, maintenance", info
    )
    listing = runner.invoke(args=["queues", "list"]).output
    assert re.search(r"notifications\s+paused\s+1\n", listing) and re.search(r"maintenance\s+running\s+0\n", listing)

    result = runner.invoke(args=["queues", "resume", "notifications"])
    assert result.exit_code == 0 and "Resumed notifications" in result.output
    wait_for(lambda: _status("held") == "finished", 60, "the held job to run once resumed")
    wait_for(lambda: "paused" not in _rq_info(app.config["REDIS_URL"]), 30, "rq info to show the worker unpaused")
    assert _audit() == [("queue.pause", "notifications", "cli"), ("queue.resume", "notifications", "cli")]


def _idle_worker(redis_url: str) -> str:
    """Wait until the one worker is in its dequeue loop, its state plain ``idle``; return rq info's text."""
    return _rq_info_once(redis_url, lambda out: re.search(r"\): idle urgent", out), "the worker plain idle")


def _rq_info_once(redis_url: str, shows, what: str) -> str:
    """Poll `rq info` until ``shows(its text)``; return that text."""

    def check():
        out = _rq_info(redis_url)
        return out if shows(out) else None

    return wait_for(check, 30, f"rq info to show {what}")


def test_a_queue_paused_while_a_worker_waits_on_it_gives_that_worker_nothing(app, procs, runner):
    procs.worker()
    _idle_worker(app.config["REDIS_URL"])  # blocked in its dequeue on all four queues
    assert runner.invoke(args=["queues", "pause", "urgent"]).exit_code == 0
    _enqueue(queues.URGENT, "held")  # the waiting worker pops it: it must put it back untouched
    _enqueue(queues.MAINTENANCE, "passing")
    wait_for(lambda: _status("passing") == "finished", 60, "the job on the open queue")

    held = Job.fetch("held", connection=queues.get_redis())
    assert held.get_status() == "queued" and held.started_at is None
    assert queues.get_queue(queues.URGENT).get_job_ids() == ["held"]
    assert runner.invoke(args=["queues", "resume", "urgent"]).exit_code == 0
    wait_for(lambda: _status("held") == "finished", 60, "the held job to run once resumed")


def test_an_idle_worker_shows_in_rq_info_a_queue_paused_and_resumed_while_it_waits(app, procs, runner):
    procs.worker("urgent", "maintenance")
    _idle_worker(app.config["REDIS_URL"])
    assert runner.invoke(args=["queues", "pause", "maintenance"]).exit_code == 0
    assert runner.invoke(args=["queues", "pause", "thresholds"]).exit_code == 0  # not one of its queues
    info = _rq_info_once(app.config["REDIS_URL"], lambda out: "paused" in out, "the pause")
    assert re.search(r"\): idle \(paused: maintenance\) urgent, maintenance\.", info)
    assert runner.invoke(args=["queues", "resume", "maintenance"]).exit_code == 0
    _idle_worker(app.config["REDIS_URL"])  # plain idle again, without any job in between


def test_a_burst_worker_whose_queues_are_all_paused_leaves_their_jobs_waiting(app, procs, runner):
    assert runner.invoke(args=["queues", "pause", "thresholds"]).exit_code == 0
    _enqueue(queues.THRESHOLDS, "held")
    worker = procs.worker("thresholds", burst=True)
    assert worker.wait(60) == 0, worker.log()
    assert _status("held") == "queued" and queues.get_queue(queues.THRESHOLDS).count == 1


def test_pausing_an_unknown_queue_is_refused_naming_the_queues_and_changes_nothing(app, runner):
    result = runner.invoke(args=["queues", "pause", "nope"])
    assert result.exit_code == 2 and "urgent" in result.output and "maintenance" in result.output
    assert runner.invoke(args=["queues", "resume", "urgent"]).output.strip() == "urgent was not paused."
    assert "was paused already" not in runner.invoke(args=["queues", "pause", "urgent"]).output
    assert runner.invoke(args=["queues", "pause", "urgent"]).output.strip() == "urgent was paused already."


def test_the_admin_api_lists_pauses_and_resumes_queues_and_refuses_bad_requests(client, admin, viewer):
    listing = client.get("/api/admin/queues", headers=viewer).get_json()
    assert listing == {
        "success": True,
        "data": [{"name": name, "paused": False, "length": 0} for name in queues.QUEUE_NAMES],
    }
    response = client.post("/api/admin/queues/notifications/pause", headers=admin)
    body = response.get_json()
    assert response.status_code == 200 and body["message"] == "Paused notifications."
    assert {q["name"]: q["paused"] for q in body["data"]} == {
        "urgent": False,
        "thresholds": False,
        "notifications": True,
        "maintenance": False,
    }
    audited = _audit()
    for url, headers, status, text in (
        ("/api/admin/queues/nope/pause", admin, 404, "No queue named 'nope'; queues are: urgent, thresholds"),
        ("/api/admin/queues/urgent/freeze", admin, 404, "not found"),
        ("/api/admin/queues/urgent/pause", viewer, 403, "needs"),
        ("/api/admin/queues/urgent/pause", {}, 401, ""),
    ):
        refused = client.post(url, headers=headers)
        assert refused.status_code == status and refused.get_json()["success"] is False
        assert text in refused.get_json()["error"]
    assert _audit() == audited  # nothing changed, nothing recorded
    assert [q["paused"] for q in client.get("/api/admin/queues", headers=admin).get_json()["data"]] == [
        False,
        False,
        True,
        False,
    ]
    body = client.post("/api/admin/queues/notifications/resume", headers=admin).get_json()
    assert body["message"] == "Resumed notifications." and not any(q["paused"] for q in body["data"])
    assert _audit() == [("queue.pause", "notifications", "api"), ("queue.resume", "notifications", "api")]


@pytest.fixture
def post_as(client):
    """Sign in with a role; return a function posting a form with the page's CSRF token."""

    def sign_in(role: str):
        factories.user(role, role, PASSWORD)
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        client.post("/login", data={"username": role, "password": PASSWORD, "csrf_token": token})
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)
        return lambda url: client.post(url, data={"csrf_token": csrf}, follow_redirects=True)

    return sign_in


def _queue_row(html: str, name: str) -> str:
    return re.search(rf'<tr data-queue="{name}">(.*?)</tr>', html, re.S).group(1)


def test_the_dashboard_pauses_and_resumes_a_queue_and_shows_it_paused(client, post_as):
    post = post_as("admin")
    page = post("/queues/maintenance/pause").get_data(as_text=True)
    assert "Paused maintenance: workers take nothing from it; its jobs wait." in page
    row = _queue_row(client.get("/live/queues").get_data(as_text=True), "maintenance")
    assert "badge-paused" in row and ">Resume<" in row
    assert "badge-running" in _queue_row(client.get("/").get_data(as_text=True), "urgent")
    page = post("/queues/maintenance/resume").get_data(as_text=True)
    assert "Resumed maintenance: workers take its jobs again." in page
    row = _queue_row(client.get("/live/queues").get_data(as_text=True), "maintenance")
    assert "badge-running" in row and ">Pause<" in row
    assert post("/queues/nope/pause").status_code == 404
    assert _audit() == [("queue.pause", "maintenance", "page"), ("queue.resume", "maintenance", "page")]


def test_a_viewer_sees_the_queue_states_without_buttons_and_cannot_pause(client, post_as):
    post = post_as("viewer")
    row = _queue_row(client.get("/live/queues").get_data(as_text=True), "notifications")
    assert "badge-running" in row and "Pause" not in row
    assert post("/queues/notifications/pause").status_code == 403
    assert _audit() == []
