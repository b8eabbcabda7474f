"""The at-risk list (one line per student and course, terms in progress, the unhandled filter)
and the CSV exports of the at-risk and alerts lists, on SQLite and PostgreSQL: exact content,
the pages' filters, formula cells defused, bad filters refused with the parameter's name."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.alerts import cases
from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import Alert, Course, Student, Term, User
from portal.operations.at_risk import at_risk_page
from tests import factories
from tests.test_job_status_reads import PASSWORD

SCANNED_AT = datetime(2026, 12, 6, 10, 0, 0)  # 14:30 in Kabul


def university(names: dict[str, str] | None = None) -> dict[str, Alert]:
    """In CS101: S1 at 75 % (mahroom + suppressed warning), S2 at 76.92 % (warning), S3 at 75 %
    with 4 sick hours (mahroom + suppressed warning + tasdiq); S4 fine. Returns S1's and S3's mahroom."""
    names = names or {}
    crs = factories.course("CS101")
    sessions = {
        "S1": ["absent"] * 4 + ["present"] * 12,
        "S2": ["absent"] * 3 + ["present"] * 10,
        "S3": ["absent"] * 4 + ["sick"] * 2 + ["present"] * 10,
        "S4": ["present"] * 10,
    }
    for number, statuses in sessions.items():
        stu = factories.student(number)
        stu.name = names.get(number, stu.name)
        factories.attend(stu, crs, statuses)
    with time_machine.travel(SCANNED_AT, tick=False):
        run_threshold_check()
    mahroom = db.session.execute(
        select(Student.student_number, Alert)
        .join(Student, Student.id == Alert.student_id)
        .where(Alert.kind == "mahroom")
    ).all()
    return dict(mahroom)


def sign_in(application):
    """A test client signed in as the admin ``boss`` (created on first use)."""
    if db.session.scalar(select(User).where(User.username == "boss")) is None:
        factories.user("boss", "admin", PASSWORD)
    client = application.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "boss", "password": PASSWORD, "csrf_token": token})
    return client


def csv_rows(response) -> list[list[str]]:
    body = response.get_data().decode("utf-8")
    assert body.startswith("\ufeff"), "no byte-order mark: Excel would misread Dari names"
    return list(csv.reader(io.StringIO(body[1:])))


def test_at_risk_lists_each_student_once_per_course_with_tasdiq_as_a_mark(any_app):
    university()
    assert db.session.query(Alert).filter_by(status="open").count() == 6  # S1 2, S2 1, S3 3
    lines = at_risk_page(course="CS101").items
    assert [(line.student_number, line.kind, line.also_warning, line.tasdiq_since is not None) for line in lines] == [
        ("S1", "mahroom", True, False),
        ("S3", "mahroom", True, True),
        ("S2", "warning", False, False),
    ]
    client = sign_in(any_app)
    page = client.get("/at-risk?course=CS101").get_data(as_text=True)
    assert re.findall(r'data-line="([^"]+)"', page) == ["S1:CS101", "S3:CS101", "S2:CS101"]
    assert page.count("data-tasdiq") == 1 and page.count('data-case-state="new"') == 3


def test_at_risk_leaves_out_alerts_of_terms_no_longer_in_progress(any_app):
    university()
    today = date.today()
    db.session.add(
        Term(code="WINTER", name="Winter", starts_on=today - timedelta(days=5), ends_on=today + timedelta(days=60))
    )
    db.session.commit()  # a dated term is in progress now: the open-ended term's alerts are history
    assert at_risk_page(course="CS101").total == 0


def test_the_unhandled_filter_keeps_the_mahroom_cases_nobody_closed(any_app):
    mahroom = university()
    boss = factories.user("case-admin", "admin")
    cases.assign(mahroom["S1"].id, "case-admin", boss)
    assert [line.student_number for line in at_risk_page(unhandled=True).items] == [
        "S1",
        "S3",
    ]  # assigned is not handled
    cases.handle(mahroom["S1"].id, "contacted", boss)
    lines = at_risk_page(unhandled=True).items
    assert [(line.student_number, line.kind) for line in lines] == [("S3", "mahroom")]
    client = sign_in(any_app)
    page = client.get("/at-risk?unhandled=1").get_data(as_text=True)
    assert re.findall(r'data-line="([^"]+)"', page) == ["S3:CS101"]
    assert "handled: contacted" in client.get("/at-risk?course=CS101").get_data(as_text=True)


def test_the_at_risk_csv_has_the_header_and_exact_lines_of_the_page(any_app):
    mahroom = university()
    boss = factories.user("case-admin", "admin")
    cases.handle(mahroom["S1"].id, "certificate", boss)
    response = sign_in(any_app).get("/at-risk.csv?course=CS101")
    assert response.status_code == 200 and response.is_streamed
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="at-risk-CS101-\d{4}-\d\d-\d\d\.csv"', response.headers["Content-Disposition"]
    )
    rows = csv_rows(response)
    assert rows[0] == [
        "student_number",
        "student_name",
        "course",
        "term",
        "alert",
        "alert_id",
        "tasdiq",
        "rate",
        "threshold",
        "held_hours",
        "absent_hours",
        "excused_hours",
        "opened_at_utc",
        "opened_at_local (Asia/Kabul)",
        "case",
    ]
    when = ["2026-12-06T10:00:00Z", "2026-12-06 14:30:00"]
    assert rows[1:] == [
        [
            "S1",
            "Student S1",
            "CS101",
            "",
            "mahroom",
            str(mahroom["S1"].id),
            "",
            "75.00",
            "75.00",
            "32.00",
            "8.00",
            "0.00",
            *when,
            "handled: certificate",
        ],
        [
            "S3",
            "Student S3",
            "CS101",
            "",
            "mahroom",
            str(mahroom["S3"].id),
            "certificate due",
            "75.00",
            "75.00",
            "32.00",
            "8.00",
            "4.00",
            *when,
            "new",
        ],
        [
            "S2",
            "Student S2",
            "CS101",
            "",
            "warning",
            rows[3][5],
            "",
            "76.92",
            "80.00",
            "26.00",
            "6.00",
            "0.00",
            *when,
            "new",
        ],
    ]
    unhandled = csv_rows(sign_in(any_app).get("/at-risk.csv?unhandled=1"))
    assert [row[0] for row in unhandled[1:]] == ["S3"]


def test_the_alerts_csv_applies_the_filters_and_writes_local_times(any_app):
    mahroom = university()
    client = sign_in(any_app)
    rows = csv_rows(client.get("/alerts.csv?kind=mahroom&status=open"))
    assert rows[0][:8] == [
        "alert_id",
        "student_number",
        "student_name",
        "course",
        "term",
        "kind",
        "status",
        "suppressed",
    ]
    assert rows[0][13:] == [
        "opened_at_utc",
        "opened_at_local (Asia/Kabul)",
        "resolved_at_utc",
        "resolved_at_local (Asia/Kabul)",
        "case",
    ]
    assert sorted(row[1] for row in rows[1:]) == ["S1", "S3"] and {row[5] for row in rows[1:]} == {"mahroom"}
    s1 = next(row for row in rows[1:] if row[1] == "S1")
    assert s1 == [
        str(mahroom["S1"].id),
        "S1",
        "Student S1",
        "CS101",
        "",
        "mahroom",
        "open",
        "no",
        "75.00",
        "75.00",
        "32.00",
        "8.00",
        "0.00",
        "2026-12-06T10:00:00Z",
        "2026-12-06 14:30:00",
        "",
        "",
        "new",
    ]
    suppressed = csv_rows(client.get("/alerts.csv?kind=warning&student=S1"))
    assert [(row[1], row[7]) for row in suppressed[1:]] == [("S1", "yes")]
    assert len(csv_rows(client.get("/alerts.csv?status=resolved"))) == 1  # the header alone
    assert len(csv_rows(client.get("/alerts.csv"))) == 1 + 6
    response = client.get("/alerts.csv?course=CS101&kind=tasdiq")
    assert response.headers["Content-Disposition"].startswith('attachment; filename="alerts-tasdiq-CS101-')


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("/at-risk.csv?unhandled=yes", "'unhandled' must be 0 or 1"),
        ("/at-risk.csv?course=NOPE", "'course': no course has the code 'NOPE'"),
        ("/at-risk?unhandled=2", "'unhandled' must be 0 or 1"),
        ("/alerts.csv?kind=sick", "'kind' must be one of warning, mahroom, tasdiq"),
        ("/alerts.csv?status=closed", "'status' must be one of open, resolved"),
        ("/alerts?kind=sick", "'kind' must be one of"),
    ],
)
def test_bad_filters_are_refused_naming_the_parameter(app, url, named):
    factories.course("CS101")
    db.session.commit()
    response = sign_in(app).get(url)
    assert response.status_code == 400
    assert named in response.get_data(as_text=True).replace("&#39;", "'")


def test_cells_a_spreadsheet_would_run_as_formulas_are_quoted(any_app):
    university({"S1": '=HYPERLINK("http://evil.example","x")', "S2": "@SUM(A1)", "S3": "+93 700 000"})
    client = sign_in(any_app)
    names = {row[0]: row[1] for row in csv_rows(client.get("/at-risk.csv?course=CS101"))[1:]}
    assert names == {"S1": '\'=HYPERLINK("http://evil.example","x")', "S2": "'@SUM(A1)", "S3": "'+93 700 000"}
    alert_names = {row[1]: row[2] for row in csv_rows(client.get("/alerts.csv?kind=mahroom"))[1:]}
    assert alert_names["S1"].startswith("'=")


def test_the_alerts_page_lists_filters_pages_and_links_the_export_with_its_filters(any_app):
    university({"S2": "احمد"})
    client = sign_in(any_app)
    page = client.get("/alerts?kind=warning&perPage=2").get_data(as_text=True)
    assert len(re.findall(r'<tr data-alert="', page)) == 2 and "Page 1 of 2 (3)" in page
    assert 'href="/alerts.csv?kind=warning&amp;perPage=2"' in page
    assert "/students/S3" in page and "/students/S1" not in page  # newest first: S1 is on page 2
    names = [row[2] for row in csv_rows(client.get("/alerts.csv?student=S2"))[1:]]
    assert names == ["احمد"]
    assert db.session.scalar(select(Course.code)) == "CS101"
