"""Shared fixtures: a real Redis, a fresh real database per test (SQLite, and PostgreSQL where
SQL differs), the app, its test client and CLI runner, an in-process RQ worker, bearer
headers for the admin API, and the fault tests' webhook sink and process groups."""

from __future__ import annotations

import contextvars
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import settings
from redis import Redis
from sqlalchemy import create_engine, text

from portal import create_app
from portal.extensions import db
from tests import factories
from tests.faultkit import Processes, WebhookSink
from workers import context as worker_context

ROOT = Path(__file__).resolve().parent.parent

# CI runs the property tests with a fixed seed, so a run is reproducible; locally they explore.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """URL of a Redis server for the whole session: TEST_REDIS_URL, or a private redis-server."""
    if os.environ.get("TEST_REDIS_URL"):
        yield os.environ["TEST_REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.exit("redis-server is not on PATH: install it (apt-get install redis-server) or set TEST_REDIS_URL", 2)
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.exit("the private redis-server did not start within 10 s", 2)
            time.sleep(0.02)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied before the test."""
    Redis.from_url(redis_server).flushall()
    return redis_server


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file with every migration applied, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A PostgreSQL database with every migration applied: TEST_DATABASE_URL or a private one."""
    if os.environ.get("TEST_DATABASE_URL"):
        url = os.environ["TEST_DATABASE_URL"]
        _migrate(url)
        yield url
        return
    name = f"attendance_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not available at {PG_ADMIN_URL}: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    _migrate(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
            )
        ]
        if tables:
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
            # The rows the migrations seed: the open-ended term (id 1).
            conn.execute(
                text(
                    "INSERT INTO terms (id, code, name, created_at, updated_at) "
                    "VALUES (1, NULL, 'All records (no terms defined)', now(), now())"
                )
            )
            conn.execute(text("SELECT setval(pg_get_serial_sequence('terms', 'id'), 1)"))
    engine.dispose()


class IsolatedClient(FlaskClient):
    """A test client whose requests run in their own app context, as in production.

    The fixtures keep an app context pushed for the test body; without this, Flask would
    reuse it for every request and ``g`` (the signed-in user, the API caller) and the
    database session would leak from one request to the next.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def _make_app(database_url: str, redis_url: str, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "WTF_CSRF_ENABLED": True,
        "SERVER_NAME": None,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = IsolatedClient
    worker_context.use_app(app)
    return app


@pytest.fixture
def app_config() -> dict:
    """Extra config for the ``app`` fixtures; override in a test module or with indirect params."""
    return {}


@pytest.fixture
def app(tmp_path, sqlite_template, redis_url, app_config):
    """The app on a fresh SQLite database (migrated) and an empty Redis."""
    path = tmp_path / "test.db"
    shutil.copyfile(sqlite_template, path)
    application = _make_app(f"sqlite:///{path}", redis_url, **app_config)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    worker_context.use_app(None)


@pytest.fixture
def pg_app(postgres_url, redis_url, app_config):
    """The app on an emptied PostgreSQL database (migrated) and an empty Redis."""
    _truncate_postgres(postgres_url)
    application = _make_app(postgres_url, redis_url, **app_config)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()
    worker_context.use_app(None)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_app(request):
    """The app on SQLite and again on PostgreSQL (for SQL that differs between them)."""
    return request.getfixturevalue("app" if request.param == "sqlite" else "pg_app")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def run_jobs():
    """Run every queued RQ job in-process until the queues are empty; return how many ran."""
    from rq import SimpleWorker

    from portal.queues import QUEUE_NAMES, get_queue, get_redis

    def run(queue_names=QUEUE_NAMES, with_scheduler: bool = False) -> int:
        connection = get_redis()
        queues = [get_queue(name, connection) for name in queue_names]
        worker = SimpleWorker(queues, connection=connection)
        worker.work(burst=True, with_scheduler=with_scheduler)
        return worker.successful_job_count + worker.failed_job_count

    return run


@pytest.fixture
def admin(app):
    """Bearer headers of an admin's API token (the admin API tests; a module may define its own)."""
    return {"Authorization": f"Bearer {factories.token_for(factories.user('admin', 'admin'))}"}


@pytest.fixture
def viewer(app):
    """Bearer headers of a viewer's API token."""
    return {"Authorization": f"Bearer {factories.token_for(factories.user('watcher', 'viewer'))}"}


# --- the fault tests' real processes and servers (tests/faultkit.py) ---------------------------


@pytest.fixture
def sink():
    """A webhook sink on loopback that records (and can hold) every POSTed document."""
    server = WebhookSink()
    yield server
    server.close()


def _processes(application, tmp_path) -> Processes:
    return Processes(application.config["SQLALCHEMY_DATABASE_URI"], application.config["REDIS_URL"], tmp_path)


@pytest.fixture
def procs(app, tmp_path):
    """Workers and schedulers a test starts on the ``app`` fixture's database and Redis; stopped after."""
    group = _processes(app, tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
def pg_procs(pg_app, tmp_path):
    """The same on the ``pg_app`` fixture's PostgreSQL database."""
    group = _processes(pg_app, tmp_path)
    yield group
    group.stop_all()


@pytest.fixture
def migrated(request, backend):
    """The app on ``backend`` (a test's parameter: sqlite or postgresql), for migration tests
    that go down and up again; left at the head afterwards, even when the test fails midway
    (the PostgreSQL database is shared by the whole session)."""
    from flask_migrate import upgrade

    yield request.getfixturevalue("app" if backend == "sqlite" else "pg_app")
    db.session.remove()
    upgrade(directory=str(ROOT / "migrations"))
