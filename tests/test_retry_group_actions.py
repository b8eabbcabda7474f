"""Group actions on a filtered retry-queue list (retry all now, cancel all), on SQLite and
PostgreSQL: each touches exactly the deliveries its confirmation page counted, none that came
after it, and leaves every other delivery as it was; viewers and bad filters are refused."""

from __future__ import annotations

import html
import itertools
import re
from datetime import datetime

import pytest
import time_machine
from rq import Queue
from sqlalchemy import select, text

from portal import queues
from portal.extensions import db
from portal.models import AuditLog, Delivery
from portal.notifications import group_actions
from tests import factories
from tests.adminkit import pending_delivery
from tests.sqltrace import sql_statements
from tests.test_auth import PASSWORD, csrf_from, sign_in

_numbers = itertools.count(1)


def _delivery(kind: str, channel: str, attempts: int, status: str = "pending") -> int:
    return pending_delivery(f"S{next(_numbers)}", kind, channel=channel, attempts=attempts, status=status).id


@pytest.fixture
def sets(any_app):
    """Three filtered sets and their neighbours: ids by name."""
    return {
        "mahroom_email_2": [_delivery("mahroom", "email", 2) for _ in range(3)],
        "mahroom_webhook_2": [_delivery("mahroom", "webhook", 2) for _ in range(2)],
        "warning_1": [_delivery("warning", "email", 1) for _ in range(2)],
        "dead": [_delivery("tasdiq", "email", 4, status="dead") for _ in range(2)],
        "fresh": [_delivery("mahroom", "email", 0)],  # not in the retry queue: no attempt yet
    }


def _web(app, username="admin", role="admin"):
    factories.user(username, role, PASSWORD)
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


@pytest.fixture
def web(any_app):
    return _web(any_app)


def _rows() -> dict[int, tuple]:
    db.session.expire_all()
    query = select(Delivery.id, Delivery.status, Delivery.attempts, Delivery.job_id, Delivery.next_attempt_at)
    return {row.id: tuple(row[1:]) for row in db.session.execute(query)}


def _confirm(client, action: str, query: str) -> tuple[str, dict[str, str]]:
    """Open the confirmation page; return its text and its form's hidden fields."""
    response = client.get(f"/retry-queue/group/{action}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    text = response.get_data(as_text=True)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', text))
    return text, fields


def _post(client, action: str, fields: dict[str, str]):
    return client.post(f"/retry-queue/group/{action}", data=fields, follow_redirects=True)


def _others_unchanged(before: dict, after: dict, touched: list[int]) -> None:
    assert {i: r for i, r in after.items() if i not in touched} == {i: r for i, r in before.items() if i not in touched}


def test_retry_all_shown_touches_exactly_the_filtered_deliveries_and_queues_them(web, sets):
    before = _rows()
    page, fields = _confirm(web, "retry", "type=mahroom&attempts=2&channel=email")
    assert "Retry now 3 deliveries that match this filter?" in page
    assert 'data-filter="type">mahroom<' in page and 'data-filter="attempts">2<' in page
    assert 'data-filter="channel">email<' in page
    assert fields["count"] == "3" and int(fields["maxId"]) == max(sets["mahroom_email_2"])

    page = _post(web, "retry", fields).get_data(as_text=True)
    assert "3 deliveries will be attempted again now." in page
    after = _rows()
    touched = sets["mahroom_email_2"]
    for delivery_id in touched:
        status, attempts, job_id, due = after[delivery_id]
        assert (status, attempts) == ("pending", 2) and job_id.startswith("deliveries-retried-") and due is not None
    _others_unchanged(before, after, touched)
    jobs = Queue(queues.URGENT, connection=queues.get_redis()).get_jobs()  # mahroom: the urgent queue
    assert [job.args for job in jobs] == [(sorted(touched),)]
    assert {job.id for job in jobs} == {after[i][2] for i in touched}


def test_cancel_all_shown_cancels_only_the_filtered_ones_and_is_audited(web, sets):
    before = _rows()
    page, fields = _confirm(web, "cancel", "type=warning")
    assert "Cancel 2 deliveries that match this filter?" in page
    page = _post(web, "cancel", fields).get_data(as_text=True)
    assert "2 deliveries are cancelled." in page
    after = _rows()
    assert [after[i][0] for i in sets["warning_1"]] == ["cancelled", "cancelled"]
    _others_unchanged(before, after, sets["warning_1"])
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "delivery.group_cancel")).one()
    assert entry.actor == "admin" and entry.details["touched"] == 2 and entry.details["shown"] == 2
    assert entry.details["filter"] == {"status": "pending", "kind": "warning", "attempts": None, "channel": None}


def test_the_dead_tab_retries_the_dead_ones_only(web, sets):
    before = _rows()
    page, fields = _confirm(web, "retry", "status=dead")
    assert "Retry now 2 deliveries" in page
    _post(web, "retry", fields)
    after = _rows()
    assert [after[i][0] for i in sets["dead"]] == ["pending", "pending"]
    _others_unchanged(before, after, sets["dead"])


