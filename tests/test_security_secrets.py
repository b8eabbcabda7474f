"""Passwords and API tokens are stored hashed and never written to a log, the database or Redis.

Logs are caught twice: pytest's ``caplog`` (every record that reaches the root logger) and
the portal's own handler writing to stderr (``capsys``), in text and in JSON format. The
CLI prints a new token once by design; that output is the only place it may appear.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from portal.extensions import db
from portal.logs import configure_logging
from portal.models import ApiToken, User
from portal.queues import get_redis
from tests.test_auth import csrf_from
from tests.test_input_attendance_api import database_snapshot

PASSWORD = "Tr0ub4dor&3-unique-password"
WRONG_PASSWORD = "Wr0ng-but-still-secret-guess"


def stored_text() -> str:
    """Every value in every table and every Redis key and value, as one string."""
    tables = database_snapshot()["tables"]
    redis = get_redis()
    parts = [repr(tables)]
    for key in redis.scan_iter("*"):
        parts.append(key.decode("utf-8", "replace"))
        if redis.type(key) == b"string":
            parts.append(redis.get(key).decode("utf-8", "replace"))
        elif redis.type(key) == b"hash":
            parts.append(repr(redis.hgetall(key)))
    return "\n".join(parts)


@pytest.fixture(params=["text", "json"])
def logs(request, app, caplog, capsys):
    """Everything logged at any level while the test runs, in the given LOG_FORMAT."""
    app.config.update(LOG_FORMAT=request.param, LOG_LEVEL="DEBUG")
    configure_logging(app)
    caplog.set_level(logging.DEBUG)

    def everything() -> str:
        captured = capsys.readouterr()
        return caplog.text + captured.err + captured.out

    yield everything
    app.config.update(LOG_FORMAT="text", LOG_LEVEL="INFO")
    configure_logging(app)


def test_a_password_set_from_the_cli_is_stored_only_as_a_salted_hash(app, runner):
    result = runner.invoke(args=["users", "create", "alice", "--role", "admin", "--password", PASSWORD])
    assert result.exit_code == 0 and PASSWORD not in result.output
    runner.invoke(args=["users", "create", "bob", "--role", "admin", "--password", PASSWORD])
    alice, bob = (db.session.scalars(select(User).where(User.username == n)).one() for n in ("alice", "bob"))
    assert alice.password_hash.split(":")[0] in ("scrypt", "pbkdf2")
    assert alice.password_hash != bob.password_hash  # salted: the same password, two hashes
    assert check_password_hash(alice.password_hash, PASSWORD)
    assert PASSWORD not in stored_text()


def test_an_api_token_is_stored_only_as_its_hash(app, runner):
    runner.invoke(args=["users", "create", "bot", "--password", PASSWORD])
    token = runner.invoke(args=["tokens", "create", "--user", "bot"]).output.strip().splitlines()[-1]
    row = db.session.scalars(select(ApiToken)).one()
    assert len(row.token_hash) == 64 and token not in row.token_hash
    assert token not in stored_text() and token[12:] not in stored_text()  # only the prefix is kept


def test_sign_in_success_and_failure_never_log_or_store_the_password(app, client, runner, logs):
    runner.invoke(args=["users", "create", "alice", "--role", "admin", "--password", PASSWORD])
    for password, status in ((WRONG_PASSWORD, 401), (PASSWORD, 302)):
        token = csrf_from(client.get("/login").get_data(as_text=True))
        response = client.post("/login", data={"username": "alice", "password": password, "csrf_token": token})
        assert response.status_code == status
        assert password not in response.get_data(as_text=True)
    logged = logs()
    assert "sign_in" in stored_text()  # the attempts were audited...
    for secret in (PASSWORD, WRONG_PASSWORD):
        assert secret not in logged, "a password reached the logs"
        assert secret not in stored_text(), "a password reached the database or Redis"


def test_bearer_requests_never_log_the_token_even_when_they_fail(app, client, runner, logs):
    @app.get("/api/explode")
    def explode():
        raise RuntimeError("boom")

    runner.invoke(args=["users", "create", "bot", "--role", "admin", "--password", PASSWORD])
    created = runner.invoke(args=["tokens", "create", "--user", "bot"])
    token = created.output.strip().splitlines()[-1]
    logs()  # the CLI printed the token once, by design; from here on it must not appear
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/admin/background-jobs", headers=auth).status_code == 200
    assert client.post("/api/admin/background-jobs", json={"action": "nope"}, headers=auth).status_code == 400
    assert client.post("/api/attendance", json=[{"student_number": "S9"}], headers=auth).status_code == 400
    assert client.post("/api/admin/background-jobs", json={"action": "stopAll"}, headers=auth).status_code == 200
    wrong = "att_" + "x" * 43
    assert client.get("/api/admin/alerts", headers={"Authorization": f"Bearer {wrong}"}).status_code == 401

    assert client.get("/api/explode", headers=auth).status_code == 500
    logged = logs()
    assert "unhandled error on GET /api/explode" in logged  # the logs were caught
    for secret in (token, token[12:], wrong):
        assert secret not in logged
    assert token not in stored_text()


def test_token_creation_logs_nothing_secret(app, runner, logs):
    runner.invoke(args=["users", "create", "bot", "--password", PASSWORD])
    result = runner.invoke(args=["tokens", "create", "--user", "bot"])
    token = result.output.strip().splitlines()[-1]
    assert result.output.count(token) == 1  # shown once, on its own line
    logged = logs().replace(result.output, "")
    assert token not in logged and PASSWORD not in logged
