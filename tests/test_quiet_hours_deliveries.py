"""Quiet hours end to end: email to a real SMTP server (aiosmtpd) and webhooks to a real HTTP
server on 127.0.0.1, RQ jobs run in-process at times set with time-machine. QUIET_HOURS is
21:00-07:00 in Asia/Kabul (UTC+04:30): 21:00 there is 16:30 UTC, 07:00 is 02:30 UTC."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import Delivery, InboxMessage
from portal.notifications.deliveries import deliver
from portal.notifications.retry_queue import requeue_due_deliveries, retry_delivery
from portal.queues import get_queue
from tests import factories
from tests.test_deliveries import scheduled_at, smtp_server  # noqa: F401 - the SMTP sink fixture

EVENING = datetime(2026, 10, 5, 16, 20)  # 20:50 in Kabul
NIGHT = datetime(2026, 10, 5, 17, 30)  # 22:00 in Kabul
MORNING = datetime(2026, 10, 6, 2, 30)  # 07:00 in Kabul: the window's end


@pytest.fixture
def quiet(app, smtp_server, httpserver):  # noqa: F811 - the fixture imported above
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    app.config.update(
        SMTP_URL=smtp_server.url,
        WEBHOOK_URL=httpserver.url_for("/hook"),
        QUIET_HOURS="21:00-07:00",
        QUIET_KINDS=("warning", "tasdiq"),
        UNIVERSITY_TIMEZONE="Asia/Kabul",
    )
    return smtp_server


def student_with(kind: str, number: str = "S1") -> None:
    crs = factories.course(f"C{number}", "Programming")
    stu = factories.student(number, email=f"{number.lower()}@uni.example", guardian=None)
    if kind == "warning":
        factories.attend(stu, crs, ["absent", "absent"] + ["present"] * 7)  # 77.77 %
    else:
        factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %: mahroom


def outgoing() -> list[Delivery]:
    db.session.expire_all()
    stmt = select(Delivery).where(Delivery.channel != "inbox").order_by(Delivery.channel)
    return db.session.scalars(stmt).all()


def test_a_warning_due_at_22_is_held_until_07_and_sent_then(quiet, run_jobs, httpserver):
    with time_machine.travel(NIGHT, tick=False) as clock:
        student_with("warning")
        run_threshold_check()
        # Written due at 07:00, their one job scheduled then: nothing is queued to run now.
        assert [d.next_attempt_at for d in outgoing()] == [MORNING, MORNING]
        (job_id,) = {d.job_id for d in outgoing()}
        assert scheduled_job_time(job_id) == MORNING
        run_jobs(with_scheduler=True)
        assert quiet.messages == [] and httpserver.log == []
        email, hook = outgoing()
        assert [(d.channel, d.status, d.attempts, d.next_attempt_at) for d in (email, hook)] == [
            ("email", "pending", 0, MORNING),
            ("webhook", "pending", 0, MORNING),
        ]
        inbox = db.session.scalars(select(InboxMessage)).one()  # the in-app message is not held
        assert inbox.created_at == NIGHT and "warning" in inbox.subject.lower()

        clock.move_to(MORNING - timedelta(seconds=1))
        assert requeue_due_deliveries() == 0  # the retry processor finds nothing due either
        run_jobs(with_scheduler=True)
        assert quiet.messages == [] and httpserver.log == []

        clock.move_to(MORNING)
        run_jobs(with_scheduler=True)
    assert [to for (to,), _ in quiet.messages] == ["s1@uni.example"]
    assert json.loads(httpserver.log[0][0].data)["kind"] == "warning" and len(httpserver.log) == 1
    assert [(d.status, d.attempts, d.sent_at) for d in outgoing()] == [("sent", 1, MORNING), ("sent", 1, MORNING)]


def test_a_mahroom_at_22_is_sent_at_once(quiet, run_jobs, httpserver):
    with time_machine.travel(NIGHT, tick=False):
        student_with("mahroom")
        run_threshold_check()
        run_jobs()
    assert [to for (to,), _ in quiet.messages] == ["s1@uni.example"] and len(httpserver.log) == 1
    assert [(d.status, d.sent_at) for d in outgoing()] == [("sent", NIGHT), ("sent", NIGHT)]


def test_a_retry_falling_inside_is_pushed_to_07_and_the_page_says_held_until_07(quiet, run_jobs, client):
    quiet.reply = "451 4.3.0 try again later"
    with time_machine.travel(EVENING, tick=False) as clock:  # 20:50: the first attempt goes
        student_with("warning")
        run_threshold_check()
        run_jobs(["notifications"])
        email = next(d for d in outgoing() if d.channel == "email")
        # Its retry would be at 21:05, inside the window: it waits for 07:00.
        assert (email.status, email.attempts, email.next_attempt_at) == ("pending", 1, MORNING)
        assert "SMTP 451" in email.last_error
        assert scheduled_at(email.id, 2) == MORNING

        clock.move_to(NIGHT)
        sign_in(client)
        page = client.get("/retry-queue/").get_data(as_text=True)
        row = re.search(rf'<tr data-delivery="{email.id}">.*?</tr>', page, flags=re.DOTALL).group(0)
        assert "held until 07:00" in row and 'data-held-until="07:00"' in row

        quiet.reply = "250 OK"
        run_jobs(with_scheduler=True)
        assert quiet.messages == []
        clock.move_to(MORNING)
        run_jobs(with_scheduler=True)
    assert [to for (to,), _ in quiet.messages] == ["s1@uni.example"]
    assert next(d for d in outgoing() if d.channel == "email").status == "sent"


def test_a_job_that_runs_late_into_the_window_holds_instead_of_sending(quiet, run_jobs, httpserver):
    with time_machine.travel(EVENING + timedelta(minutes=9), tick=False) as clock:  # 20:59: due now
        student_with("warning")
        run_threshold_check()
        assert [d.next_attempt_at for d in outgoing()] == [EVENING + timedelta(minutes=9)] * 2
        clock.move_to(NIGHT)  # the workers were busy: the job only runs at 22:00
        run_jobs()
        assert quiet.messages == [] and httpserver.log == []
        assert [(d.status, d.attempts, d.next_attempt_at) for d in outgoing()] == [("pending", 0, MORNING)] * 2
        (held_job,) = {d.job_id for d in outgoing()}  # one job for both, scheduled at 07:00
        assert scheduled_job_time(held_job) == MORNING
        ids = [d.id for d in outgoing()]
        assert deliver(ids) == {"sent": 0, "retrying": 0, "dead": 0, "notDue": 2}  # nothing due any more
        assert requeue_due_deliveries() == 0
        for delivery_id in ids:  # retry-now at night waits for the morning too
            assert retry_delivery(delivery_id, actor="admin", source="cli")["nextAttemptAt"] == "2026-10-06T02:30:00Z"
        run_jobs(with_scheduler=True)
        assert quiet.messages == [] and httpserver.log == []
        clock.move_to(MORNING)
        run_jobs(with_scheduler=True)
    assert len(quiet.messages) == 1 and len(httpserver.log) == 1
    assert [d.status for d in outgoing()] == ["sent", "sent"]


def test_with_quiet_hours_off_a_warning_at_22_goes_at_once(quiet, run_jobs, app):
    app.config["QUIET_HOURS"] = ""
    with time_machine.travel(NIGHT, tick=False):
        student_with("warning")
        run_threshold_check()
        run_jobs()
    assert [to for (to,), _ in quiet.messages] == ["s1@uni.example"]


def scheduled_job_time(job_id: str) -> datetime | None:
    registry = get_queue("notifications").scheduled_job_registry
    return registry.get_scheduled_time(job_id).replace(tzinfo=None) if job_id in registry.get_job_ids() else None


def sign_in(client) -> None:
    factories.user("viewer", "viewer", "correct horse battery")
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": "viewer", "password": "correct horse battery", "csrf_token": token})
