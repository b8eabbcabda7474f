"""Letters as received: real messages off a real SMTP server (aiosmtpd) parsed with the standard
``email`` package, for Dari, Pashto and English students and their guardians; the inbox and
the webhook carry the same letter in the same language; an edited template is what the next
notification says."""

from __future__ import annotations

import json
import re
from email import message_from_string
from email.policy import default as email_policy

import pytest
from sqlalchemy import func, select

from portal.alerts.scan import run_threshold_check, start_full_scan
from portal.auth import create_token
from portal.extensions import db
from portal.models import AuditLog, Delivery, InboxMessage, JobRun, LetterTemplate, Notification
from tests import factories
from tests.test_deliveries import smtp_server  # noqa: F401 - the SMTP server fixture
from tests.test_pages import signed_in  # noqa: F401 - the signed-in page client fixture


@pytest.fixture
def mail(app, smtp_server, httpserver):  # noqa: F811 - the fixture imported above
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    app.config.update(SMTP_URL=smtp_server.url, WEBHOOK_URL=httpserver.url_for("/hook"))
    return smtp_server


def received(mailbox) -> dict[str, tuple]:
    """Every message received, by recipient: (subject, text part, HTML part, parsed message)."""
    out = {}
    for (to,), raw in mailbox.messages:
        message = message_from_string(raw, policy=email_policy)
        assert message.get_content_type() == "multipart/alternative"
        text, page = message.get_payload()
        assert (text.get_content_type(), page.get_content_type()) == ("text/plain", "text/html")
        out[to] = (str(message["Subject"]), text.get_content(), page.get_content(), message)
    return out


def warned(number: str, language: str | None, guardian: str | None = None, course: str = "CS101"):
    """A student at 77.77 % in a course (absent 2 of nine 2-hour sessions; rates are cut, not rounded)."""
    crs = factories.course(course, "Programming")
    stu = factories.student(number, email=f"{number.lower()}@uni.example", guardian=guardian, language=language)
    factories.attend(stu, crs, ["absent", "absent"] + ["present"] * 7)
    return stu


def barred(number: str, language: str, guardian: str):
    """A student at 50 % (mahroom) with a guardian."""
    crs = factories.course("MATH110", "Calculus")
    stu = factories.student(number, email=f"{number.lower()}@uni.example", guardian=guardian, language=language)
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])
    return stu


EXPECTED = {
    "fa": (
        "هشدار حاضری: CS101 Programming",
        "Student S1 عزیز (S1)،",
        "میزان حاضری شما در مضمون CS101 Programming ۷۷٫۷۷٪ است که از حد لازم ۸۰٫۰۰٪ کمتر می‌باشد",
    ),
    "ps": (
        "د حاضرۍ خبرتیا: CS101 Programming",
        "ګرانه Student S1 (S1)،",
        "په CS101 Programming مضمون کې ستاسو د حاضرۍ کچه ۷۷٫۷۷٪ ده، چې له اړینې کچې ۸۰٫۰۰٪ څخه ټیټه ده",
    ),
    "en": (
        "Attendance warning: CS101 Programming",
        "Dear Student S1 (S1),",
        "Your attendance rate in CS101 Programming is 77.77%, below the required 80.00%.",
    ),
}


@pytest.mark.parametrize("language", ["fa", "ps", "en"])
def test_a_students_email_subject_and_both_parts_are_in_their_language(app, mail, run_jobs, language):
    warned("S1", language)
    run_threshold_check()
    run_jobs()
    subject, text, page, message = received(mail)["s1@uni.example"]
    want_subject, greeting, sentence = EXPECTED[language]
    assert subject == want_subject
    assert text.startswith(greeting + "\n\n") and sentence in text
    assert message["Content-Language"] == language
    html_tag = re.search(r"<html[^>]*>", page).group(0)
    assert f'lang="{language}"' in html_tag
    assert ('dir="rtl"' in html_tag) is (language != "en")
    assert f"<p>{greeting}</p>" in page and sentence in page
    if language != "en":  # the subject travels as RFC 2047 encoded words, the digits are ۰-۹
        assert re.search(r"^Subject: =\?utf-8\?", mail.messages[0][1], re.M | re.I)
        assert "Dear" not in text and "77.77" not in text


def test_a_student_without_a_language_gets_default_language(app, mail, run_jobs):
    warned("S1", None)
    app.config["DEFAULT_LANGUAGE"] = "ps"
    run_threshold_check()
    run_jobs()
    assert received(mail)["s1@uni.example"][0] == EXPECTED["ps"][0]
    assert db.session.scalars(select(Notification.language)).one() == "ps"


@pytest.mark.parametrize(
    "language, student_subject, guardian_subject, guardian_greeting",
    [
        ("fa", "محرومیت از امتحان نهایی: MATH110 Calculus", "محرومیت فرزند شما از امتحان نهایی: MATH110 Calculus",
         "ولی محترم Student S2 (S2)،"),
        ("en", "Barred from the final exam: MATH110 Calculus",
         "Your child is barred from a final exam: MATH110 Calculus", "Dear parent or guardian of Student S2 (S2),"),
    ],
)  # fmt: skip
def test_the_guardian_gets_a_letter_addressed_to_the_guardian_in_the_students_language(
    app, mail, run_jobs, language, student_subject, guardian_subject, guardian_greeting
):
    barred("S2", language, guardian="family@home.example")
    run_threshold_check()
    run_jobs()
    letters = received(mail)
    assert sorted(letters) == ["family@home.example", "s2@uni.example"]
    assert letters["s2@uni.example"][0] == student_subject
    subject, text, page, _ = letters["family@home.example"]
    assert subject == guardian_subject
    assert text.startswith(guardian_greeting + "\n\n")
    assert f'lang="{language}"' in page
    # The student's own letter does not go to the guardian, nor the guardian's to the student.
    assert not letters["s2@uni.example"][1].startswith(guardian_greeting)
    audiences = db.session.execute(select(Delivery.recipient, Delivery.audience).where(Delivery.channel == "email"))
    assert sorted(audiences) == [("family@home.example", "guardian"), ("s2@uni.example", None)]


