"""The retry queue's page and list API read the same rows, filters and pages as before, counted
and paged on the deliveries alone: the student and course of a delivery are read for the rows of
the page shown only, whatever the length of the queue (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.models import Alert, Course, Delivery, Notification, Student
from portal.notifications.retry_queue import list_deliveries
from tests.sqltrace import sql_statements
from tests.test_admin_api import pending_delivery
from tests.test_job_status_reads import bearer, sign_in

RELATED = {"notifications", "alerts", "students", "courses"}


def mixed_queue() -> None:
    """Deliveries of every status, kind, channel and attempt count, over two courses."""
    shapes = itertools.product(
        ("warning", "mahroom", "tasdiq"), ("email", "webhook"), (0, 1, 3), ("pending", "dead", "sent")
    )
    for n, (kind, channel, attempts, status) in enumerate(shapes):
        pending_delivery(f"S{n:03}", kind, channel, attempts, status, course_code="CS101" if n % 2 else "MA201")


def expected(status, kind, attempts, channel) -> list[tuple[int, str, str]]:
    """``(id, student number, course code)`` of the matching deliveries, newest first, read one by one."""
    rows = []
    for d in db.session.scalars(select(Delivery).order_by(Delivery.id.desc())):
        if status == "waiting" and not (d.status == "pending" and d.attempts > 0):
            continue
        if status == "dead" and d.status != "dead":
            continue
        if (kind and d.kind != kind) or (attempts is not None and d.attempts != attempts):
            continue
        if channel and d.channel != channel:
            continue
        alert = db.session.get(Alert, db.session.get(Notification, d.notification_id).alert_id)
        student, course = db.session.get(Student, alert.student_id), db.session.get(Course, alert.course_id)
        rows.append((d.id, student.student_number, course.code))
    return rows


def test_every_page_of_every_filter_lists_the_matching_deliveries_newest_first(any_app):
    mixed_queue()
    filters = itertools.product(("waiting", "dead"), (None, "mahroom"), (None, 3), (None, "webhook"))
    for status, kind, attempts, channel in filters:
        want = expected(status, kind, attempts, channel)
        shown, page = [], 1
        while True:
            result = list_deliveries(status, page, 4, kind=kind, attempts=attempts, channel=channel)
            assert (result["total"], result["page"], result["perPage"]) == (len(want), page, 4)
            if not result["items"]:
                break
            assert len(result["items"]) <= 4
            shown += [(i["id"], i["studentNumber"], i["courseCode"]) for i in result["items"]]
            page += 1
        assert want and shown == want, (status, kind, attempts, channel)


@pytest.mark.parametrize(
    ("path", "session"),
    [
        ("/retry-queue/", True),
        ("/retry-queue/?page=2&type=warning", True),
        ("/retry-queue/?status=dead", True),
        ("/api/admin/retry-queue", False),
        ("/api/admin/retry-queue?status=dead&channel=webhook&page=2&perPage=5", False),
    ],
)
def test_a_page_of_the_retry_queue_is_read_in_three_statements_whatever_its_length(any_app, path, session):
    for n in range(30):
        pending_delivery(f"S{n:03}", ("warning", "mahroom")[n % 2], ("email", "webhook")[n % 2], 1 + n % 3)
        pending_delivery(f"D{n:03}", "warning", "webhook", 4, "dead")
    client, headers = any_app.test_client(), {}
    if session:
        sign_in(client)
    else:
        headers = bearer()
    assert client.get(path, headers=headers).status_code == 200  # warm: the token's last use is recorded
    with sql_statements() as statements:
        response = client.get(path, headers=headers)
    assert response.status_code == 200
    on_deliveries = [s for s, _ in statements if "FROM deliveries" in s]
    # The summary by kind and attempts, the count of the matching deliveries, the page's rows.
    assert len(on_deliveries) == 3, on_deliveries
    assert len(statements) <= 5, statements


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


@pytest.mark.parametrize(
    "path",
    ["/retry-queue/", "/retry-queue/?page=2", "/api/admin/retry-queue?page=2&perPage=25", "/retry-queue/?status=dead"],
)
def test_the_student_and_course_are_read_for_the_rows_of_the_page_only(pg_app, path):
    for n in range(60):
        pending_delivery(f"S{n:03}", attempts=1 + n % 3)
    for n in range(30):
        pending_delivery(f"D{n:03}", status="dead")
    client, headers = pg_app.test_client(), {}
    if path.startswith("/api/"):
        headers = bearer()
    else:
        sign_in(client)
    assert client.get(path, headers=headers).status_code == 200
    with sql_statements() as statements:
        assert client.get(path, headers=headers).status_code == 200
    reads = [(s, p) for s, p in statements if s.lstrip().startswith("SELECT") and "FROM deliveries" in s]
    assert reads
    with db.engine.connect() as conn:
        # A table of a hundred rows is read whole whatever the query; planned as at a million
        # rows (no whole-table scans or hash joins), the plan shows what the statement asks for.
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
            conn.exec_driver_sql(f"SET LOCAL {setting} = off")
        for statement, parameters in reads:
            explained = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).scalar()
            plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
            for node in plan_nodes(plan):
                if node.get("Relation Name") in RELATED:
                    read = node["Actual Rows"] * node["Actual Loops"]
                    # Joined before paging, the count read those of every matching delivery (60 or 30).
                    assert read <= 25, (node["Relation Name"], read, statement)
        conn.rollback()
