"""Sign-in keeps its rate limit while Redis is down: failures are counted in the database (on
SQLite and PostgreSQL), with the same limits, and still count for their window once Redis is
back; a success clears them; with Redis up nothing is written to the database."""

from __future__ import annotations

import threading

import pytest
import time_machine
from sqlalchemy import create_engine, func, select, text

from portal import sign_in_failures
from portal.clock import utcnow
from portal.extensions import db
from portal.models import AuditLog, SignInFailure, User
from tests import factories
from tests.faultkit import RedisServer, wait_for, waiting_on_a_lock
from tests.test_auth import PASSWORD, csrf_from, sign_in

WRONG = "wrong password!"


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def app_config(private_redis):
    return {
        "REDIS_URL": private_redis.url,
        "REDIS_STATUS_SECONDS": 0,  # every request probes: the test stops and starts Redis
        "SIGN_IN_MAX_FAILURES": 5,
        "SIGN_IN_MAX_FAILURES_PER_ADDRESS": 8,
        "SIGN_IN_WINDOW_SECONDS": 600,
    }


@pytest.fixture
def web(any_app, private_redis):
    """An admin account, a fresh client, and Redis stopped."""
    factories.user("admin", "admin", PASSWORD)
    factories.user("clerk", "viewer", PASSWORD)
    private_redis.kill()
    return any_app.test_client()


def _audit_outcomes() -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(a.actor, a.outcome) for a in db.session.scalars(select(AuditLog).order_by(AuditLog.id))]


def _rows() -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(r.username, r.address) for r in db.session.scalars(select(SignInFailure).order_by(SignInFailure.id))]


def test_the_sixth_failure_is_refused_with_429_and_changes_nothing_else(web):
    with time_machine.travel("2026-12-06 10:00:00", tick=False):
        for _ in range(5):
            assert sign_in(web, password=WRONG).status_code == 401
        assert _rows() == [("admin", "127.0.0.1")] * 5
        response = sign_in(web, password=WRONG)
    assert response.status_code == 429
    assert "Too many failed sign-ins. Try again in 10 minute(s)." in response.get_data(as_text=True)
    assert len(_rows()) == 5  # a refused try is not counted again
    assert _audit_outcomes() == [("admin", "failure")] * 5 + [("admin", "throttled")]
    assert db.session.scalars(select(User).where(User.username == "admin")).one().last_login_at is None


def test_the_right_password_is_refused_too_while_locked_and_another_user_is_not(web):
    for _ in range(5):
        sign_in(web, password=WRONG)
    assert sign_in(web).status_code == 429
    assert web.get("/").status_code == 302  # not signed in
    assert sign_in(web, username="clerk").status_code == 302  # the pair's limit, not the address's


def test_a_success_clears_the_users_failures(web):
    for _ in range(4):
        sign_in(web, password=WRONG)
    assert sign_in(web).status_code == 302
    assert _rows() == []
    fresh = web.application.test_client()
    for _ in range(5):
        assert sign_in(fresh, password=WRONG).status_code == 401  # five more before the lock
    assert sign_in(fresh, password=WRONG).status_code == 429


def test_the_per_address_limit_counts_every_username(web):
    for name in ("a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"):
        assert sign_in(web, username=name, password=WRONG).status_code == 401
    assert sign_in(web, username="clerk").status_code == 429


def test_failures_counted_in_the_database_still_count_once_redis_is_back(web, private_redis):
    for _ in range(3):
        sign_in(web, password=WRONG)
    private_redis.start()
    for _ in range(2):
        assert sign_in(web, password=WRONG).status_code == 401
    assert len(_rows()) == 3  # the last two went to Redis
    assert sign_in(web).status_code == 429  # 3 in the database + 2 in Redis


def test_the_lock_ends_after_the_window_and_old_rows_are_pruned(web):
    with time_machine.travel("2026-12-06 10:00:00", tick=False):
        for _ in range(5):
            sign_in(web, password=WRONG)
        assert sign_in(web).status_code == 429
    with time_machine.travel("2026-12-06 10:10:01", tick=False):
        assert sign_in(web, password=WRONG).status_code == 401  # the window passed: counted afresh
        assert len(_rows()) == 1  # the five old rows were deleted with this write
        assert sign_in(web).status_code == 302


def test_the_wait_counts_down_from_the_oldest_failure_that_must_age_out(any_app):
    with time_machine.travel("2026-12-06 10:00:00", tick=False):
        for _ in range(5):
            sign_in_failures.record("Admin ", "10.0.0.1", 600)
    with time_machine.travel("2026-12-06 10:04:00", tick=False):
        pair, address = sign_in_failures.recent("admin", "10.0.0.1", 600)
        assert len(pair) == len(address) == 5
        assert sign_in_failures.seconds_until_below(pair, 0, 5, 600) == 361  # 6 min, rounded up
        assert sign_in_failures.seconds_until_below(pair, 0, 6, 600) == 0


def test_with_redis_up_nothing_is_written_to_the_database(any_app):
    factories.user("admin", "admin", PASSWORD)
    client = any_app.test_client()
    for _ in range(5):
        assert sign_in(client, password=WRONG).status_code == 401
    assert sign_in(client).status_code == 429
    assert db.session.scalar(select(func.count()).select_from(SignInFailure)) == 0


def test_concurrent_failures_cannot_all_slip_under_the_limit(web):
    """Four failures made; eight wrong passwords at once: exactly one more is checked (401)."""
    for _ in range(4):
        sign_in(web, password=WRONG)
    app, start = web.application, threading.Barrier(8)
    statuses: list[int] = []

    def attempt() -> None:
        with app.app_context():
            client = app.test_client()
            token = csrf_from(client.get("/login").get_data(as_text=True))
            start.wait()
            form = {"username": "admin", "password": WRONG, "csrf_token": token}
            statuses.append(client.post("/login", data=form).status_code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(statuses) == [401] + [429] * 7
    assert len(_rows()) == 5


def test_on_postgresql_an_attempt_waits_for_one_in_flight_from_its_address(pg_app, private_redis):
    """Another attempt's row is written but not committed (its transaction holds the address's
    lock): a sign-in from that address waits for it, then counts it: 4 + 1 + 1 > 5 is a 429.
    Without the lock it would count only the four committed rows and check the password."""
    factories.user("admin", "admin", PASSWORD)
    private_redis.kill()
    client = pg_app.test_client()
    for _ in range(4):
        assert sign_in(client, password=WRONG).status_code == 401
    token = csrf_from(client.get("/login").get_data(as_text=True))
    engine = create_engine(pg_app.config["SQLALCHEMY_DATABASE_URI"])
    statuses: list[int] = []
    with engine.connect() as other:
        other.execute(text("SELECT pg_advisory_xact_lock(hashtext('sign-in:127.0.0.1'))"))
        other.execute(
            text("INSERT INTO sign_in_failures (username, address, failed_at) VALUES ('admin', '127.0.0.1', :now)"),
            {"now": utcnow()},
        )

        def attempt() -> None:
            with pg_app.app_context():
                form = {"username": "admin", "password": WRONG, "csrf_token": token}
                statuses.append(client.post("/login", data=form).status_code)

        thread = threading.Thread(target=attempt)
        thread.start()
        wait_for(lambda: waiting_on_a_lock(engine), 30, "the sign-in to wait for the address's lock")
        assert statuses == []
        other.commit()
    thread.join(60)
    engine.dispose()
    assert statuses == [429]
    assert len(_rows()) == 5
