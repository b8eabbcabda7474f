"""Sessions, security headers, the sign-in rate limit by address, and SECRET_KEY at start-up."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from portal import create_app
from portal.config import ConfigError
from tests import factories
from tests.conftest import ROOT, IsolatedClient
from tests.test_auth import PASSWORD, csrf_from

TEMPLATES = ROOT / "portal" / "templates"


def sign_in(client, username="admin", password=PASSWORD, **kwargs):
    token = csrf_from(client.get("/login", **kwargs).get_data(as_text=True))
    form = {"username": username, "password": password, "csrf_token": token}
    return client.post("/login", data=form, **kwargs)


# --- cookies ----------------------------------------------------------------------------------


@pytest.fixture
def production_app(monkeypatch, tmp_path, sqlite_template, redis_url):
    """The app as production builds it (FLASK_ENV unset, SECRET_KEY set) behind one TLS proxy."""
    db_path = tmp_path / "prod.db"
    db_path.write_bytes(sqlite_template.read_bytes())
    for name in ("FLASK_ENV", "PORTAL_ENV", "FLASK_DEBUG", "SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLASK_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-long-random-production-secret-for-tests")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db_path}")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", "1")
    app = create_app({"TESTING": True})
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app


def test_session_cookie_is_secure_httponly_and_samesite_behind_tls(production_app):
    assert production_app.config["SESSION_COOKIE_SECURE"] is True
    factories.user("admin", "admin", PASSWORD)
    client = production_app.test_client()
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "portal.example", "X-Forwarded-For": "203.0.113.9"}
    token = csrf_from(client.get("/login", headers=proxy).get_data(as_text=True))
    form = {"username": "admin", "password": PASSWORD, "csrf_token": token}
    # Over HTTPS Flask-WTF also wants a same-origin Referer (browsers send one: Referrer-Policy same-origin).
    refused = client.post("/login", data=form, headers={**proxy, "Referer": "https://evil.example/login"})
    assert refused.status_code == 400 and "referrer does not match" in refused.get_data(as_text=True)
    response = client.post("/login", data=form, headers={**proxy, "Referer": "https://portal.example/login"})
    assert response.status_code == 302, response.get_data(as_text=True)
    cookie = response.headers["Set-Cookie"]
    assert re.search(r"\bSecure\b", cookie) and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/", headers=proxy)
    assert page.status_code == 200 and "Signed in as admin" in page.get_data(as_text=True)


def test_session_cookie_is_not_secure_only_in_development(app, client):
    assert app.config["ENVIRONMENT"] == "testing" and app.config["SESSION_COOKIE_SECURE"] is False
    factories.user("admin", "admin", PASSWORD)
    cookie = sign_in(client).headers["Set-Cookie"]
    assert "Secure" not in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_a_tampered_session_cookie_is_not_a_session(app, client):
    factories.user("admin", "admin", PASSWORD)
    sign_in(client)
    cookie = client.get_cookie("session")
    client.set_cookie("session", cookie.value[:-2] + ("AA" if not cookie.value.endswith("AA") else "BB"))
    assert client.get("/").status_code == 302


# --- headers ----------------------------------------------------------------------------------


def test_every_kind_of_response_carries_the_security_headers(app, client):
    factories.user("admin", "admin", PASSWORD)
    answers = {
        "sign-in page": client.get("/login"),
        "redirect": client.get("/audit"),
        "API 401": client.get("/api/admin/alerts"),
        "static file": client.get("/static/portal.css"),
        "health": client.get("/healthz"),
        "413": client.post("/login", data="x" * (app.config["MAX_CONTENT_LENGTH"] + 1)),
    }
    sign_in(client)
    answers.update(
        {
            "dashboard": client.get("/"),
            "fragment": client.get("/live/jobs"),
            "404 page": client.get("/no-such-page"),
            "405": client.delete("/api/admin/background-jobs"),
            "API 200": client.get("/api/admin/background-jobs"),
        }
    )
    for kind, response in answers.items():
        csp = response.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, kind
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, kind
        assert response.headers.get("X-Frame-Options") == "DENY", kind
        assert response.headers.get("X-Content-Type-Options") == "nosniff", kind
    for kind in ("sign-in page", "dashboard", "API 200", "404 page"):
        assert answers[kind].headers["Cache-Control"] == "no-store", kind


def test_templates_hold_no_inline_script_style_or_event_handlers():
    """The CSP forbids them; one would silently break in the browser, so none may exist."""
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"<style\b", text), path
        assert not re.search(r"\s(on[a-z]+|style)\s*=", text), path
        assert "javascript:" not in text, path


# --- sign-in rate limit by address ---------------------------------------------------------------


@pytest.fixture
def app_config():
    return {"SIGN_IN_MAX_FAILURES": 3, "SIGN_IN_MAX_FAILURES_PER_ADDRESS": 5}


def _from(address):
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_one_address_trying_many_usernames_is_stopped_but_others_are_not(client):
    factories.user("admin", "admin", PASSWORD)
    for n in range(5):
        assert sign_in(client, f"guess{n}", "wrong password", **_from("198.51.100.7")).status_code == 401
    assert sign_in(client, "admin", PASSWORD, **_from("198.51.100.7")).status_code == 429
    assert sign_in(client, "admin", PASSWORD, **_from("198.51.100.8")).status_code == 302


def test_a_forged_forwarded_for_does_not_reset_the_count_without_a_trusted_proxy(client):
    factories.user("admin", "admin", PASSWORD)
    for n in range(3):
        forged = {"X-Forwarded-For": f"10.0.0.{n}"}
        sign_in(client, "admin", "wrong password", headers=forged, **_from("198.51.100.7"))
    response = sign_in(client, "admin", PASSWORD, headers={"X-Forwarded-For": "10.9.9.9"}, **_from("198.51.100.7"))
    assert response.status_code == 429


def test_behind_a_trusted_proxy_clients_are_counted_by_their_own_address(app, client):
    from werkzeug.middleware.proxy_fix import ProxyFix

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    factories.user("admin", "admin", PASSWORD)
    proxy = _from("127.0.0.1")
    for _ in range(3):
        sign_in(client, "admin", "wrong password", headers={"X-Forwarded-For": "203.0.113.1"}, **proxy)
    assert sign_in(client, headers={"X-Forwarded-For": "203.0.113.1"}, **proxy).status_code == 429
    assert sign_in(client, headers={"X-Forwarded-For": "203.0.113.2"}, **proxy).status_code == 302


# --- SECRET_KEY --------------------------------------------------------------------------------


def test_the_app_refuses_to_start_outside_development_without_a_secret_key(monkeypatch):
    for name in ("SECRET_KEY", "FLASK_ENV", "PORTAL_ENV", "FLASK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()
    monkeypatch.setenv("FLASK_ENV", "production")
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app()


def test_gunicorn_entry_point_exits_with_one_line_naming_secret_key(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith("Configuration error: SECRET_KEY is not set")
    assert "Traceback" not in result.stderr


def test_development_runs_with_its_own_insecure_key_only_there(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("FLASK_ENV", "development")
    app = create_app()
    assert app.config["SECRET_KEY"] == "dev-only-not-secret" and app.config["SESSION_COOKIE_SECURE"] is False
