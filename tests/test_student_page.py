"""The office's page for one student (``/students/<number>``) and the header's search, on a real
database (SQLite and PostgreSQL): courses by term with hours, both rates and the forecast, every
alert, every letter with its deliveries, the records paged, and reads bounded in statements."""

from __future__ import annotations

import re
from datetime import date, datetime
from html import unescape

import time_machine
from sqlalchemy import select, update

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import OPEN_TERM_ID, Alert, Delivery, Enrollment, Notification, Term
from tests import factories
from tests.sqltrace import sql_statements
from tests.test_job_status_reads import PASSWORD, sign_in
from tests.test_terms import AUTUMN_DAY, _offerings, _terms


def text_of(html: str) -> str:
    """The page's text: tags dropped, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def row(html: str, attribute: str, value: str) -> str:
    """The text of the ``<tr>`` (or ``<article>``) marked ``attribute="value"``."""
    found = re.search(rf'<(tr|article)[^>]*{attribute}="{re.escape(value)}".*?</\1>', html, re.S)
    assert found, f"no {attribute}={value}"
    return text_of(found.group(0))


def two_terms_student():
    """S1 in CS101 this (autumn) term with planned hours and a warning, MA101 last (spring) term."""
    _terms()
    cs, ma = factories.course("CS101"), factories.course("MA101", "Calculus")
    student = factories.student("S1")
    student.name = "Zahra Ahmadi"
    db.session.commit()
    # MA101's planned hours are this term's: its spring enrollment has no forecast.
    _offerings("term_code,course_code,planned_hours\n1405-AUT,CS101,64\n1405-AUT,MA101,32\n")
    # Spring: 8 hours held, 2 absent: 75.00 % both rates.
    factories.attend(student, ma, ["present"] * 3 + ["absent"], start=date(2026, 3, 7))
    with time_machine.travel(AUTUMN_DAY, tick=False):
        # Autumn: 9 held, 2 absent, 1 sick: 7/9 = 77.77 % and 6/9 = 66.66 % (rounded down).
        factories.attend(student, cs, ["absent"] * 2 + ["sick"] + ["present"] * 6, hours="1", start=date(2026, 8, 1))
        run_threshold_check()
    # An enrollment left in the open-ended term, nothing held: history, listed last, no rate.
    db.session.add(Enrollment(student_id=student.id, course_id=factories.course("PH101").id, term_id=OPEN_TERM_ID))
    spring = db.session.scalar(select(Term.id).where(Term.code == "1405-SPR"))
    db.session.add(
        Alert(
            student_id=student.id,
            course_id=ma.id,
            term_id=spring,
            kind="warning",
            status="resolved",
            suppressed=True,
            rate="75.00",
            threshold="80",
            held_hours="8",
            absent_hours="2",
            excused_hours="0",
            opened_at=datetime(2026, 4, 1, 3, 30),
            resolved_at=datetime(2026, 7, 1, 4, 0),
            resolved_reason="inactive",
        )
    )
    notification = db.session.scalar(
        select(Notification).where(Notification.student_id == student.id, Notification.kind == "warning")
    )
    db.session.execute(
        update(Delivery)
        .where(Delivery.notification_id == notification.id, Delivery.channel == "email")
        .values(
            recipient="s1@uni.example",
            status="dead",
            attempts=4,
            last_error="attempt 4 (permanent): SMTP 550 mailbox unavailable",
        )
    )
    db.session.commit()
    return student, notification


def test_the_page_shows_courses_by_term_with_hours_both_rates_and_the_forecast(any_app):
    two_terms_student()
    client = any_app.test_client()
    with time_machine.travel(AUTUMN_DAY, tick=False):
        sign_in(client)
        response = client.get("/students/S1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "S1 · Zahra Ahmadi" in text_of(html)
    # The term in progress first, then the older one.
    assert re.findall(r'data-term="([^"]+)"', html) == ["1405-AUT", "1405-SPR", "open"]
    assert row(html, "data-course", "PH101") == " PH101 Programming 0.00 / 0.00 / 0.00 — — no planned hours "
    cs = row(html, "data-course", "CS101")
    assert "9.00 / 2.00 / 1.00" in cs and "77.77 %" in cs and "66.66 %" in cs
    assert "of 64 planned: warning past 12.8 absent (10.8 h left)" in cs
    assert "mahroom at 16 absent (14 h left)" in cs
    ma = row(html, "data-course", "MA101")
    assert "8.00 / 2.00 / 0.00" in ma and ma.count("75.00 %") == 2 and "no planned hours" in ma


def test_every_alert_and_every_letter_with_its_deliveries_and_local_times(any_app):
    student, notification = two_terms_student()
    client = any_app.test_client()
    sign_in(client)
    html = client.get("/students/S1").get_data(as_text=True)
    alerts = {a.kind + ("-old" if a.suppressed else ""): a for a in db.session.scalars(select(Alert))}
    open_warning = row(html, "data-alert", str(alerts["warning"].id))
    assert "warning" in open_warning and " open " in open_warning and "CS101 · 1405-AUT" in open_warning
    assert "77.77 % (80" in open_warning
    old = row(html, "data-alert", str(alerts["warning-old"].id))
    assert "(suppressed: no notification)" in old and "resolved" in old and "MA101 · 1405-SPR" in old
    # Kabul is UTC+4:30; the UTC time is in the element's title.
    assert "2026-04-01 08:00" in old and "2026-07-01 08:30 · inactive" in old
    assert '<time datetime="2026-04-01T03:30:00Z" title="2026-04-01 03:30:00 UTC">' in html
    assert "Times are Kabul time (UTC+04:30). Hover over a time for UTC." in html
    letter = row(html, "data-notification", str(notification.id))
    assert notification.subject in letter and "language en" in letter
    article = re.search(rf'<article[^>]*data-notification="{notification.id}".*?</article>', html, re.S).group(0)
    body = re.search(r'<pre class="letter-body">(.*?)</pre>', article, re.S).group(1)
    assert unescape(body) == notification.body
    assert "is 77.77%, below the required 80.00%. Of 9 hours held so far you were absent for 2 hours." in body
    assert "if you are absent for 14 more hours, you will be barred" in body
    deliveries = db.session.scalars(select(Delivery).where(Delivery.notification_id == notification.id)).all()
    assert {d.channel for d in deliveries} >= {"email", "inbox"}
    email = next(d for d in deliveries if d.channel == "email")
    shown = row(html, "data-delivery", str(email.id))
    assert shown == " email s1@uni.example 4 dead attempt 4 (permanent): SMTP 550 mailbox unavailable "
    inbox = next(d for d in deliveries if d.channel == "inbox")
    assert row(html, "data-delivery", str(inbox.id)).startswith(f" inbox student:S1 {inbox.attempts} {inbox.status} ")
    webhook = next(d for d in deliveries if d.channel == "webhook")  # not configured: no recipient, skipped
    assert row(html, "data-delivery", str(webhook.id)) == (
        " webhook — 0 skipped webhook channel not configured (WEBHOOK_URL is empty) "
    )


def test_records_are_paged_newest_first_fifty_to_a_page(any_app):
    student = factories.student("S7")
    cs = factories.course("CS101")
    db.session.commit()
    for slot in range(1, 7):  # 6 slots x 20 weeks = 120 records
        factories.attend(student, cs, ["present"] * 19 + ["absent"], start=date(2026, 1, 3), slot=slot)
    client = any_app.test_client()
    sign_in(client)
    pages = [client.get(f"/students/S7?page={n}").get_data(as_text=True) for n in (1, 2, 3)]
    dates = [re.findall(r'data-label="Date">([^<]+)</td><td data-label="Slot">(\d)', page) for page in pages]
    assert [len(d) for d in dates] == [50, 50, 20]
    shown = [d for page in dates for d in page]
    assert shown[0] == ("2026-05-16", "6") and shown[5] == ("2026-05-16", "1") and shown[-1] == ("2026-01-03", "1")
    assert shown == sorted(shown, reverse=True) and len(set(shown)) == 120
    assert "Page 2 of 3 (120)" in text_of(pages[1])
    assert 'href="/students/S7?page=3" rel="next"' in pages[1]
    tenth = client.get("/students/S7?perPage=10&page=12").get_data(as_text=True)
    assert re.findall(r'data-label="Date">([^<]+)</td><td data-label="Slot">(\d)', tenth) == shown[110:]
    assert client.get("/students/S7?page=x").status_code == 400


def test_an_unknown_student_number_is_a_404_page_saying_so(app):
    client = app.test_client()
    sign_in(client)
    response = client.get("/students/S404")
    assert response.status_code == 404
    assert "No student has the student number 'S404'." in text_of(response.get_data(as_text=True))


def test_search_opens_an_exact_number_and_finds_names_in_any_case_paged(any_app):
    for n in range(30):
        factories.student(f"S{n:02}").name = f"{'Ahmad' if n % 3 == 0 else 'Karim'} Student{n:02}"
    factories.student("100%").name = "Percent_Sign"
    db.session.commit()
    client = any_app.test_client()
    sign_in(client)
    opened = client.get("/students/?q=+S07+")
    assert opened.status_code == 302 and opened.headers["Location"] == "/students/S07"
    page = client.get("/students/?q=aHMaD").get_data(as_text=True)
    found = re.findall(r'href="/students/(S\d\d)"', page)
    assert found == [f"S{n:02}" for n in range(0, 30, 3)]
    assert "10 in all." in text_of(page)
    second = client.get("/students/?q=karim&perPage=15&page=2").get_data(as_text=True)
    assert len(re.findall(r'class="student-link"', second)) == 5 and "Page 2 of 2 (20)" in text_of(second)
    # LIKE wildcards are plain characters.
    assert re.findall(r'href="/students/([^"]+)"', client.get("/students/?q=t_s").get_data(as_text=True)) == ["100%25"]
    assert re.findall(r'href="/students/([^"]+)"', client.get("/students/?q=t_d").get_data(as_text=True)) == []
    assert "No student has the number “zz” or a name containing it." in text_of(
        client.get("/students/?q=zz").get_data(as_text=True)
    )


def test_an_empty_or_one_letter_search_says_what_to_type(app):
    client = app.test_client()
    sign_in(client)
    for query, message in (
        ("", "Type a student number or at least 2 letters of a name to search."),
        ("+", "Type a student number or at least 2 letters of a name to search."),
        ("a", "'a' is not a student number, and a name search needs at least 2 characters."),
    ):
        response = client.get(f"/students/?q={query}")
        assert response.status_code == 400 and message in text_of(response.get_data(as_text=True))


def test_student_numbers_on_the_other_pages_link_to_the_students_page(app):
    from tests.test_admin_api import pending_delivery

    pending_delivery("S5", attempts=1)
    client = app.test_client()
    sign_in(client)
    link = '<a class="student-link" href="/students/S5">S5</a>'
    assert link in client.get("/retry-queue/").get_data(as_text=True)
    assert link in client.get("/notifications").get_data(as_text=True)
    assert link in client.get("/at-risk?course=CS101").get_data(as_text=True)
    assert 'action="/students/"' in client.get("/").get_data(as_text=True)


def test_the_page_is_read_in_a_fixed_number_of_statements_whatever_the_history(any_app):
    student, _ = two_terms_student()
    client = any_app.test_client()
    sign_in(client)
    assert client.get("/students/S1").status_code == 200
    with sql_statements() as small:
        assert client.get("/students/S1").status_code == 200
    courses = [factories.course(f"C{n}") for n in range(6)]
    db.session.commit()
    with time_machine.travel(AUTUMN_DAY, tick=False):
        for crs in courses:
            factories.attend(student, crs, ["absent"] * 3 + ["present"] * 9, start=date(2026, 7, 20))
        run_threshold_check()
    assert db.session.query(Notification).filter_by(student_id=student.id).count() >= 7
    with sql_statements() as large:
        assert client.get("/students/S1").status_code == 200
    # The signed-in user, then the student, the terms, the enrollments, the alerts, their cases
    # (with their notes), the notifications, their deliveries, the records' count and their page.
    assert len(large) == len(small) == 10, [s for s, _ in large]
    tables = [re.search(r"FROM (\w+)", s).group(1) for s, _ in large]
    assert tables[1:] == [
        "students",
        "terms",
        "enrollments",
        "alerts",
        "alert_cases",
        "notifications",
        "deliveries",
        "attendance_records",
        "attendance_records",
    ]


def test_an_admin_reads_one_more_statement_the_users_a_case_may_be_assigned_to(any_app):
    two_terms_student()
    factories.user("admin", "admin", PASSWORD)
    client = any_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token})
    assert client.get("/students/S1").status_code == 200
    with sql_statements() as statements:
        page = client.get("/students/S1").get_data(as_text=True)
    tables = [re.search(r"FROM (\w+)", s).group(1) for s, _ in statements]
    assert len(statements) == 11 and tables[6] == "users", tables
    assert '<option value="admin"' in page and "Acknowledge" in page
