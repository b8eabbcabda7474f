"""Who may reach what, walked over the app's URL map so a new route cannot be forgotten.

tests/test_auth.py::test_every_page_and_api_endpoint_needs_a_signed_in_user_or_a_token walks
it with CSRF on (a form post may stop at the CSRF check); here CSRF is switched off for the
anonymous walk, so each view's own sign-in check is what answers. Viewers are walked over
every state-changing route, and a signed-in admin over every unsafe route without a valid
CSRF token; each refusal leaves the database and the queues unchanged.
"""

from __future__ import annotations

import pytest

from portal.blueprints.ops import PUBLIC_ENDPOINTS
from tests import factories
from tests.test_admin_api import pending_delivery
from tests.test_auth import PASSWORD, csrf_from
from tests.test_input_attendance_api import database_snapshot

SIGN_IN_ENDPOINTS = {"auth.login", "auth.logout"}
# Every signed-in user, viewers too, changes their own page language (tests/test_page_language.py).
OWN_CHOICE_ENDPOINTS = {"auth.choose_language"}
# A value for every URL argument a route may take; a new argument fails the walk until listed.
SAMPLE_ARGUMENTS = {
    "name": "cache-refresh",
    "action": "stop",
    "part": "jobs",
    "delivery_id": 1,
    "filename": "portal.css",
    "student_number": "S1",
    "message_id": 1,
    "kind": "warning",
    "language": "fa",
    "recipient": "student",
    "user_id": 1,
    "token_id": 1,
    "alert_id": 1,
    "import_id": 1,
}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
API_BODY = {"action": "stopAll", "jobName": "cache-refresh", "enabled": False}


def routes(app, methods=None):
    """``(endpoint, method, url)`` for every rule of the app (HEAD and OPTIONS aside)."""
    found = []
    for rule in app.url_map.iter_rules():
        missing = set(rule.arguments) - set(SAMPLE_ARGUMENTS)
        assert not missing, f"{rule.rule}: add a sample value for {missing} to SAMPLE_ARGUMENTS"
        url = rule.build({name: SAMPLE_ARGUMENTS[name] for name in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if methods is None or method in methods:
                found.append((rule.endpoint, method, url))
    return found


def _send(client, method, url, headers=None, csrf=None):
    if url.startswith("/api/"):
        body = [{"student_number": "S1"}] if url == "/api/attendance" else API_BODY
        return client.open(url, method=method, json=body, headers=headers)
    data = {"csrf_token": csrf} if csrf else {}
    return client.open(url, method=method, data=data, headers=headers)


@pytest.fixture
def no_csrf_client(app):
    app.config["WTF_CSRF_ENABLED"] = False
    return app.test_client()


def test_only_the_ops_endpoints_are_public_and_they_only_read(app):
    for endpoint, method, _ in routes(app):
        if endpoint in PUBLIC_ENDPOINTS:
            assert method == "GET", (endpoint, method)
    assert PUBLIC_ENDPOINTS == {"ops.healthz", "ops.readyz", "ops.metrics", "openapi.openapi_document"}


def test_every_route_refuses_anonymous_users_even_with_csrf_out_of_the_way(app, no_csrf_client):
    pending_delivery("S1")
    before = database_snapshot()
    for endpoint, method, url in routes(app):
        if endpoint in PUBLIC_ENDPOINTS | SIGN_IN_ENDPOINTS | {"static"}:
            continue
        response = _send(no_csrf_client, method, url)
        if url.startswith("/api/"):
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.json["success"] is False
        else:
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/login?next="), (method, url)
    assert database_snapshot() == before


@pytest.fixture
def viewer_session(client):
    factories.user("viewer", "viewer", PASSWORD)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    return client, csrf_from(client.get("/").get_data(as_text=True))


def test_a_signed_in_viewer_is_refused_every_state_changing_route(app, viewer_session):
    client, csrf = viewer_session
    pending_delivery("S1", attempts=1)  # delivery 1 exists: a 403, not a 404, is what protects it
    before = database_snapshot()
    checked = 0
    for endpoint, method, url in routes(app, UNSAFE):
        if endpoint in SIGN_IN_ENDPOINTS | OWN_CHOICE_ENDPOINTS:
            continue
        response = _send(client, method, url, headers={"X-CSRFToken": csrf}, csrf=csrf)
        assert response.status_code == 403, (method, url, response.status_code)
        checked += 1
    assert checked >= 8
    assert client.get("/retry-queue/clear").status_code == 403  # the confirmation page is for admins too
    assert database_snapshot() == before


def test_a_viewer_token_is_refused_every_state_changing_api_route(app, client):
    headers = {"Authorization": f"Bearer {factories.token_for(factories.user('bot', 'viewer'))}"}
    before = database_snapshot()
    api_routes = [(m, u) for _, m, u in routes(app, UNSAFE) if u.startswith("/api/")]
    assert len(api_routes) >= 3
    for method, url in api_routes:
        assert _send(client, method, url, headers=headers).status_code == 403, (method, url)
    assert database_snapshot() == before


@pytest.fixture
def admin_session(client):
    factories.user("admin", "admin", PASSWORD)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    return client


@pytest.mark.parametrize("forged", [None, "forged", "stale-from-another-session"])
def test_every_unsafe_route_needs_this_sessions_csrf_token(app, admin_session, forged):
    if forged == "stale-from-another-session":
        other = app.test_client()
        forged = csrf_from(other.get("/login").get_data(as_text=True))
    pending_delivery("S1", attempts=1)
    before = database_snapshot()
    for _, method, url in routes(app, UNSAFE):
        headers = {"X-CSRFToken": forged} if forged else {}
        response = _send(admin_session, method, url, headers=headers, csrf=forged)
        assert response.status_code == 400, (method, url, response.status_code)
        assert "CSRF" in response.get_data(as_text=True), (method, url)
    assert database_snapshot() == before
    assert admin_session.get("/").status_code == 200  # still signed in: the logout post was refused too


def test_the_same_posts_with_the_right_token_do_act(app, admin_session):
    csrf = csrf_from(admin_session.get("/").get_data(as_text=True))
    response = admin_session.post("/jobs/cache-refresh/stop", data={"csrf_token": csrf})
    assert response.status_code == 302
    response = admin_session.post(
        "/api/admin/background-jobs",
        json={"action": "start", "jobName": "cache-refresh"},
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 200
