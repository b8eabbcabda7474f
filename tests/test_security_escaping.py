"""Hostile text from imports and sign-in attempts is stored as data and shown escaped on every page.

A student named ``<script>alert(1)</script>`` and another named ``'; DROP TABLE students; --``
go through the real CSV import, cross a threshold, and are shown on the notifications,
at-risk and audit pages; on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, inspect, select

from portal.alerts import scan
from portal.alerts.course_stats import refresh_course_stats
from portal.attendance import importing
from portal.clock import utcnow
from portal.extensions import db
from portal.models import JobRun, Notification, Student
from tests import factories
from tests.test_auth import PASSWORD, csrf_from

SCRIPT = "<script>alert(1)</script>"
SQL = "'; DROP TABLE students; --"
IMG = "<img src=x onerror=alert(1)>"
ESCAPED = {
    SCRIPT: "&lt;script&gt;alert(1)&lt;/script&gt;",
    SQL: "&#39;; DROP TABLE students; --",
    IMG: "&lt;img src=x onerror=alert(1)&gt;",
}
ATTENDANCE = "student_number,course_code,date,slot,hours,status\n" + "".join(
    f"{s},CS101,2026-10-{d:02d},1,2,{'absent' if d < 8 else 'present'}\n" for s in ("S1", "S2") for d in range(1, 11)
)


def _import(kind: str, text: str) -> None:
    result = importing.import_csv(kind, io.BytesIO(text.encode("utf-8")))
    assert result.committed, result.errors


@pytest.fixture
def hostile(any_app):
    """Two hostile students in a course with a hostile title, both past the mahroom limit."""
    _import("students", f'student_number,name\nS1,"{SCRIPT}"\nS2,"{SQL}"\n')
    _import("courses", f'code,title\nCS101,"{IMG}"\n')
    _import("attendance", ATTENDANCE)
    summary = scan.run_threshold_check()
    assert summary["alertsOpened"]["mahroom"] == 2, summary
    refresh_course_stats()
    db.session.commit()
    return any_app


@pytest.fixture
def viewer(hostile):
    client = hostile.test_client()
    factories.user("viewer", "viewer", PASSWORD)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    assert (
        client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token}).status_code == 302
    )
    return client


def assert_shown_escaped(page: str, *texts: str) -> None:
    for text in texts:
        assert text not in page, f"{text!r} reached the page unescaped"
        assert ESCAPED[text] in page, f"{text!r} is not on the page (escaped)"
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "an inline <script> element is on the page"


def test_hostile_names_are_stored_verbatim_and_the_tables_survive(hostile):
    names = dict(db.session.execute(select(Student.student_number, Student.name)).all())
    assert names == {"S1": SCRIPT, "S2": SQL}
    assert {"students", "courses", "attendance_records"} <= set(inspect(db.engine).get_table_names())
    bodies = db.session.scalars(select(Notification.body)).all()
    assert any(SCRIPT in body for body in bodies) and any(SQL in body for body in bodies)


def test_notifications_page_shows_names_and_subjects_escaped(viewer):
    page = viewer.get("/notifications").get_data(as_text=True)
    assert page.count("data-notification=") >= 2
    assert_shown_escaped(page, SCRIPT, SQL, IMG)


def test_notifications_search_with_sql_finds_nothing_and_breaks_nothing(viewer):
    response = viewer.get("/notifications", query_string={"q": SQL})
    assert response.status_code == 200 and "No notifications match." in response.get_data(as_text=True)
    assert (
        viewer.get("/notifications", query_string={"q": "S%"}).get_data(as_text=True).count("data-notification=") == 0
    )
    assert db.session.scalar(select(func.count()).select_from(Student)) == 2


def test_at_risk_pages_show_course_titles_and_student_names_escaped(viewer):
    assert_shown_escaped(viewer.get("/at-risk").get_data(as_text=True), IMG)
    assert_shown_escaped(viewer.get("/at-risk?course=CS101").get_data(as_text=True), SCRIPT, SQL)


def test_audit_page_shows_a_hostile_sign_in_attempt_escaped(viewer):
    anonymous = viewer.application.test_client()
    token = csrf_from(anonymous.get("/login").get_data(as_text=True))
    for username in (SCRIPT, SQL):
        response = anonymous.post(
            "/login", data={"username": username, "password": "wrong password", "csrf_token": token}
        )
        assert response.status_code == 401
    assert_shown_escaped(viewer.get("/audit").get_data(as_text=True), SCRIPT, SQL)
    assert_shown_escaped(viewer.get("/audit", query_string={"actor": SCRIPT}).get_data(as_text=True), SCRIPT)


def test_job_errors_and_unknown_job_names_are_shown_escaped(viewer):
    db.session.add(
        JobRun(
            job_name="cache-refresh", trigger="manual", status="error", queued_at=utcnow(), error=SCRIPT, traceback=IMG
        )
    )
    db.session.commit()
    assert_shown_escaped(viewer.get("/jobs/cache-refresh").get_data(as_text=True), SCRIPT, IMG)
    response = viewer.get("/jobs/%3Cimg%20src=x%20onerror=alert(1)%3E")
    assert response.status_code == 404
    assert_shown_escaped(response.get_data(as_text=True), IMG)


def test_the_api_answers_hostile_names_as_json_never_as_html(viewer):
    response = viewer.get("/api/admin/alerts")
    assert response.mimetype == "application/json" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert {item["studentName"] for item in response.json["data"]["items"]} == {SCRIPT, SQL}


def test_a_username_with_html_is_escaped_in_the_flash_and_the_header(any_app):
    client = any_app.test_client()
    factories.user(SCRIPT, "admin", PASSWORD)
    token = csrf_from(client.get("/login").get_data(as_text=True))
    client.post("/login", data={"username": SCRIPT, "password": PASSWORD, "csrf_token": token})
    page = client.get("/").get_data(as_text=True)
    assert "Signed in as" in page
    assert_shown_escaped(page, SCRIPT)
