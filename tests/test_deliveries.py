"""Deliveries against a real SMTP server (aiosmtpd) and a real HTTP server (pytest-httpserver),
with retries at +15/+30/+60 minutes on a controlled clock (time-machine), then dead."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta
from email import message_from_string
from email.policy import default as email_policy

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import AuditLog, Delivery, InboxMessage, Notification
from portal.notifications.retry_queue import (
    clear_retry_queue,
    requeue_due_deliveries,
    retry_delivery,
    retry_queue_status,
)
from portal.queues import get_queue
from tests import factories

T0 = datetime(2026, 10, 5, 8, 0, 0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: answers DATA with ``reply`` and keeps what it accepted."""

    def __init__(self):
        self.reply = "250 Message accepted"
        self.messages: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.reply.startswith("250"):
            self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return self.reply


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()

    def authenticate(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"office", b"s3cret"))

    controller = Controller(
        mailbox, hostname="127.0.0.1", port=_free_port(), authenticator=authenticate, auth_require_tls=False
    )
    controller.start()
    mailbox.url = f"smtp://office:s3cret@127.0.0.1:{controller.port}"
    yield mailbox
    controller.stop()


def mahroom_student(email="ali@uni.example", guardian="family@home.example"):
    crs = factories.course("CS101", "Programming")
    stu = factories.student("S1", email=email, guardian=guardian)
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %
    return stu


def letter_parts(raw: str) -> tuple[str, str]:
    """The text and HTML parts of a letter as received, decoded by the standard ``email`` package."""
    message = message_from_string(raw, policy=email_policy)
    text, page = message.get_payload()
    return text.get_content(), page.get_content()


def deliveries(channel: str) -> list[Delivery]:
    db.session.expire_all()
    return db.session.execute(select(Delivery).where(Delivery.channel == channel).order_by(Delivery.id)).scalars().all()


def scheduled_at(delivery_id: int, attempt: int) -> datetime | None:
    registry = get_queue("notifications").scheduled_job_registry
    for job_id in registry.get_job_ids():
        if job_id == f"delivery-retry-{delivery_id}-{attempt}":
            return registry.get_scheduled_time(job_id).replace(tzinfo=None)
    return None


