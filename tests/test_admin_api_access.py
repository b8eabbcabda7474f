"""Who may call the admin API: no or a bad token is 401, a revoked token too, a viewer is
refused every state-changing action (403); a signed-in session needs the CSRF header, a bearer
token does not; the audit log records the caller's address (the forwarded one behind a
trusted proxy). Every refusal changes nothing."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog
from tests import factories
from tests.adminkit import API, JOB, PASSWORD, job_enabled, pending_delivery, state_snapshot


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer att_not-a-real-token"}, {"Authorization": "Basic YTpi"}]
)
def test_requests_without_valid_credentials_get_401(client, app, headers):
    pending_delivery("S1")
    before = state_snapshot()
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
    assert state_snapshot() == before


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
    before = state_snapshot()
    response = client.post(API, json={"action": action, "jobName": JOB}, headers=viewer)
    assert response.status_code == 403
    assert "admin" in response.json["error"]
    assert client.put(API, json={"jobName": JOB, "enabled": False}, headers=viewer).status_code == 403
    assert state_snapshot() == before


# --- session authentication and CSRF ---------------------------------------------------------------


def _signed_in(client, role="admin") -> str:
    factories.user("person", role, PASSWORD)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "person", "password": PASSWORD, "csrf_token": token})
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True)).group(1)


def test_session_calls_without_the_csrf_header_are_refused_and_change_nothing(client):
    _signed_in(client)
    before = state_snapshot()
    response = client.post(API, json={"action": "stop", "jobName": JOB})
    assert response.status_code == 400
    assert "CSRF" in response.json["error"] and "X-CSRFToken" in response.json["error"]
    assert (
        client.put(API, json={"jobName": JOB, "enabled": False}, headers={"X-CSRFToken": "forged"}).status_code == 400
    )
    assert client.post("/api/attendance", json=[]).status_code == 400
    assert state_snapshot() == before


def test_session_calls_with_the_csrf_header_act(client):
    csrf = _signed_in(client)
    assert client.get(API).status_code == 200  # reads need no token
    response = client.post(API, json={"action": "stop", "jobName": JOB}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 200, response.json
    assert not job_enabled(JOB)
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
