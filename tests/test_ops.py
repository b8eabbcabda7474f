"""/healthz and /readyz: public, JSON, no secrets; readiness follows the database, Redis and migrations."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from redis import Redis
from sqlalchemy import text

from portal.blueprints.ops import PUBLIC_ENDPOINTS
from portal.extensions import db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own, on a fixed free port, that the test can stop and start."""

    def __init__(self, workdir) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_config(request):
    if "private_redis" in request.fixturenames:
        return {"REDIS_URL": request.getfixturevalue("private_redis").url}
    return {}


def test_healthz_answers_without_sign_in_and_shows_no_configuration(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_readyz_is_ready_with_database_redis_and_current_migrations(any_app):
    response = any_app.test_client().get("/readyz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ready" and body["failing"] == []
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["expected"]
    raw = response.get_data(as_text=True)
    assert any_app.config["REDIS_URL"] not in raw and "sqlite" not in raw and "postgresql" not in raw


def test_readyz_fails_naming_redis_while_it_is_down_and_recovers_when_it_is_back(app, private_redis):
    client = app.test_client()
    assert client.get("/readyz").status_code == 200

    private_redis.stop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json["failing"] == ["redis"]
    assert "REDIS_URL" in down.json["checks"]["redis"]["error"]
    assert private_redis.url not in down.get_data(as_text=True)

    private_redis.start()
    assert client.get("/readyz").status_code == 200


def test_readyz_fails_when_the_schema_is_behind_the_migrations(app):
    db.session.execute(text("UPDATE alembic_version SET version_num = '0001_initial'"))
    db.session.commit()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["failing"] == ["migrations"]
    assert "db upgrade" in response.json["checks"]["migrations"]["error"]


def test_ops_endpoints_are_public_and_listed_as_such(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("ops."):
            assert rule.endpoint in PUBLIC_ENDPOINTS
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 200  # from 127.0.0.1, no token configured