def test_email_goes_once_to_student_and_guardian_through_authenticated_smtp(app, run_jobs, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    mahroom_student()
    run_threshold_check()
    run_jobs()
    run_threshold_check()  # a second scan and a second worker pass send nothing more
    run_jobs()
    assert sorted(to for (to,), _ in smtp_server.messages) == ["ali@uni.example", "family@home.example"]
    (student_text, _), (guardian_text, _) = (letter_parts(raw) for _, raw in smtp_server.messages)
    assert student_text.startswith("Dear Student S1 (S1),") and "in CS101 Programming is 50.00%" in student_text
    assert "at or below the limit of 75.00%" in student_text and "You are mahroom" in student_text
    assert guardian_text.startswith("Dear parent or guardian of Student S1 (S1),")
    assert [d.status for d in deliveries("email")] == ["sent", "sent"]
    assert all(d.attempts == 1 and d.sent_at for d in deliveries("email"))
    assert db.session.execute(select(InboxMessage)).scalar_one().urgent is True


def test_webhook_posts_the_alert_as_json_once(app, run_jobs, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    mahroom_student()
    run_threshold_check()
    run_jobs()
    run_jobs()
    assert len(httpserver.log) == 1
    document = json.loads(httpserver.log[0][0].data)
    assert document["kind"] == "mahroom" and document["courseCode"] == "CS101" and document["rate"] == "50.00"
    assert document["studentNumber"] == "S1" and "final exam" in document["body"]
    assert deliveries("webhook")[0].status == "sent"
    # The text is stored once, on the notification, and added to the document when it is sent.
    notification = db.session.scalars(select(Notification)).one()
    assert (document["subject"], document["body"]) == (notification.subject, notification.body)
    assert "body" not in notification.payload and "subject" not in notification.payload


def test_failing_webhook_is_retried_at_15_30_60_minutes_then_dead_with_its_error(app, run_jobs, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("busy", status=503)
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    with time_machine.travel(T0, tick=False) as clock:
        mahroom_student()
        run_threshold_check()
        run_jobs()
        (hook,) = deliveries("webhook")
        attempt_times = [T0]
        for attempt, delay in ((2, 15), (3, 30), (4, 60)):
            due = attempt_times[-1] + timedelta(minutes=delay)
            assert (hook.status, hook.attempts, hook.next_attempt_at) == ("pending", attempt - 1, due)
            assert scheduled_at(hook.id, attempt) == due
            clock.move_to(due - timedelta(seconds=1))
            run_jobs(with_scheduler=True)
            assert deliveries("webhook")[0].attempts == attempt - 1  # not a second early
            clock.move_to(due)
            run_jobs(with_scheduler=True)
            (hook,) = deliveries("webhook")
            attempt_times.append(due)
        assert (hook.status, hook.attempts, hook.next_attempt_at) == ("dead", 4, None)
        assert "HTTP 503" in hook.last_error and "attempt 4" in hook.last_error
        assert len(httpserver.log) == 4
        assert [r.headers.get("Content-Type") for r, _ in httpserver.log][0].startswith("application/json")
        assert attempt_times == [
            T0,
            T0 + timedelta(minutes=15),
            T0 + timedelta(minutes=45),
            T0 + timedelta(minutes=105),
        ]

        httpserver.clear()
        httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
        retry_delivery(hook.id, actor="admin", source="cli")
        run_jobs()
        (hook,) = deliveries("webhook")
        assert (hook.status, hook.attempts) == ("sent", 5) and len(httpserver.log) == 1


def test_permanent_failures_are_dead_at_once(app, run_jobs, httpserver, smtp_server):
    httpserver.expect_request("/hook", method="POST").respond_with_data("no such channel", status=404)
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    app.config["SMTP_URL"] = smtp_server.url
    smtp_server.reply = "550 5.1.1 mailbox unavailable"
    mahroom_student(guardian=None)
    run_threshold_check()
    run_jobs()
    (hook,), (mail,) = deliveries("webhook"), deliveries("email")
    assert (hook.status, hook.attempts, hook.next_attempt_at) == ("dead", 1, None) and "HTTP 404" in hook.last_error
    assert (mail.status, mail.attempts) == ("dead", 1) and "SMTP 550" in mail.last_error
    assert get_queue("notifications").scheduled_job_registry.get_job_ids() == []
    assert retry_queue_status()["totalPending"] == 0


def test_smtp_4xx_is_transient_and_retry_now_sends_it(app, run_jobs, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url
    smtp_server.reply = "451 4.3.0 try again later"
    with time_machine.travel(T0, tick=False):
        mahroom_student(guardian=None)
        run_threshold_check()
        run_jobs()
        (mail,) = deliveries("email")
        assert (mail.status, mail.next_attempt_at) == (
            "pending",
            T0 + timedelta(minutes=15),
        ) and "SMTP 451" in mail.last_error
        smtp_server.reply = "250 OK"
        retry_delivery(mail.id, actor="admin", source="page")
        assert scheduled_at(mail.id, 2) is None  # the scheduled retry was replaced by one now
        run_jobs()
    (mail,) = deliveries("email")
    assert mail.status == "sent" and len(smtp_server.messages) == 1


def test_unreachable_smtp_server_is_a_transient_failure(app, run_jobs):
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{_free_port()}"
    mahroom_student(guardian=None)
    run_threshold_check()
    run_jobs()
    (mail,) = deliveries("email")
    assert mail.status == "pending" and "unreachable" in mail.last_error


def test_retry_queue_status_counts_waiting_retries_by_kind_and_attempts_and_clear_cancels_them(
    app, run_jobs, httpserver
):
    httpserver.expect_request("/hook", method="POST").respond_with_data("down", status=500)
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    mahroom_student()
    run_threshold_check()
    run_jobs()
    (hook,) = deliveries("webhook")
    assert retry_queue_status() == {
        "totalPending": 1,
        "byType": {"warning": 0, "mahroom": 1, "tasdiq": 0},
        "byAttempts": {"1": 1},
        "grid": {"warning": {}, "mahroom": {"1": 1}, "tasdiq": {}},
        "dead": 0,
    }
    assert scheduled_at(hook.id, 2) is not None
    assert clear_retry_queue(actor="admin", source="api") == 1
    assert deliveries("webhook")[0].status == "cancelled"
    assert scheduled_at(hook.id, 2) is None
    assert retry_queue_status()["totalPending"] == 0
    entry = db.session.execute(select(AuditLog).where(AuditLog.action == "retry_queue.clear")).scalar_one()
    assert entry.actor == "admin" and entry.details == {"cancelled": 1}


def test_due_delivery_whose_job_redis_lost_is_re_enqueued_and_sent(app, run_jobs, httpserver):
    from redis import Redis

    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    mahroom_student()
    run_threshold_check()
    Redis.from_url(app.config["REDIS_URL"]).flushall()  # Redis lost the queued delivery job
    assert requeue_due_deliveries() == 1
    assert requeue_due_deliveries() == 0  # its new job is in Redis now
    run_jobs()
    assert deliveries("webhook")[0].status == "sent" and len(httpserver.log) == 1