def test_a_delivery_that_arrives_after_the_confirmation_is_left_alone(web, sets):
    _, fields = _confirm(web, "cancel", "type=mahroom&attempts=2")
    assert fields["count"] == "5"
    late = _delivery("mahroom", "email", 2)  # matches the filter, but came after the page
    changed = sets["mahroom_webhook_2"][0]
    db.session.get(Delivery, changed).status = "sent"  # one shown is sent meanwhile
    db.session.commit()
    page = _post(web, "cancel", fields).get_data(as_text=True)
    assert "4 deliveries are cancelled." in page
    assert "The confirmation page counted 5; 4 still matched the filter" in page
    after = _rows()
    assert after[late][0] == "pending" and after[changed][0] == "sent"
    cancelled = [i for i, row in after.items() if row[0] == "cancelled"]
    assert sorted(cancelled) == sorted(sets["mahroom_email_2"] + sets["mahroom_webhook_2"][1:])


def test_a_viewer_is_refused_both_pages_and_nothing_changes(any_app, sets):
    viewer = _web(any_app, "watcher", "viewer")
    before = _rows()
    assert viewer.get("/retry-queue/group/retry?type=warning").status_code == 403
    csrf = csrf_from(viewer.get("/retry-queue/").get_data(as_text=True))
    form = {"csrf_token": csrf, "status": "pending", "type": "warning", "count": "2", "maxId": "999"}
    assert viewer.post("/retry-queue/group/cancel", data=form).status_code == 403
    assert "Retry all" not in viewer.get("/retry-queue/").get_data(as_text=True)
    assert _rows() == before


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("type", "urgent", "'type'"),
        ("attempts", "two", "'attempts'"),
        ("maxId", "", "'maxId'"),
        ("count", "-1", "'count'"),
    ],
)
def test_a_bad_filter_or_snapshot_is_a_400_naming_it_and_changes_nothing(web, sets, field, value, named):
    _, fields = _confirm(web, "cancel", "type=warning")
    before = _rows()
    response = web.post("/retry-queue/group/cancel", data={**fields, field: value})
    assert response.status_code == 400
    assert named in html.unescape(response.get_data(as_text=True))
    assert _rows() == before
    assert web.get("/retry-queue/group/retry?channel=fax").status_code == 400


def test_the_list_offers_both_group_actions_with_its_filter_and_count(web, sets):
    page = web.get("/retry-queue/?type=mahroom&attempts=2").get_data(as_text=True)
    assert "Retry all 5 shown…" in page and "Cancel all 5 shown…" in page
    assert re.search(r'href="/retry-queue/group/retry\?[^"]*type=mahroom', page)


@pytest.mark.slow
def test_ten_thousand_deliveries_are_retried_then_cancelled_in_bulk_in_a_bounded_number_of_statements(any_app):
    """Set-based: 10,000 shown deliveries in about a hundred statements and 100 RQ jobs, not 10,000
    of each (the times are in docs/performance.md, "Retry-queue group actions")."""
    _delivery("mahroom", "email", 2)
    for copy in range(14):  # doubled 14 times, then cut to 10,000 (recipients kept unique)
        db.session.execute(
            text(
                "INSERT INTO deliveries (notification_id, kind, channel, recipient, status, attempts, created_at, "
                f"updated_at) SELECT notification_id, kind, channel, recipient || '.{copy}.' || id, status, attempts, "
                "created_at, updated_at FROM deliveries"
            )
        )
    db.session.execute(text("DELETE FROM deliveries WHERE id > (SELECT min(id) FROM deliveries) + 9999"))
    db.session.commit()
    shown = {"status": "pending", "kind": "mahroom", "attempts": 2, "channel": None}
    caller = {"actor": "admin", "source": "page", "ip": None}
    with sql_statements() as retry_sql:
        retried = group_actions.retry_group(shown, group_actions.take_snapshot(shown), **caller)
    with sql_statements() as cancel_sql:
        cancelled = group_actions.cancel_group(shown, group_actions.take_snapshot(shown), **caller)
    assert (retried, cancelled) == (10_000, 10_000)
    assert len(Queue(queues.URGENT, connection=queues.get_redis()).get_job_ids()) == 100
    assert len(retry_sql) <= 120 and len(cancel_sql) <= 10, (len(retry_sql), len(cancel_sql))


def test_inside_quiet_hours_a_quiet_kinds_email_waits_for_the_windows_end_and_inbox_goes_now(any_app):
    any_app.config.update(QUIET_HOURS="21:00-07:00", QUIET_KINDS=("warning",), UNIVERSITY_TIMEZONE="Asia/Kabul")
    email, inbox, mahroom = (
        _delivery("warning", "email", 1),
        _delivery("warning", "inbox", 1),
        _delivery("mahroom", "email", 1),
    )
    shown = {"status": "pending", "kind": None, "attempts": 1, "channel": None}
    with time_machine.travel(datetime(2026, 10, 5, 17, 30), tick=False):  # 22:00 in Kabul
        touched = group_actions.retry_group(shown, group_actions.take_snapshot(shown), actor="a", source="page")
    rows = _rows()
    assert touched == 3
    assert rows[email][2:] == (None, datetime(2026, 10, 6, 2, 30))  # no job; due at 07:00 Kabul
    assert rows[inbox][2].startswith("deliveries-retried-") and rows[inbox][3] == datetime(2026, 10, 5, 17, 30)
    assert rows[mahroom][2].startswith("deliveries-retried-")
