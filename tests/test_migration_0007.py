"""0007_token_scopes_inbox: tokens that existed before it become ``admin`` (what they reached
before) and never expire; the inbox indexes appear; it downgrades and upgrades again, on SQLite
and PostgreSQL."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from portal.extensions import db
from tests.test_migrations import MIGRATIONS, _differences


def _columns(table: str) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns(table)}


def _indexes(table: str) -> set[str]:
    return {i["name"] for i in inspect(db.engine).get_indexes(table) if i["name"].startswith("ix_")}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_tokens_of_0006_become_admin_tokens_that_never_expire(migrated, backend):
    app = migrated
    downgrade(directory=MIGRATIONS, revision="0006_enrollment_hundredths")
    assert "scope" not in _columns("api_tokens") and "expires_at" not in _columns("api_tokens")
    assert _indexes("inbox_messages") == {"ix_inbox_messages_student_id"}
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, password_hash, role, active, created_at) "
                "VALUES (7, 'old', 'x', 'viewer', true, '2026-01-01 00:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, prefix, token_hash, created_at) "
                "VALUES (7, 'legacy', 'att_legacy00', :hash, '2026-01-02 00:00:00')"
            ),
            {"hash": "a" * 64},
        )
    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, scope, expires_at, revoked_at FROM api_tokens")).all()
    assert [tuple(r) for r in rows] == [("legacy", "admin", None, None)]
    assert _indexes("inbox_messages") == {"ix_inbox_messages_student_id_id", "ix_inbox_messages_unread"}
    assert _differences(app) == []
    with db.engine.begin() as conn, pytest.raises(Exception, match="(?i)check|constraint"):
        conn.execute(text("UPDATE api_tokens SET scope = 'root'"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_0007_downgrades_and_upgrades_again_with_the_tokens_kept(migrated, backend):
    app = migrated
    from portal.auth import create_token
    from tests import factories

    create_token(factories.user("ops", "admin"), "app", "inbox")
    db.session.commit()
    db.session.close()
    downgrade(directory=MIGRATIONS, revision="0006_enrollment_hundredths")
    assert "scope" not in _columns("api_tokens")
    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as conn:
        # Downgraded tokens lose their scope: they come back as admin tokens (of their user's role).
        assert conn.execute(text("SELECT name, scope FROM api_tokens")).all() == [("app", "admin")]
    assert _differences(app) == []
