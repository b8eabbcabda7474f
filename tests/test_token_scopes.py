"""Token scopes, expiry and revocation, walked over the URL map so a new route cannot be forgotten.

``admin`` tokens reach every API endpoint, ``inbox`` tokens only the student endpoints,
``attendance`` tokens only ``POST /api/attendance``; any other endpoint answers them 403 naming
the scope it needs. A revoked or expired token is 401 saying so; a revocation from the CLI counts
from the very next request, on every web process. ``flask tokens create|list|revoke`` refuse bad
input with nothing written. Sessions have no scope."""

from __future__ import annotations

import re

import pytest
import time_machine
from sqlalchemy import func, select

from portal import create_app
from portal.auth import create_token
from portal.extensions import db
from portal.models import ApiToken, AuditLog
from tests import factories
from tests.conftest import IsolatedClient
from tests.test_auth import PASSWORD, csrf_from, sign_in
from tests.test_student_inbox import letters

# What each narrow scope reaches, written out (not read from portal.auth): the promise itself.
INBOX_ENDPOINTS = {"students_api.student_inbox", "students_api.mark_message_read", "students_api.alerts"}
ATTENDANCE_ENDPOINTS = {"attendance_api.post_attendance"}
PUBLIC_API = {"openapi.openapi_document"}
BODIES = {
    "/api/attendance": [{"student_number": "S1"}],
    "/api/admin/background-jobs": {"action": "getJobStatus", "jobName": "cache-refresh", "enabled": True},
}


