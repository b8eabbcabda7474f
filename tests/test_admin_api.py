"""``/api/admin/background-jobs``: the GET shape, every action, and each bad request refused
with its status and a JSON error, changing nothing.

Who may call it (tokens, roles, sessions and CSRF) is in tests/test_admin_api_access.py, the
alert and retry-queue lists in tests/test_admin_api_lists.py.
"""

from __future__ import annotations

import re

import pytest
from rq import Queue
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, Delivery, JobRun
from portal.queues import get_redis

# Other test modules import pending_delivery from here (it lives in tests/adminkit.py).
from tests.adminkit import API, JOB, job_enabled, pending_delivery, state_snapshot

VALID_ACTIONS = [
    "start",
    "stop",
    "trigger",
    "startAll",
    "stopAll",
    "clearRetryQueue",
    "getJobStatus",
    "runThresholdCheck",
]
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


# --- GET shape -----------------------------------------------------------------------------


def test_get_answers_every_job_in_the_documented_shape(client, admin):
    response = client.get(API, headers=admin)
    assert response.status_code == 200
    body = response.json
    assert body["success"] is True
    data = body["data"]
    assert {
        "totalJobs",
        "runningJobs",
        "stoppedJobs",
        "errorJobs",
        "systemHealth",
        "jobs",
        "thresholdMonitor",
        "retryQueue",
        "serviceInitialized",
    } <= set(data)
    assert data["totalJobs"] == len(data["jobs"]) == 5
    assert data["runningJobs"] + data["stoppedJobs"] + data["errorJobs"] == data["totalJobs"]
    assert data["systemHealth"] in ("healthy", "degraded", "critical")
    assert set(data["retryQueue"]) == {"totalPending", "byType", "byAttempts", "grid", "dead"}
    assert isinstance(data["thresholdMonitor"], dict) and isinstance(data["serviceInitialized"], bool)
    names = set()
    for job in data["jobs"]:
        assert {
            "name",
            "description",
            "schedule",
            "enabled",
            "status",
            "executing",
            "lastRun",
            "nextRun",
            "lastDuration",
            "errorMessage",
        } <= set(job)
        assert job["status"] in ("running", "stopped", "error")
        assert job["nextRun"] is None or ISO_UTC.match(job["nextRun"])
        names.add(job["name"])
    assert names == {
        "notification-threshold-monitor",
        "notification-retry-processor",
        "cache-refresh",
        "materialized-view-refresh",
        "audit-log-archival",
    }


def test_get_is_open_to_viewers(client, viewer):
    assert client.get(API, headers=viewer).status_code == 200


def test_get_counts_pending_deliveries_in_the_retry_queue_summary(client, admin):
    pending_delivery("S1", "warning", attempts=1)
    pending_delivery("S2", "mahroom", attempts=2)
    retry = client.get(API, headers=admin).json["data"]["retryQueue"]
    assert retry["totalPending"] == 2
    assert {kind: n for kind, n in retry["byType"].items() if n} == {"warning": 1, "mahroom": 1}
    assert retry["byAttempts"] == {"1": 1, "2": 1}


# --- actions ---------------------------------------------------------------------------------


def test_stop_then_start_a_job_persists_its_state_and_audits_both(client, admin):
    response = client.post(API, json={"action": "stop", "jobName": JOB}, headers=admin)
    assert response.status_code == 200, response.json
    assert response.json["data"]["status"] == "stopped" and response.json["data"]["enabled"] is False
    assert not job_enabled(JOB)
    response = client.post(API, json={"action": "start", "jobName": JOB}, headers=admin)
    assert response.json["data"]["status"] == "running" and job_enabled(JOB)
    entries = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(e.action, e.target, e.actor, e.source) for e in entries] == [
        ("job.stop", JOB, "admin", "api"),
        ("job.start", JOB, "admin", "api"),
    ]


def test_trigger_queues_a_manual_run_on_the_jobs_queue(client, admin):
    response = client.post(API, json={"action": "trigger", "jobName": JOB}, headers=admin)
    assert response.status_code == 202, response.json
    run = db.session.get(JobRun, response.json["data"]["runId"])
    assert (run.job_name, run.trigger, run.requested_by) == (JOB, "manual", "admin")
    assert Queue("maintenance", connection=get_redis()).count == 1


def test_stop_all_and_start_all_change_every_job(client, admin):
    response = client.post(API, json={"action": "stopAll"}, headers=admin)
    assert response.status_code == 200
    assert all(job["status"] == "stopped" for job in response.json["data"])
    assert client.get(API, headers=admin).json["data"]["stoppedJobs"] == 5
    response = client.post(API, json={"action": "startAll"}, headers=admin)
    assert all(job["enabled"] for job in response.json["data"])
    assert client.get(API, headers=admin).json["data"]["stoppedJobs"] == 0


