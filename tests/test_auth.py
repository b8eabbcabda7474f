"""Sign-in, sign-out, sessions, CSRF on forms, rate-limited sign-in, security headers, error pages."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import AuditLog, User
from tests import factories

PASSWORD = "correct horse battery"


@pytest.fixture
def app_config():
    return {"SIGN_IN_MAX_FAILURES": 3, "SIGN_IN_WINDOW_SECONDS": 600}


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf-token" content="([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client, username="admin", password=PASSWORD, **kwargs):
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token}, **kwargs)


def test_anonymous_visitor_is_sent_to_sign_in_with_the_page_to_return_to(client):
    response = client.get("/retry-queue/?type=warning")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_admin_signs_in_and_lands_on_the_dashboard_with_a_hardened_session_cookie(client):
    factories.user("admin", "admin", PASSWORD)
    response = sign_in(client)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/").get_data(as_text=True)
    assert "Signed in as admin (admin)." in page
    assert db.session.scalars(select(AuditLog).where(AuditLog.action == "sign_in")).one().outcome == "success"
    assert db.session.get(User, 1).last_login_at is not None


def test_sign_in_returns_to_the_requested_page_but_never_to_another_site(client):
    factories.user("admin", "admin", PASSWORD)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    form = {"username": "admin", "password": PASSWORD, "csrf_token": token}
    assert client.post("/login?next=/audit", data=form).headers["Location"] == "/audit"
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/audit").get_data(as_text=True))})
    token = csrf_from(client.get("/login").get_data(as_text=True))
    form["csrf_token"] = token
    assert client.post("/login?next=//evil.example/", data=form).headers["Location"] == "/"


def test_wrong_password_is_refused_and_audited(client):
    factories.user("admin", "admin", PASSWORD)
    response = sign_in(client, password="wrong password!")
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "sign_in")).one()
    assert (entry.actor, entry.outcome, entry.source) == ("admin", "failure", "page")


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client):
    response = sign_in(client, username="nobody")
    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)


def test_sign_in_is_refused_after_too_many_failures_even_with_the_right_password(client):
    factories.user("admin", "admin", PASSWORD)
    for _ in range(3):
        assert sign_in(client, password="wrong password!").status_code == 401
    response = sign_in(client)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert db.session.scalars(select(AuditLog).where(AuditLog.outcome == "throttled")).one().actor == "admin"


def test_failures_for_one_user_do_not_lock_out_another(client):
    factories.user("admin", "admin", PASSWORD)
    factories.user("other", "viewer", PASSWORD)
    for _ in range(3):
        sign_in(client, password="wrong password!")
    assert sign_in(client, username="other").status_code == 302


def test_sign_in_form_without_csrf_token_is_refused(client):
    factories.user("admin", "admin", PASSWORD)
    response = client.post("/login", data={"username": "admin", "password": PASSWORD})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_inactive_user_cannot_sign_in(client):
    user = factories.user("admin", "admin", PASSWORD)
    user.active = False
    db.session.commit()
    assert sign_in(client).status_code == 401


def test_sign_out_needs_a_post_with_csrf_and_ends_the_session(client):
    factories.user("admin", "admin", PASSWORD)
    sign_in(client)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400  # no CSRF token: still signed in
    assert client.get("/").status_code == 200
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=True)
    assert "Signed out." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    assert [e.action for e in db.session.scalars(select(AuditLog).order_by(AuditLog.id))] == ["sign_in", "sign_out"]


def test_every_response_carries_security_headers_without_inline_script(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.get_data(as_text=True)


def test_unknown_page_is_a_404_in_the_layout(client):
    factories.user("admin", "admin", PASSWORD)
    sign_in(client)
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Not found" in page and "Retry queue" in page  # the layout's navigation


def test_unexpected_error_is_a_500_page_without_a_traceback(app, client):
    def explode():
        raise RuntimeError("secret internals")

    app.add_url_rule("/explode", "explode", explode)
    response = client.get("/explode")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Server error" in page
    assert "secret internals" not in page and "Traceback" not in page


def test_users_create_prompts_for_the_password_and_the_user_can_sign_in(runner, client):
    result = runner.invoke(args=["users", "create", "ops", "--role", "admin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert sign_in(client, username="ops").status_code == 302


def test_tokens_create_prints_the_token_alone_on_the_last_line_and_stores_only_its_hash(runner, client):
    runner.invoke(args=["users", "create", "bot", "--role", "viewer", "--password", PASSWORD])
    result = runner.invoke(args=["tokens", "create", "--user", "bot"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("att_") and " " not in token
    from portal.models import ApiToken

    stored = db.session.scalars(select(ApiToken)).one()
    assert stored.token_hash != token and token not in stored.token_hash
    assert client.get("/api/admin/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_every_page_and_api_endpoint_needs_a_signed_in_user_or_a_token(app, client):
    from portal.blueprints.ops import PUBLIC_ENDPOINTS

    open_endpoints = set(PUBLIC_ENDPOINTS) | {"auth.login", "auth.logout", "static"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in open_endpoints:
            continue
        url = rule.rule.replace("<name>", "cache-refresh").replace("<action>", "stop").replace("<part>", "jobs")
        url = url.replace("<int:delivery_id>", "1").replace("<int:user_id>", "1").replace("<int:token_id>", "1")
        url = url.replace("<int:alert_id>", "1")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, json={} if method != "GET" else None)
            if url.startswith("/api/"):
                assert response.status_code == 401, (method, url)
            elif method == "GET":
                assert response.status_code == 302 and response.headers["Location"].startswith("/login"), url
            else:  # a form post without a session has no valid CSRF token either
                assert response.status_code in (302, 400), (method, url, response.status_code)


def test_token_use_is_recorded_at_most_once_a_minute_so_concurrent_calls_do_not_write(app, client):
    import time_machine

    from portal.models import ApiToken

    token = factories.token_for(factories.user("scripter"))
    headers = {"Authorization": f"Bearer {token}"}
    with time_machine.travel("2026-11-28 10:00:00", tick=False):
        assert client.get("/api/admin/background-jobs", headers=headers).status_code == 200
    first = db.session.execute(select(ApiToken.last_used_at)).scalar_one()
    with time_machine.travel("2026-11-28 10:00:30", tick=False):
        client.get("/api/admin/background-jobs", headers=headers)
    db.session.expire_all()
    assert db.session.execute(select(ApiToken.last_used_at)).scalar_one() == first
    with time_machine.travel("2026-11-28 10:01:05", tick=False):
        client.get("/api/admin/background-jobs", headers=headers)
    db.session.expire_all()
    assert str(db.session.execute(select(ApiToken.last_used_at)).scalar_one()) == "2026-11-28 10:01:05"