def api_routes(app, message_id: int):
    """``(endpoint, method, url)`` of every /api/ rule; a new URL argument fails until given a value."""
    samples = {"student_number": "S1", "message_id": message_id, "name": "maintenance"}
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        assert set(rule.arguments) <= set(samples), f"{rule.rule}: add a sample value for its arguments"
        url = rule.build({name: samples[name] for name in rule.arguments}, append_unknown=False)[1]
        found += [(rule.endpoint, method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(app):
    """One token per scope, all of one admin user (so only the scope can refuse)."""
    user = factories.user("ops", "admin")
    made = {scope: create_token(user, scope, scope) for scope in ("admin", "inbox", "attendance")}
    db.session.commit()
    return made


def test_each_scope_reaches_exactly_its_endpoints_and_is_told_the_scope_needed_elsewhere(app, client, tokens):
    (message_id,) = letters("S1", 1)
    reached = {scope: set() for scope in tokens}
    walked = 0
    for endpoint, method, url in api_routes(app, message_id):
        for scope, token in tokens.items():
            response = client.open(url, method=method, json=BODIES.get(url), headers=bearer(token))
            expected_through = (
                scope == "admin"
                or endpoint in PUBLIC_API
                or (scope == "inbox" and endpoint in INBOX_ENDPOINTS)
                or (scope == "attendance" and endpoint in ATTENDANCE_ENDPOINTS)
            )
            if expected_through:
                assert response.status_code not in (401, 403), (scope, method, url, response.json)
                reached[scope].add(endpoint)
            else:
                needed = "inbox" if endpoint in INBOX_ENDPOINTS else (
                    "attendance" if endpoint in ATTENDANCE_ENDPOINTS else "admin"
                )  # fmt: skip
                assert response.status_code == 403, (scope, method, url, response.status_code)
                assert response.json == {
                    "success": False,
                    "error": f"This token has the {scope!r} scope; {method} {url} needs a token with the "
                    f"{needed!r} scope{'' if needed == 'admin' else ' (or ' + repr('admin') + ')'}.",
                }, (scope, method, url)
            walked += 1
    assert walked >= 3 * 9
    assert reached["inbox"] == INBOX_ENDPOINTS | PUBLIC_API
    assert reached["attendance"] == ATTENDANCE_ENDPOINTS | PUBLIC_API
    assert {"admin_api.alerts", "admin_api.background_jobs_action"} | INBOX_ENDPOINTS <= reached["admin"]


def test_a_scoped_token_never_does_more_than_its_users_role(app, client):
    (message_id,) = letters("S1", 1)
    token = create_token(factories.user("watcher", "viewer"), "app", "inbox")
    db.session.commit()
    assert client.get("/api/students/S1/inbox", headers=bearer(token)).status_code == 200
    response = client.post(f"/api/students/S1/inbox/{message_id}/read", headers=bearer(token))
    assert response.status_code == 403
    assert response.json["error"] == "User 'watcher' has the 'viewer' role; this action needs 'admin'."


def test_a_revoked_token_is_401_saying_so_from_the_next_request_on_every_process(app, client, runner, tokens):
    token = tokens["inbox"]
    letters("S1", 1)
    # A second web process on the same database (its own app, engine and connection pool).
    other = create_app({**app.config, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    other.test_client_class = IsolatedClient
    other_client = other.test_client()
    assert client.get("/api/students/S1/inbox", headers=bearer(token)).status_code == 200
    assert other_client.get("/api/students/S1/inbox", headers=bearer(token)).status_code == 200
    token_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "inbox"))
    with time_machine.travel("2026-12-01 22:45:18", tick=False):
        result = runner.invoke(args=["tokens", "revoke", str(token_id)])
    assert result.exit_code == 0, result.output
    assert result.output == f"Revoked token {token_id} 'inbox' of ops at 2026-12-01T22:45:18Z.\n"
    message = "This API token was revoked at 2026-12-01T22:45:18Z; ask for a new one."
    for each in (client, other_client):
        response = each.get("/api/students/S1/inbox", headers=bearer(token))
        assert (response.status_code, response.json) == (401, {"success": False, "error": message})
    assert client.get("/api/admin/alerts", headers=bearer(tokens["admin"])).status_code == 200  # the others work
    again = runner.invoke(args=["tokens", "revoke", str(token_id)])
    assert again.exit_code == 0
    assert again.output == f"Token {token_id} 'inbox' of ops was already revoked at 2026-12-01T22:45:18Z; unchanged.\n"
    entries = db.session.scalars(select(AuditLog).where(AuditLog.action == "token_revoke")).all()
    assert [(e.target, e.source) for e in entries] == [(f"token:{token_id}", "cli")]
    with other.app_context():
        db.engine.dispose()


def test_an_expired_token_is_401_with_its_expiry_time(app, client, runner):
    factories.user("ops", "admin")
    with time_machine.travel("2026-12-01 10:00:00.750", tick=False):
        result = runner.invoke(
            args=["tokens", "create", "--user", "ops", "--scope", "inbox", "--expires-in-days", "30"]
        )
    assert result.exit_code == 0, result.output
    assert "scope inbox, expires 2026-12-31T10:00:00Z" in result.output
    token = result.output.strip().splitlines()[-1]
    letters("S1", 1)
    with time_machine.travel("2026-12-31 09:59:59", tick=False):
        assert client.get("/api/students/S1/alerts", headers=bearer(token)).status_code == 200
    with time_machine.travel("2026-12-31 10:00:00", tick=False):
        response = client.get("/api/students/S1/alerts", headers=bearer(token))
    assert response.status_code == 401
    assert response.json["error"] == "This API token expired at 2026-12-31T10:00:00Z; ask for a new one."


def test_tokens_create_defaults_to_admin_and_never_expires(app, runner, client):
    factories.user("ops", "admin")
    result = runner.invoke(args=["tokens", "create", "--user", "ops", "--name", "nightly import"])
    assert result.exit_code == 0, result.output
    row = db.session.scalars(select(ApiToken)).one()
    assert (row.scope, row.expires_at, row.name) == ("admin", None, "nightly import")
    assert f"Token {row.id} 'nightly import' for ops (admin), scope admin, never expires" in result.output
    assert client.get("/api/admin/alerts", headers=bearer(result.output.strip().splitlines()[-1])).status_code == 200


@pytest.mark.parametrize(
    "args, complaint",
    [
        (["--scope", "students"], "'students' is not one of 'admin', 'inbox', 'attendance'"),
        (["--scope", ""], "'' is not one of"),
        (["--expires-in-days", "-1"], "-1 is not in the range 1<=x<=3650"),
        (["--expires-in-days", "0"], "0 is not in the range 1<=x<=3650"),
        (["--expires-in-days", "soon"], "'soon' is not a valid integer"),
        (["--name", "   "], "must be 1 to 100 characters"),
        (["--user", "nobody"], "No user named 'nobody'"),
    ],
)
def test_tokens_create_refuses_bad_input_clearly_with_nothing_written(app, runner, args, complaint):
    factories.user("ops", "admin")
    result = runner.invoke(args=["tokens", "create", "--user", "ops", *args])
    assert result.exit_code == 2, result.output
    assert complaint in result.output
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_tokens_list_shows_every_field_in_utc_and_filters_by_user(app, runner):
    factories.user("ops", "admin")
    factories.user("watcher", "viewer")
    with time_machine.travel("2026-12-01 08:00:00", tick=False):
        assert runner.invoke(args=["tokens", "create", "--user", "ops", "--scope", "inbox", "--name", "app",
                                   "--expires-in-days", "7"]).exit_code == 0  # fmt: skip
        assert runner.invoke(args=["tokens", "create", "--user", "watcher"]).exit_code == 0
    with time_machine.travel("2026-12-02 09:30:00", tick=False):
        assert runner.invoke(args=["tokens", "revoke", "2"]).exit_code == 0
    lines = runner.invoke(args=["tokens", "list"]).output.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "id",
        "user",
        "name",
        "scope",
        "created",
        "last used",
        "expires",
        "revoked",
    ]
    assert [re.split(r"\s{2,}", line) for line in lines[1:]] == [
        ["1", "ops", "app", "inbox", "2026-12-01T08:00:00Z", "-", "2026-12-08T08:00:00Z", "-"],
        ["2", "watcher", "cli", "admin", "2026-12-01T08:00:00Z", "-", "-", "2026-12-02T09:30:00Z"],
    ]
    only = runner.invoke(args=["tokens", "list", "--user", "watcher"]).output.splitlines()
    assert len(only) == 2 and only[1].startswith("2 ")
    unknown = runner.invoke(args=["tokens", "list", "--user", "nobody"])
    assert unknown.exit_code == 2 and "No user named 'nobody'" in unknown.output
    assert "att_" not in runner.invoke(args=["tokens", "list"]).output


def test_revoking_an_unknown_token_is_a_clear_error(app, runner):
    result = runner.invoke(args=["tokens", "revoke", "99"])
    assert result.exit_code == 1
    assert "No API token with id 99" in result.output
    assert runner.invoke(args=["tokens", "revoke", "x"]).exit_code == 2


def test_sessions_have_no_scope_a_viewer_reads_the_student_endpoints_but_does_not_mark(app, client):
    (message_id,) = letters("S1", 1)
    factories.user("viewer", "viewer", PASSWORD)
    sign_in(client, "viewer")
    csrf = csrf_from(client.get("/").get_data(as_text=True))
    assert client.get("/api/students/S1/inbox").status_code == 200
    assert client.get("/api/students/S1/alerts").status_code == 200
    assert client.get("/api/admin/alerts").status_code == 200
    response = client.post(f"/api/students/S1/inbox/{message_id}/read", headers={"X-CSRFToken": csrf})
    assert response.status_code == 403 and "needs 'admin'" in response.json["error"]


def test_an_admin_session_marks_read_with_the_csrf_header_and_not_without(app, client):
    (message_id,) = letters("S1", 1)
    factories.user("admin", "admin", PASSWORD)
    sign_in(client, "admin")
    url = f"/api/students/S1/inbox/{message_id}/read"
    refused = client.post(url)
    assert refused.status_code == 400 and "X-CSRFToken" in refused.json["error"]
    csrf = csrf_from(client.get("/").get_data(as_text=True))
    done = client.post(url, headers={"X-CSRFToken": csrf})
    assert done.status_code == 200 and done.json["data"]["readAt"] is not None
