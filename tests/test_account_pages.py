"""The accounts pages (admins only): users and API tokens, on SQLite and PostgreSQL.

What is checked is what was written (the rows, the audit entries) and what it does: a generated
password signs in, a token shown once authenticates an API call and stops after its revocation,
a disabled user's open session is refused on its very next request. Refusals change nothing.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

import pytest
import time_machine
from sqlalchemy import func, select, text

from portal.extensions import db
from portal.models import ApiToken, AuditLog, User
from tests import factories
from tests.test_auth import PASSWORD, csrf_from, sign_in
from tests.test_input_attendance_api import database_snapshot

WAITING_FOR_A_ROW_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
)
ACCOUNT_GETS = ["/accounts/", "/accounts/tokens", "/accounts/tokens/1/revoke"]
ACCOUNT_POSTS = [
    "/accounts/users",
    "/accounts/users/1/role",
    "/accounts/users/1/disable",
    "/accounts/users/1/enable",
    "/accounts/users/1/password",
    "/accounts/tokens",
    "/accounts/tokens/1/revoke",
]


def signed_in_admin(app):
    factories.user("admin", "admin", PASSWORD)
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return client


@pytest.fixture
def web(any_app):
    """An admin (``admin``) signed in on the app, SQLite and PostgreSQL in turn."""
    return signed_in_admin(any_app)


def post(client, url, **form):
    csrf = csrf_from(client.get("/accounts/").get_data(as_text=True))
    return client.post(url, data={"csrf_token": csrf, **form})


def entries(action):
    db.session.expire_all()
    rows = db.session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)).all()
    return [(e.actor, e.target, e.source, e.details) for e in rows]


def user_named(username) -> User:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.username == username)).one()


def shown_once(html, attribute):
    match = re.search(rf'<code class="secret" {attribute}>([^<]+)</code>', html)
    return match.group(1) if match else None


def test_a_viewer_gets_403_on_every_accounts_url_and_no_accounts_link(app, client):
    factories.user("viewer", "viewer", PASSWORD)
    factories.token_for(factories.user("admin", "admin", PASSWORD))
    sign_in(client, "viewer")
    page = client.get("/").get_data(as_text=True)
    assert "/accounts/" not in page
    csrf = csrf_from(page)
    before = database_snapshot()
    for url in ACCOUNT_GETS:
        assert client.get(url).status_code == 403, url
    for url in ACCOUNT_POSTS:
        response = client.post(url, data={"csrf_token": csrf, "username": "x" * 12, "role": "admin", "user": "viewer"})
        assert response.status_code == 403, url
    assert database_snapshot() == before


def test_an_admin_sees_the_accounts_link_and_the_users_with_their_last_sign_in_in_local_time(app, client):
    with time_machine.travel("2026-12-01 10:00:00", tick=False):
        factories.user("admin", "admin", PASSWORD)
        sign_in(client)
        page = client.get("/accounts/").get_data(as_text=True)
    assert '<a href="/accounts/" aria-current="page">Accounts</a>' in page
    row = re.search(r'<tr data-user="admin">.*?</tr>', page, re.S).group(0)
    assert (
        '<time datetime="2026-12-01T10:00:00Z" title="2026-12-01 10:00:00 UTC">2026-12-01 14:30</time>' in row
    )  # the sign-in
    assert '<td data-label="Active">yes</td>' in row


def test_creating_a_user_with_a_generated_password_shows_it_once_and_it_signs_in(any_app, web):
    response = post(web, "/accounts/users", username=" registrar ", role="viewer", password="")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    password = shown_once(page, "data-password")
    assert password and len(password) >= 10 and "Copy it now: it cannot be shown again." in page
    user = user_named("registrar")
    assert (user.role, user.active) == ("viewer", True)
    assert entries("user_create") == [("admin", f"user:{user.id}", "page", {"user": "registrar", "role": "viewer"})]
    assert password not in web.get("/accounts/").get_data(as_text=True)  # never shown again
    other = any_app.test_client()
    assert sign_in(other, "registrar", password).status_code == 302
    assert other.get("/").status_code == 200


@pytest.mark.parametrize(
    "form, message",
    [
        ({"username": "admin", "role": "viewer", "password": PASSWORD}, "User &#39;admin&#39; already exists."),
        (
            {"username": "clerk", "role": "owner", "password": PASSWORD},
            "Role must be one of admin, viewer; got &#39;owner&#39;.",
        ),
        ({"username": "clerk", "role": "viewer", "password": "short"}, "Password must be at least 10 characters."),
        ({"username": "   ", "role": "viewer", "password": PASSWORD}, "Username must be 1 to 64 characters."),
    ],
)
def test_a_refused_new_user_says_what_is_wrong_and_writes_nothing(app, client, form, message):
    factories.user("admin", "admin", PASSWORD)
    sign_in(client)
    before = database_snapshot()
    response = post(client, "/accounts/users", **form)
    assert response.status_code == 400
    assert "No user was created: " + message in response.get_data(as_text=True)
    assert database_snapshot() == before


def test_a_role_change_and_a_password_reset_are_written_and_audited(any_app, web):
    clerk = factories.user("clerk", "viewer", PASSWORD)
    assert post(web, f"/accounts/users/{clerk.id}/role", role="admin").status_code == 302
    assert user_named("clerk").role == "admin"
    assert entries("user_role_change") == [
        ("admin", f"user:{clerk.id}", "page", {"user": "clerk", "from": "viewer", "to": "admin"})
    ]
    again = post(web, f"/accounts/users/{clerk.id}/role", role="admin")
    assert again.status_code == 400 and "has the &#39;admin&#39; role already" in again.get_data(as_text=True)
    bad = post(web, f"/accounts/users/{clerk.id}/role", role="root")
    assert bad.status_code == 400 and "Role must be one of admin, viewer; got &#39;root&#39;" in bad.get_data(True)
    assert len(entries("user_role_change")) == 1 and user_named("clerk").role == "admin"

    clerk_session = any_app.test_client()
    assert sign_in(clerk_session, "clerk").status_code == 302
    assert clerk_session.get("/").status_code == 200
    short = post(web, f"/accounts/users/{clerk.id}/password", password="too-short")
    assert short.status_code == 400 and "Password must be at least 10 characters." in short.get_data(as_text=True)
    hash_before = user_named("clerk").password_hash
    reset = post(web, f"/accounts/users/{clerk.id}/password", password="")
    new_password = shown_once(reset.get_data(as_text=True), "data-password")
    assert reset.status_code == 200 and new_password
    assert user_named("clerk").password_hash != hash_before
    assert entries("user_password_reset") == [("admin", f"user:{clerk.id}", "page", {"user": "clerk"})]
    response = clerk_session.get("/")  # the session from before the reset ends
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    assert sign_in(any_app.test_client(), "clerk", PASSWORD).status_code == 401  # the old one is gone
    assert sign_in(any_app.test_client(), "clerk", new_password).status_code == 302
    mine = post(web, f"/accounts/users/{user_named('admin').id}/password", password="")
    assert mine.status_code == 200 and web.get("/accounts/").status_code == 200  # one's own session goes on
    assert (
        sign_in(any_app.test_client(), "admin", shown_once(mine.get_data(as_text=True), "data-password")).status_code
        == 302
    )
    for action in ("role", "disable", "enable", "password"):
        assert post(web, f"/accounts/users/999/{action}", role="admin").status_code == 404, action


def test_a_disabled_users_open_session_and_tokens_are_refused_on_their_next_request(any_app, web):
    clerk = factories.user("clerk", "viewer", PASSWORD)
    token = factories.token_for(clerk)
    session = any_app.test_client()
    assert sign_in(session, "clerk").status_code == 302
    assert session.get("/").status_code == 200
    bearer = {"Authorization": f"Bearer {token}"}
    assert session.get("/api/admin/alerts", headers=bearer).status_code == 200

    assert post(web, f"/accounts/users/{clerk.id}/disable").status_code == 302
    assert user_named("clerk").active is False
    response = session.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    assert any_app.test_client().get("/api/admin/alerts", headers=bearer).status_code == 401
    assert sign_in(any_app.test_client(), "clerk").status_code == 401
    assert entries("user_disable") == [("admin", f"user:{clerk.id}", "page", {"user": "clerk"})]

    twice = post(web, f"/accounts/users/{clerk.id}/disable")
    assert twice.status_code == 400 and "is disabled already; nothing changed." in twice.get_data(as_text=True)
    assert post(web, f"/accounts/users/{clerk.id}/enable").status_code == 302
    assert user_named("clerk").active is True and len(entries("user_disable")) == 1
    assert entries("user_enable") == [("admin", f"user:{clerk.id}", "page", {"user": "clerk"})]
    assert sign_in(any_app.test_client(), "clerk").status_code == 302


def test_the_last_active_admin_can_neither_demote_nor_disable_themselves(any_app, web):
    admin = user_named("admin")
    before = database_snapshot()
    for url, form in (
        (f"/accounts/users/{admin.id}/role", {"role": "viewer"}),
        (f"/accounts/users/{admin.id}/disable", {}),
    ):
        response = post(web, url, **form)
        assert response.status_code == 400, url
        assert "&#39;admin&#39; is the only active admin" in response.get_data(as_text=True)
    assert database_snapshot() == before
    other = factories.user("second", "admin", PASSWORD)
    factories.user("gone", "admin", PASSWORD).active = False  # a disabled admin does not count
    db.session.commit()
    assert post(web, f"/accounts/users/{other.id}/disable").status_code == 302
    assert post(web, f"/accounts/users/{admin.id}/disable").status_code == 400
    assert post(web, f"/accounts/users/{other.id}/enable").status_code == 302
    assert post(web, f"/accounts/users/{admin.id}/role", role="viewer").status_code == 302
    assert user_named("admin").role == "viewer" and user_named("second").role == "admin"


def test_a_token_made_on_the_page_is_shown_once_works_and_stops_after_revoke(any_app):
    # Time only moves forward: a session cookie signed later than "now" would be refused.
    with time_machine.travel("2026-12-01 10:00:00", tick=False) as traveller:
        token_life_on_the_page(any_app, traveller)


def token_life_on_the_page(any_app, traveller):
    web = signed_in_admin(any_app)
    factories.user("importer", "admin", PASSWORD)
    response = post(
        web, "/accounts/tokens", user="importer", name="nightly import", scope="admin", expires_in_days="30"
    )
    page = response.get_data(as_text=True)
    token = shown_once(page, "data-token")
    assert response.status_code == 200 and token.startswith("att_")
    assert "Copy it now: it cannot be shown again." in page
    row = db.session.scalars(select(ApiToken)).one()
    assert (row.name, row.scope, row.user.username) == ("nightly import", "admin", "importer")
    assert row.expires_at == datetime(2026, 12, 31, 10, 0, 0)
    assert entries("token_create") == [
        (
            "admin",
            f"token:{row.id}",
            "page",
            {"user": "importer", "scope": "admin", "expiresAt": "2026-12-31T10:00:00Z", "name": "nightly import"},
        )
    ]
    listing = web.get("/accounts/tokens").get_data(as_text=True)
    assert token not in listing
    assert '<time datetime="2026-12-31T10:00:00Z" title="2026-12-31 10:00:00 UTC">2026-12-31 14:30</time>' in listing

    api = any_app.test_client()
    traveller.move_to("2026-12-02 08:00:00")
    assert api.get("/api/admin/alerts", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    listed = web.get("/accounts/tokens").get_data(as_text=True)
    assert (
        '<td data-label="Last used"><time datetime="2026-12-02T08:00:00Z" title="2026-12-02 08:00:00 UTC">2026-12-02 12:30</time>'
        in listed
    )

    confirm = web.get(f"/accounts/tokens/{row.id}/revoke").get_data(as_text=True)
    assert f"Yes, revoke token {row.id}" in confirm
    traveller.move_to("2026-12-03 09:15:00")
    assert post(web, f"/accounts/tokens/{row.id}/revoke").status_code == 302
    response = api.get("/api/admin/alerts", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json["error"] == "This API token was revoked at 2026-12-03T09:15:00Z; ask for a new one."

    again = post(web, f"/accounts/tokens/{row.id}/revoke")
    assert again.status_code == 400 and "was revoked already; nothing changed." in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).revoked_at == datetime(2026, 12, 3, 9, 15, 0)
    assert entries("token_revoke") == [("admin", f"token:{row.id}", "page", {"user": "importer"})]
    assert web.get("/accounts/tokens/999/revoke").status_code == 404


@pytest.mark.parametrize(
    "form, message",
    [
        ({"scope": "root"}, "Scope must be one of admin, inbox, attendance; got &#39;root&#39;."),
        ({"expires_in_days": "0"}, "Expiry in days must be 1 to 3650 days; got 0."),
        ({"expires_in_days": "3651"}, "Expiry in days must be 1 to 3650 days; got 3651."),
        ({"expires_in_days": "soon"}, "Expiry in days must be a whole number of days from 1 to 3650"),
        ({"user": "nobody"}, "No user named &#39;nobody&#39;"),
        ({"name": "  "}, "Name must be 1 to 100 characters."),
    ],
)
def test_a_refused_token_says_what_is_wrong_and_writes_nothing(app, client, form, message):
    factories.user("admin", "admin", PASSWORD)
    sign_in(client)
    before = database_snapshot()
    fields = {"user": "admin", "name": "script", "scope": "inbox", "expires_in_days": "7", **form}
    response = post(client, "/accounts/tokens", **fields)
    assert response.status_code == 400
    assert "No token was created: " + message in response.get_data(as_text=True)
    assert database_snapshot() == before
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_two_admins_demoting_each_other_at_once_cannot_both_succeed_on_postgresql(pg_app):
    web = signed_in_admin(pg_app)
    factories.user("second", "admin", PASSWORD)
    me = user_named("admin").id
    csrf = csrf_from(web.get("/accounts/").get_data(as_text=True))
    db.session.rollback()
    answers = []
    with db.engine.connect() as other:
        # The other admin demotes "second", not yet committed: only that row is locked.
        other.execute(text("UPDATE users SET role = 'viewer' WHERE username = 'second'"))
        demote_me = threading.Thread(
            target=lambda: answers.append(
                web.post(f"/accounts/users/{me}/role", data={"csrf_token": csrf, "role": "viewer"})
            )
        )
        demote_me.start()
        deadline = time.monotonic() + 10
        while not other.execute(text(WAITING_FOR_A_ROW_LOCK)).scalar():
            assert time.monotonic() < deadline, "the page's change did not wait for the admins' row locks"
            demote_me.join(0.01)  # the poll's interval, and finished means it did not wait
            assert demote_me.is_alive(), "the page's change finished without waiting"
        other.commit()
        demote_me.join(timeout=10)
    assert answers[0].status_code == 400
    assert "&#39;admin&#39; is the only active admin" in answers[0].get_data(as_text=True)
    assert (user_named("admin").role, user_named("second").role) == ("admin", "viewer")
    assert entries("user_role_change") == []
