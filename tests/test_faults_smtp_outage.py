"""The SMTP server is down for two hours of simulated time: attempts at +15/+30/+60 minutes,
then ``dead``; brought back, retry-now delivers it once. The server is a real aiosmtpd on
loopback, stopped and started again on the same port; time is controlled with time-machine."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import Delivery
from portal.notifications.retry_queue import requeue_due_deliveries, retry_delivery, retry_queue_status
from tests import factories
from tests.faultkit import free_port
from tests.test_deliveries import Mailbox

pytestmark = pytest.mark.slow
T0 = datetime(2026, 10, 5, 8, 0, 0)


@pytest.fixture
def smtp_port():
    return free_port()


def _email() -> Delivery:
    db.session.expire_all()
    return db.session.execute(select(Delivery).where(Delivery.channel == "email")).scalar_one()


def test_smtp_down_for_two_hours_retries_at_15_30_60_then_dead_and_retry_now_delivers_when_back(
    app, run_jobs, smtp_port
):
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    with time_machine.travel(T0, tick=False) as clock:
        crs = factories.course("CS101")
        stu = factories.student("S1", email="ali@uni.example")
        factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %: mahroom
        run_threshold_check()
        attempts = []
        for minute in (0, 15, 45, 105):  # attempt 1 now, then +15, +30, +60 after each failure
            clock.move_to(T0 + timedelta(minutes=minute))
            run_jobs(with_scheduler=True)
            mail = _email()
            attempts.append((mail.attempts, mail.last_attempt_at))
            assert "unreachable" in mail.last_error
        assert attempts == [(n, T0 + timedelta(minutes=m)) for n, m in ((1, 0), (2, 15), (3, 45), (4, 105))]
        assert (mail.status, mail.next_attempt_at) == ("dead", None)

        clock.move_to(T0 + timedelta(hours=2))
        assert requeue_due_deliveries() == 0 and retry_queue_status()["totalPending"] == 0  # dead stays dead
        mailbox = Mailbox()
        server = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
        server.start()  # the server is back
        try:
            retry_delivery(mail.id, actor="alice", source="page")
            run_jobs()
            run_jobs(with_scheduler=True)
        finally:
            server.stop()
    mail = _email()
    assert (mail.status, mail.attempts) == ("sent", 5)
    assert [to for (to,), _ in mailbox.messages] == ["ali@uni.example"]