def test_guardian_kinds_decides_which_alerts_reach_guardians(app, mail, run_jobs):
    warned("S1", "en", guardian="family1@home.example")
    run_threshold_check()
    run_jobs()
    assert sorted(received(mail)) == ["s1@uni.example"]  # GUARDIAN_KINDS is mahroom by default
    app.config["GUARDIAN_KINDS"] = ("warning", "mahroom")
    warned("S3", "en", guardian="family3@home.example", course="CS102")
    run_threshold_check()
    run_jobs()
    letters = received(mail)
    assert sorted(letters) == ["family3@home.example", "s1@uni.example", "s3@uni.example"]
    assert letters["family3@home.example"][0] == "Attendance warning for your child: CS102 Programming"


def test_inbox_and_webhook_carry_the_students_letter_in_their_language(app, mail, run_jobs, httpserver):
    warned("S1", "fa")
    run_threshold_check()
    run_jobs()
    message = db.session.scalars(select(InboxMessage)).one()
    assert (message.subject, message.body.splitlines()[0]) == (EXPECTED["fa"][0], EXPECTED["fa"][1])
    document = json.loads(httpserver.log[0][0].data)
    assert (document["language"], document["recipient"]) == ("fa", "student")
    assert document["subject"] == EXPECTED["fa"][0] and EXPECTED["fa"][2] in document["body"]
    token = create_token(factories.user("student-app", "viewer"), "student app", scope="inbox")
    db.session.commit()
    answer = app.test_client().get("/api/students/S1/inbox", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [(m["language"], m["subject"]) for m in answer["data"]["messages"]] == [("fa", EXPECTED["fa"][0])]


def _edit_url(kind="warning", language="fa", recipient="student"):
    return f"/letters/{kind}/{language}/{recipient}"


def test_a_template_saved_in_the_portal_is_what_the_next_notification_says(
    app,
    client,
    signed_in,  # noqa: F811 - the fixture imported above
    mail,
    run_jobs,
):
    post = signed_in("admin")
    page = post(
        _edit_url(), subject="اخطار: {course_code}", body="{student_name} گرامی، حاضری شما {rate}% است.\r\nدفتر"
    )
    assert page.status_code == 200 and "Saved as version 1" in page.get_data(as_text=True)
    warned("S1", "fa")
    run_threshold_check()
    run_jobs()
    subject, text, _, _ = received(mail)["s1@uni.example"]
    assert subject == "اخطار: CS101"
    assert text == "Student S1 گرامی، حاضری شما ۷۷٫۷۷٪ است.\nدفتر\n"
    notification = db.session.scalars(select(Notification)).one()
    assert (notification.language, notification.template_version) == ("fa", 1)
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "letter.save")).one()
    assert (entry.actor, entry.target, entry.details) == ("admin", "letter:warning/fa/student", {"version": 1})


@pytest.mark.parametrize(
    "subject, body, named",
    [
        ("Warning {course}", "Dear {student_name}", "unknown placeholder {course}"),
        ("Warning {course_code}", "Your rate is {rate%", "broken brace"),
        ("Warning", "   ", "the body is empty"),
    ],
)
def test_a_refused_template_edit_names_the_problem_and_changes_nothing(
    app,
    client,
    signed_in,  # noqa: F811 - the fixture imported above
    mail,
    run_jobs,
    subject,
    body,
    named,
):
    post = signed_in("admin")
    response = post(_edit_url(language="en"), subject=subject, body=body)
    assert response.status_code == 400 and named in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(LetterTemplate)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("letter.%"))) == 0
    warned("S1", "en")
    run_threshold_check()
    run_jobs()
    assert received(mail)["s1@uni.example"][0] == EXPECTED["en"][0]  # still the shipped text
    assert db.session.scalars(select(Notification.template_version)).one() == 0


def test_the_hourly_scans_fan_out_writes_each_student_in_their_language(app, mail, run_jobs):
    """The full scan's path: batch jobs commit alerts, fan-out jobs load them again and write."""
    warned("S1", "ps")
    warned("S2", None, course="CS102")  # no language: DEFAULT_LANGUAGE
    app.config["DEFAULT_LANGUAGE"] = "fa"
    run = JobRun(job_name="notification-threshold-monitor", trigger="schedule", status="running")
    db.session.add(run)
    db.session.commit()
    start_full_scan(run.id)
    run_jobs()
    letters = received(mail)
    assert letters["s1@uni.example"][0] == EXPECTED["ps"][0]
    assert letters["s2@uni.example"][0] == "هشدار حاضری: CS102 Programming"
    languages = db.session.execute(select(Notification.student_id, Notification.language).order_by(Notification.id))
    assert [language for _, language in languages] == ["ps", "fa"]
