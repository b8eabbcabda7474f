"""Answers that retrying cannot fix make a delivery ``dead`` after its one attempt, with no retry
scheduled: an SMTP server refusing the recipient (5xx at RCPT, a real aiosmtpd server) and a
webhook answering a redirect (3xx, a real HTTP server from pytest-httpserver)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import Delivery
from portal.notifications.retry_queue import requeue_due_deliveries, retry_queue_status
from portal.queues import get_queue
from tests import factories
from tests.faultkit import free_port

T0 = datetime(2026, 10, 5, 8, 0, 0)
STUDENT, GUARDIAN = "ali@uni.example", "family@home.example"


class RefusingMailbox:
    """aiosmtpd handler: answers RCPT TO with 550 for ``refused`` addresses, accepts the rest."""

    def __init__(self, refused: set[str]):
        self.refused = refused
        self.recipients_asked: list[str] = []
        self.messages: list[list[str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook
        self.recipients_asked.append(address)
        if address in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(list(envelope.rcpt_tos))
        return "250 Message accepted"


@pytest.fixture
def refusing_smtp():
    mailbox = RefusingMailbox(refused={STUDENT})
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield mailbox
    controller.stop()


def mahroom_student(guardian: str | None = None):
    crs = factories.course("CS101", "Programming")
    stu = factories.student("S1", email=STUDENT, guardian=guardian)
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %: mahroom


def outcomes(channel: str) -> dict[str, tuple[str, int, datetime | None, str | None]]:
    """``{recipient: (status, attempts, next attempt, last error)}`` of the channel's deliveries."""
    db.session.expire_all()
    rows = db.session.scalars(select(Delivery).where(Delivery.channel == channel)).all()
    return {d.recipient: (d.status, d.attempts, d.next_attempt_at, d.last_error) for d in rows}


def nothing_left_to_retry() -> None:
    assert get_queue("notifications").scheduled_job_registry.get_job_ids() == []
    assert retry_queue_status()["totalPending"] == 0


def test_a_recipient_refused_at_rcpt_is_dead_after_one_attempt_and_the_other_is_sent(app, run_jobs, refusing_smtp):
    app.config["SMTP_URL"] = refusing_smtp.url
    with time_machine.travel(T0, tick=False) as clock:
        mahroom_student(guardian=GUARDIAN)
        run_threshold_check()
        run_jobs()
        mail = outcomes("email")
        status, attempts, next_attempt, error = mail[STUDENT]
        assert (status, attempts, next_attempt) == ("dead", 1, None)
        assert error.startswith("attempt 1 (permanent): SMTP 550") and "user unknown" in error
        assert mail[GUARDIAN][:3] == ("sent", 1, None)  # the same connection still sends the next one
        assert refusing_smtp.messages == [[GUARDIAN]]
        nothing_left_to_retry()

        # Hours later the retry processor still has nothing to try again.
        clock.move_to(T0 + timedelta(hours=2))
        assert requeue_due_deliveries() == 0
        run_jobs(with_scheduler=True)
    assert sorted(refusing_smtp.recipients_asked) == [STUDENT, GUARDIAN]  # each asked once
    assert outcomes("email")[STUDENT][:2] == ("dead", 1)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_webhook_answering_a_redirect_is_dead_after_one_attempt(app, run_jobs, httpserver, status):
    moved = "https://hooks.elsewhere.example/attendance"
    httpserver.expect_request("/hook", method="POST").respond_with_data(
        "moved", status=status, headers={"Location": moved}
    )
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    with time_machine.travel(T0, tick=False) as clock:
        mahroom_student()
        run_threshold_check()
        run_jobs()
        (hook,) = outcomes("webhook").values()
        state, attempts, next_attempt, error = hook
        assert (state, attempts, next_attempt) == ("dead", 1, None)
        assert error.startswith(f"attempt 1 (permanent): HTTP {status} ")
        nothing_left_to_retry()

        clock.move_to(T0 + timedelta(hours=2))
        assert requeue_due_deliveries() == 0
        run_jobs(with_scheduler=True)
    assert len(httpserver.log) == 1  # asked once, the redirect not followed
    assert list(outcomes("webhook").values())[0][:2] == ("dead", 1)
