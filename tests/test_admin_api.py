"""``/api/admin/background-jobs`` (DESIGN section 6), ``/api/admin/alerts`` and ``/api/admin/retry-queue``."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from rq import Queue
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Alert, AuditLog, Delivery, JobRun, JobState, Notification
from portal.queues import get_redis
from tests import factories

API = "/api/admin/background-jobs"
PASSWORD = "correct horse battery"
JOB = "cache-refresh"
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


@pytest.fixture
def admin(app):
    return {"Authorization": f"Bearer {factories.token_for(factories.user('admin', 'admin'))}"}


@pytest.fixture
def viewer(app):
    return {"Authorization": f"Bearer {factories.token_for(factories.user('watcher', 'viewer'))}"}


def pending_delivery(number="S1", kind="warning", channel="email", attempts=1, status="pending", course_code="CS101"):
    """One alert with its notification and a delivery in ``status``."""
    student = factories.student(number, email=f"{number.lower()}@uni.example")
    course = factories.course(course_code) if course_code not in _courses() else _courses()[course_code]
    factories.enroll(student, course)
    alert = Alert(
        student=student,
        course=course,
        kind=kind,
        rate=Decimal("70"),
        threshold=Decimal("75"),
        held_hours=Decimal("10"),
        absent_hours=Decimal("3"),
        excused_hours=Decimal("0"),
    )
    notification = Notification(
        alert=alert, student_id=student.id, kind=kind, subject=f"{kind} for {number}", body="..."
    )
    delivery = Delivery(
        notification=notification, kind=kind, channel=channel, recipient=student.email, status=status, attempts=attempts
    )
    db.session.add_all([alert, notification, delivery])
    db.session.commit()
    return delivery


def _courses():
    from portal.models import Course

    return {c.code: c for c in db.session.scalars(select(Course))}


def _state_snapshot():
    """Everything a refused request must leave alone."""
    return (
        sorted((s.name, s.enabled) for s in db.session.scalars(select(JobState))),
        db.session.scalar(select(func.count()).select_from(JobRun)),
        db.session.scalar(select(func.count()).select_from(AuditLog)),
        sorted((d.id, d.status) for d in db.session.scalars(select(Delivery))),
    )


def _enabled(name: str) -> bool:
    state = db.session.get(JobState, name)
    db.session.expire_all()
    state = db.session.get(JobState, name)
    return True if state is None else state.enabled


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
    assert set(data["retryQueue"]) == {"totalPending", "byType", "byAttempts"}
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
    assert not _enabled(JOB)
    response = client.post(API, json={"action": "start", "jobName": JOB}, headers=admin)
    assert response.json["data"]["status"] == "running" and _enabled(JOB)
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


def test_put_disables_and_enables_a_job(client, admin):
    response = client.put(API, json={"jobName": JOB, "enabled": False}, headers=admin)
    assert response.status_code == 200 and response.json["data"]["enabled"] is False
    assert not _enabled(JOB)
    assert client.put(API, json={"jobName": JOB, "enabled": True}, headers=admin).json["data"]["enabled"] is True
    assert _enabled(JOB)


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
    before = _state_snapshot()
    response = getattr(client, method)(API, headers=admin, **kwargs)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.json["success"] is False
    assert fragment in response.json["error"]
    assert _state_snapshot() == before


def test_unknown_action_lists_the_valid_actions(client, admin):
    for body in ({"action": "explode"}, {"jobName": JOB}):
        response = client.post(API, json=body, headers=admin)
        assert response.status_code == 400
        assert response.json["validActions"] == VALID_ACTIONS


def test_method_not_allowed_names_the_allowed_methods(client, admin):
    response = client.delete(API, headers=admin)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST", "PUT"}


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer att_not-a-real-token"}, {"Authorization": "Basic YTpi"}]
)
def test_requests_without_valid_credentials_get_401(client, app, headers):
    pending_delivery("S1")
    before = _state_snapshot()
    for method, path, body in [
        ("get", API, None),
        ("post", API, {"action": "stopAll"}),
        ("put", API, {"jobName": JOB, "enabled": False}),
        ("get", "/api/admin/alerts", None),
        ("get", "/api/admin/retry-queue", None),
    ]:
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.json["success"] is False and "Authorization: Bearer" in response.json["error"]
    assert _state_snapshot() == before


def test_revoked_token_is_refused(client, admin):
    from portal.clock import utcnow
    from portal.models import ApiToken

    db.session.scalars(select(ApiToken)).one().revoked_at = utcnow()
    db.session.commit()
    assert client.get(API, headers=admin).status_code == 401


@pytest.mark.parametrize(
    "action", ["start", "stop", "trigger", "startAll", "stopAll", "clearRetryQueue", "runThresholdCheck"]
)
def test_viewers_are_refused_every_state_changing_action(client, viewer, action):
    pending_delivery("S1")
    before = _state_snapshot()
    response = client.post(API, json={"action": action, "jobName": JOB}, headers=viewer)
    assert response.status_code == 403
    assert "admin" in response.json["error"]
    assert client.put(API, json={"jobName": JOB, "enabled": False}, headers=viewer).status_code == 403
    assert _state_snapshot() == before


# --- session authentication and CSRF ---------------------------------------------------------------


def _signed_in(client, role="admin") -> str:
    factories.user("person", role, PASSWORD)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "person", "password": PASSWORD, "csrf_token": token})
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def test_session_calls_without_the_csrf_header_are_refused_and_change_nothing(client):
    _signed_in(client)
    before = _state_snapshot()
    response = client.post(API, json={"action": "stop", "jobName": JOB})
    assert response.status_code == 400
    assert "CSRF" in response.json["error"] and "X-CSRFToken" in response.json["error"]
    assert (
        client.put(API, json={"jobName": JOB, "enabled": False}, headers={"X-CSRFToken": "forged"}).status_code == 400
    )
    assert client.post("/api/attendance", json=[]).status_code == 400
    assert _state_snapshot() == before


def test_session_calls_with_the_csrf_header_act(client):
    csrf = _signed_in(client)
    assert client.get(API).status_code == 200  # reads need no token
    response = client.post(API, json={"action": "stop", "jobName": JOB}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 200, response.json
    assert not _enabled(JOB)
    assert db.session.scalars(select(AuditLog)).all()[-1].action == "job.stop"


def test_signed_in_viewer_gets_403_from_the_api(client):
    csrf = _signed_in(client, "viewer")
    response = client.post(API, json={"action": "stopAll"}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 403


def test_bearer_calls_need_no_csrf_token(client, admin):
    assert client.post(API, json={"action": "stop", "jobName": JOB}, headers=admin).status_code == 200


def test_job_and_retry_queue_actions_record_the_callers_address_in_the_audit_log(client, admin):
    pending_delivery("S1")
    caller = {"environ_base": {"REMOTE_ADDR": "198.51.100.23"}}
    for body in ({"action": "trigger", "jobName": JOB}, {"action": "stopAll"}, {"action": "clearRetryQueue"}):
        assert client.post(API, json=body, headers=admin, **caller).status_code in (200, 202)
    assert client.put(API, json={"jobName": JOB, "enabled": True}, headers=admin, **caller).status_code == 200
    entries = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(e.action, e.source, e.ip) for e in entries] == [
        ("job.trigger", "api", "198.51.100.23"),
        ("job.stop_all", "api", "198.51.100.23"),
        ("retry_queue.clear", "api", "198.51.100.23"),
        ("job.start", "api", "198.51.100.23"),
    ]


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXY_COUNT": 1}])
def test_behind_a_trusted_proxy_the_audit_log_records_the_forwarded_client_address(client, admin, app_config):
    proxied = {"headers": {**admin, "X-Forwarded-For": "203.0.113.50"}, "environ_base": {"REMOTE_ADDR": "127.0.0.1"}}
    assert client.post(API, json={"action": "stop", "jobName": JOB}, **proxied).status_code == 200
    assert db.session.scalars(select(AuditLog.ip)).all() == ["203.0.113.50"]


# --- lists -----------------------------------------------------------------------------------------


def test_retry_queue_lists_pending_deliveries_paginated_and_filtered(client, viewer):
    for i in range(5):
        pending_delivery(f"S{i}", "warning" if i % 2 else "mahroom", attempts=1 + i % 3)
    pending_delivery("F1", attempts=0)  # never tried: not in the retry queue
    pending_delivery("D1", status="dead")
    data = client.get("/api/admin/retry-queue?perPage=2&page=2", headers=viewer).json["data"]
    assert (data["total"], data["pages"], data["page"], data["perPage"], len(data["items"])) == (5, 3, 2, 2, 2)
    assert data["summary"]["totalPending"] == 5
    item = data["items"][0]
    assert {"id", "kind", "channel", "recipient", "attempts", "nextAttemptAt", "lastError", "status"} <= set(item)
    warnings = client.get("/api/admin/retry-queue?type=warning", headers=viewer).json["data"]
    assert warnings["total"] == 2 and {i["kind"] for i in warnings["items"]} == {"warning"}
    dead = client.get("/api/admin/retry-queue?status=dead", headers=viewer).json["data"]
    assert [i["recipient"] for i in dead["items"]] == ["d1@uni.example"]


def test_alerts_list_is_paginated_and_filtered(client, viewer):
    pending_delivery("S1", "warning")
    pending_delivery("S2", "mahroom")
    data = client.get("/api/admin/alerts?kind=mahroom", headers=viewer).json["data"]
    assert data["total"] == 1
    assert data["items"][0]["studentNumber"] == "S2" and data["items"][0]["rate"] == "70.00"
    assert client.get("/api/admin/alerts?student=S1", headers=viewer).json["data"]["total"] == 1


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=x", "perPage=1000", "perPage=0", "type=urgent", "status=sent", "attempts=-1", "channel=sms"],
)
def test_bad_list_arguments_get_400(client, viewer, query):
    response = client.get(f"/api/admin/retry-queue?{query}", headers=viewer)
    assert response.status_code == 400 and response.json["success"] is False


def test_bad_alert_filter_gets_400(client, viewer):
    assert client.get("/api/admin/alerts?kind=nope", headers=viewer).status_code == 400
