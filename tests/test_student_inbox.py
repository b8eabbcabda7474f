"""The student app's endpoints: ``GET /api/students/<n>/inbox`` (pages of 20, newest first, the
unread count, the unread filter), ``POST .../inbox/<id>/read`` (idempotent, first time kept, only
the student's own messages) and ``GET /api/students/<n>/alerts``; unknown students and bad
arguments are refused naming what is wrong. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import select

from portal.extensions import db
from portal.models import Alert, Course, Delivery, Enrollment, InboxMessage, Notification, Student
from tests import factories

T0 = datetime(2026, 11, 1, 8, 0, 0)
INBOX = "/api/students/{}/inbox"


def letters(number: str, count: int, *, course_code: str = "CS101", start: datetime = T0) -> list[int]:
    """``count`` inbox messages for student ``number`` (created if missing), one a minute from
    ``start``, each with its resolved alert, notification and inbox delivery; return their ids."""
    stu = db.session.execute(select(Student).where(Student.student_number == number)).scalar_one_or_none()
    stu = stu or factories.student(number, email=f"{number.lower()}@uni.example")
    crs = db.session.execute(select(Course).where(Course.code == course_code)).scalar_one_or_none()
    crs = crs or factories.course(course_code, title=f"Course {course_code}")
    if (
        db.session.scalar(select(Enrollment.id).where(Enrollment.student_id == stu.id, Enrollment.course_id == crs.id))
        is None
    ):
        factories.enroll(stu, crs)
    ids = []
    for i in range(count):
        kind = ("warning", "mahroom", "tasdiq")[i % 3]
        at = start + timedelta(minutes=i)
        alert = Alert(
            student_id=stu.id, course_id=crs.id, kind=kind, status="resolved", rate=Decimal("70.5"),
            threshold=Decimal("80"), held_hours=Decimal("10"), absent_hours=Decimal("3"),
            excused_hours=Decimal("0"), opened_at=at, resolved_at=at + timedelta(days=1),
        )  # fmt: skip
        note = Notification(alert=alert, student_id=stu.id, kind=kind, subject=f"{kind} #{i}", body=f"Letter {i}")
        delivery = Delivery(notification=note, kind=kind, channel="inbox", recipient=number, status="sent")
        db.session.add_all([alert, note, delivery])
        db.session.flush()
        message = InboxMessage(
            student_id=stu.id, delivery_id=delivery.id, subject=f"{kind} #{i}", body=f"Letter {i}", created_at=at
        )
        db.session.add(message)
        db.session.flush()
        ids.append(message.id)
    db.session.commit()
    return ids


@pytest.fixture
def reader(any_app):
    """Bearer headers of an inbox-scoped token of an admin service user (the student app's)."""
    from portal.auth import create_token

    token = create_token(factories.user("student-app", "admin"), "student app", "inbox")
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_45_messages_come_in_pages_of_20_20_5_newest_first_with_the_unread_count(any_app, reader):
    client = any_app.test_client()
    ids = letters("S1", 45)
    letters("S2", 3, start=T0 + timedelta(hours=1))  # another student's, newer: never shown to S1
    pages = [client.get(INBOX.format("S1") + f"?page={n}", headers=reader) for n in (1, 2, 3, 4)]
    assert [r.status_code for r in pages] == [200, 200, 200, 200]
    data = [r.json["data"] for r in pages]
    assert [len(d["messages"]) for d in data] == [20, 20, 5, 0]
    assert [(d["page"], d["pages"], d["unread"]) for d in data] == [(1, 3, 45), (2, 3, 45), (3, 3, 45), (4, 3, 45)]
    shown = [m["id"] for d in data for m in d["messages"]]
    assert shown == ids[::-1]  # newest first, every message once, none of S2's
    first = data[0]["messages"][0]
    assert first == {
        "id": ids[-1], "kind": "tasdiq", "courseCode": "CS101", "subject": "tasdiq #44", "body": "Letter 44",
        "language": "en", "createdAt": "2026-11-01T08:44:00Z", "readAt": None,
    }  # fmt: skip
    assert client.get(INBOX.format("S1"), headers=reader).json["data"] == data[0]  # page 1 by default


def test_the_unread_filter_and_count_follow_what_was_marked_read(any_app, reader):
    client = any_app.test_client()
    ids = letters("S1", 45)
    for message_id in ids[-3:] + ids[:2]:  # the three newest and the two oldest
        assert client.post(INBOX.format("S1") + f"/{message_id}/read", headers=reader).status_code == 200
    everything = client.get(INBOX.format("S1"), headers=reader).json["data"]
    assert (everything["unread"], everything["pages"]) == (40, 3)
    assert [m["readAt"] is not None for m in everything["messages"][:4]] == [True, True, True, False]
    unread = [client.get(INBOX.format("S1") + f"?unread=1&page={n}", headers=reader).json["data"] for n in (1, 2, 3)]
    assert [(d["unread"], d["pages"], len(d["messages"])) for d in unread] == [(40, 2, 20), (40, 2, 20), (40, 2, 0)]
    assert [m["id"] for d in unread for m in d["messages"]] == ids[2:-3][::-1]
    assert client.get(INBOX.format("S1") + "?unread=0", headers=reader).json["data"] == everything


def test_marking_read_is_idempotent_and_keeps_the_first_time(any_app, reader):
    client = any_app.test_client()
    (message_id,) = letters("S1", 1)
    url = INBOX.format("S1") + f"/{message_id}/read"
    with time_machine.travel("2026-12-02 07:30:00", tick=False):
        first = client.post(url, headers=reader)
    with time_machine.travel("2026-12-03 09:00:00", tick=False):
        second = client.post(url, headers=reader)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json["data"]["readAt"] == second.json["data"]["readAt"] == "2026-12-02T07:30:00Z"
    assert second.json["data"]["id"] == message_id and second.json["data"]["subject"] == "warning #0"
    db.session.expire_all()
    assert db.session.get(InboxMessage, message_id).read_at == datetime(2026, 12, 2, 7, 30)


def test_another_students_message_or_an_unknown_id_is_404_and_stays_unread(any_app, reader):
    client = any_app.test_client()
    letters("S1", 1)
    (theirs,) = letters("S2", 1)
    for url in (f"/{theirs}/read", "/999999/read", "/abc/read", "/99999999999999999999999/read"):
        response = client.post(INBOX.format("S1") + url, headers=reader)
        assert response.status_code == 404, url
        assert response.json["success"] is False and "'S1' has no inbox message" in response.json["error"]
    db.session.expire_all()
    assert db.session.get(InboxMessage, theirs).read_at is None
    assert client.get(INBOX.format("S2"), headers=reader).json["data"]["unread"] == 1


def test_an_unknown_student_is_404_naming_the_number(any_app, reader):
    client = any_app.test_client()
    letters("S1", 1)
    for method, url in (("GET", "/inbox"), ("POST", "/inbox/1/read"), ("GET", "/alerts")):
        response = client.open(f"/api/students/S404{url}", method=method, headers=reader)
        assert response.status_code == 404, url
        assert response.json == {"success": False, "error": "No student with number 'S404'."}


@pytest.mark.parametrize(
    "query, message",
    [
        ("page=0", "'page' must be between 1 and 1000000, got 0."),
        ("page=abc", "'page' must be a whole number, got 'abc'."),
        ("page=1.5", "'page' must be a whole number, got '1.5'."),
        ("page=100000000000000000000", "'page' must be between 1 and 1000000, got 10000000000000000000."),
        ("unread=2", "'unread' must be 0 or 1; got '2'."),
        ("unread=yes", "'unread' must be 0 or 1; got 'yes'."),
    ],
)
def test_bad_page_or_unread_values_are_400_naming_the_argument(app, query, message):
    from portal.auth import create_token

    letters("S1", 1)
    token = create_token(factories.user("student-app", "admin"), "app", "inbox")
    db.session.commit()
    response = app.test_client().get(INBOX.format("S1") + f"?{query}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 400
    assert response.json == {"success": False, "error": message}


def test_the_students_alerts_newest_first_with_rates_as_text(any_app, reader):
    client = any_app.test_client()
    letters("S1", 2)
    crs = factories.course("MA201", "Calculus")
    stu = db.session.execute(select(Student).where(Student.student_number == "S1")).scalar_one()
    factories.enroll(stu, crs)
    db.session.add(
        Alert(
            student_id=stu.id,
            course_id=crs.id,
            kind="mahroom",
            status="open",
            suppressed=False,
            rate=Decimal("62.5"),
            threshold=Decimal("75"),
            held_hours=Decimal("8"),
            absent_hours=Decimal("3"),
            excused_hours=Decimal("0"),
            opened_at=T0 + timedelta(days=3),
        )  # fmt: skip
    )
    db.session.commit()
    letters("S2", 1)  # not S1's
    response = client.get("/api/students/S1/alerts", headers=reader)
    assert response.status_code == 200
    alerts = response.json["data"]["alerts"]
    assert [(a["courseCode"], a["kind"], a["status"]) for a in alerts] == [
        ("MA201", "mahroom", "open"),
        ("CS101", "mahroom", "resolved"),
        ("CS101", "warning", "resolved"),
    ]
    newest = {k: v for k, v in alerts[0].items() if k != "id"}
    assert newest == {
        "kind": "mahroom", "status": "open", "suppressed": False, "courseCode": "MA201", "courseTitle": "Calculus",
        "rate": "62.50", "threshold": "75.00", "heldHours": "8.00", "absentHours": "3.00", "excusedHours": "0.00",
        "openedAt": "2026-11-04T08:00:00Z", "resolvedAt": None, "resolvedReason": None, "termCode": None,
        "plannedHours": None, "warningAbsentLimit": None, "mahroomAbsentLimit": None,
        "hoursLeftBeforeWarning": None, "hoursLeftBeforeMahroom": None, "warningCertain": None, "mahroomCertain": None,
    }  # fmt: skip
    assert alerts[1]["resolvedAt"] == "2026-11-02T08:01:00Z" and alerts[1]["courseTitle"] == "Course CS101"


def test_postgres_answers_both_inbox_queries_from_the_indexes(pg_app):
    """The page and the unread count use (student_id, id) and the partial unread index."""
    from sqlalchemy import text

    letters("S1", 30)
    db.session.execute(text("ANALYZE inbox_messages"))
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    count_plan = "\n".join(
        db.session.scalars(text("EXPLAIN SELECT count(*) FROM inbox_messages WHERE student_id = 1 AND read_at IS NULL"))
    )
    page_plan = "\n".join(
        db.session.scalars(
            text("EXPLAIN SELECT id FROM inbox_messages WHERE student_id = 1 ORDER BY id DESC LIMIT 20 OFFSET 20")
        )
    )
    db.session.rollback()
    assert "Index Only Scan using ix_inbox_messages_unread" in count_plan, count_plan
    assert "Index Only Scan Backward using ix_inbox_messages_student_id_id" in page_plan, page_plan