def test_clear_retry_queue_cancels_pending_deliveries_and_says_how_many(client, admin):
    kept = pending_delivery("S1", status="dead")
    pending_delivery("S2")
    pending_delivery("S3")
    response = client.post(API, json={"action": "clearRetryQueue"}, headers=admin)
    assert response.status_code == 200
    assert response.json["data"]["cleared"] == 2
    statuses = dict(db.session.execute(select(Delivery.id, Delivery.status)).all())
    assert statuses.pop(kept.id) == "dead"
    assert set(statuses.values()) == {"cancelled"}


def test_get_job_status_answers_one_job_and_is_open_to_viewers(client, viewer):
    response = client.post(API, json={"action": "getJobStatus", "jobName": JOB}, headers=viewer)
    assert response.status_code == 200
    assert response.json["data"]["name"] == JOB and response.json["data"]["schedule"] == "*/5 * * * *"


def test_run_threshold_check_answers_its_summary(client, admin):
    response = client.post(API, json={"action": "runThresholdCheck"}, headers=admin)
    assert response.status_code == 200, response.json
    summary = response.json["data"]
    assert {
        "totalStudentsChecked",
        "alertsOpened",
        "alertsResolved",
        "notificationsQueued",
        "executionTime",
        "timestamp",
    } <= set(summary)
    assert set(summary["alertsOpened"]) == {"warning", "mahroom", "tasdiq"}
    assert "wouldOpen" not in summary


def test_a_dry_run_through_the_api_lists_who_and_writes_nothing(client, admin):
    from portal.models import Alert
    from tests import factories

    course, student = factories.course("CS101"), factories.student("S1")
    factories.attend(student, course, ["absent"] * 3 + ["present"] * 7)
    response = client.post(API, json={"action": "runThresholdCheck", "dryRun": True}, headers=admin)
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["dryRun"] is True and data["alertsOpened"]["mahroom"] == 1
    assert sorted(
        (c["studentNumber"], c["courseCode"], c["kind"], c["rate"], c["suppressed"]) for c in data["wouldOpen"]
    ) == [
        ("S1", "CS101", "mahroom", "70.00", False),
        ("S1", "CS101", "warning", "70.00", True),
    ]
    assert db.session.execute(select(Alert)).first() is None
    refused = client.post(API, json={"action": "runThresholdCheck", "dryRun": "yes"}, headers=admin)
    assert refused.status_code == 400 and refused.json["error"] == "'dryRun' must be true or false; got 'yes'."


def test_put_disables_and_enables_a_job(client, admin):
    response = client.put(API, json={"jobName": JOB, "enabled": False}, headers=admin)
    assert response.status_code == 200 and response.json["data"]["enabled"] is False
    assert not job_enabled(JOB)
    assert client.put(API, json={"jobName": JOB, "enabled": True}, headers=admin).json["data"]["enabled"] is True
    assert job_enabled(JOB)


# --- refusals: each with its status, a JSON error, and nothing changed ---------------------------


@pytest.mark.parametrize(
    ("method", "kwargs", "status", "fragment"),
    [
        ("post", {"data": "{not json", "content_type": "application/json"}, 400, "not valid JSON"),
        ("post", {"json": ["stop"]}, 400, "JSON object"),
        ("post", {"json": {"jobName": JOB}}, 400, "'action' is required"),
        ("post", {"json": {"action": "explode", "jobName": JOB}}, 400, "Unknown action"),
        ("post", {"json": {"action": "stop"}}, 400, "'jobName' is required"),
        ("post", {"json": {"action": "stop", "jobName": ""}}, 400, "'jobName' is required"),
        ("post", {"json": {"action": "stop", "jobName": "no-such-job"}}, 404, "No job named"),
        ("post", {"json": {"action": "trigger", "jobName": "no-such-job"}}, 404, "No job named"),
        (
            "post",
            {"data": "action=stop&jobName=cache-refresh", "content_type": "application/x-www-form-urlencoded"},
            415,
            "JSON",
        ),
        ("put", {"json": {"jobName": JOB}}, 400, "'enabled'"),
        ("put", {"json": {"jobName": JOB, "enabled": "no"}}, 400, "'enabled'"),
        ("put", {"json": {"enabled": False}}, 400, "'jobName' is required"),
        ("put", {"json": {"jobName": "no-such-job", "enabled": False}}, 404, "No job named"),
        ("put", {"data": "x", "content_type": "text/plain"}, 415, "JSON"),
        ("delete", {}, 405, ""),
        ("patch", {"json": {}}, 405, ""),
    ],
)
def test_bad_requests_get_their_status_and_a_json_error_and_change_nothing(
    client, admin, method, kwargs, status, fragment
):
    pending_delivery("S1")
    before = state_snapshot()
    response = getattr(client, method)(API, headers=admin, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.json["success"] is False
    assert fragment in response.json["error"]
    assert state_snapshot() == before


def test_unknown_action_lists_the_valid_actions(client, admin):
    for body in ({"action": "explode"}, {"jobName": JOB}):
        response = client.post(API, json=body, headers=admin)
        assert response.status_code == 400
        assert response.json["validActions"] == VALID_ACTIONS


def test_method_not_allowed_names_the_allowed_methods(client, admin):
    response = client.delete(API, headers=admin)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST", "PUT"}
