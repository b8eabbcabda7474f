"""Signed webhooks: the headers the portal sends to a real HTTP server on 127.0.0.1, checked by
the very receiver code docs/webhooks.md shows (extracted from the page and run)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from calendar import timegm
from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import Delivery, Notification
from tests import factories
from tests.conftest import ROOT

T0 = datetime(2026, 10, 5, 8, 0, 0)
SECRET = "whsec-test-4b1f0c"


def receiver() -> dict:
    """The receiver of docs/webhooks.md: its one ``python`` code block, run in a namespace."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    (block,) = re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)
    namespace: dict = {"__name__": "webhooks_md"}
    exec(compile(block, "docs/webhooks.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


def mahroom_student():
    crs = factories.course("CS101", "Programming")
    stu = factories.student("S1", email="ali@uni.example")
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %


def send_one(app, run_jobs, httpserver, secret: str):
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    app.config["WEBHOOK_SECRET"] = secret
    mahroom_student()
    run_threshold_check()
    run_jobs()
    assert len(httpserver.log) == 1
    request, _ = httpserver.log[0]
    delivery = db.session.scalars(select(Delivery).where(Delivery.channel == "webhook")).one()
    return request, delivery


def test_signed_post_carries_delivery_timestamp_and_hmac_of_the_exact_body(app, run_jobs, httpserver):
    with time_machine.travel(T0, tick=False):
        request, delivery = send_one(app, run_jobs, httpserver, SECRET)
    body = request.get_data()
    assert delivery.status == "sent"
    assert request.headers["X-Attendance-Delivery"] == str(delivery.id)
    assert request.headers["X-Attendance-Timestamp"] == str(timegm(T0.timetuple())) == "1791187200"
    expected = hmac.new(SECRET.encode(), b"1791187200." + body, hashlib.sha256).hexdigest()
    assert request.headers["X-Attendance-Signature"] == f"sha256={expected}"
    document = json.loads(body)
    notification = db.session.scalars(select(Notification)).one()
    assert (document["language"], document["recipient"], document["kind"]) == ("en", "student", "mahroom")
    assert (document["subject"], document["body"]) == (notification.subject, notification.body)
    assert (notification.payload["language"], notification.payload["recipient"]) == ("en", "student")


def test_a_notification_stored_before_language_and_recipient_existed_gets_them(app, run_jobs, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_json({"ok": True})
    app.config["WEBHOOK_URL"] = httpserver.url_for("/hook")
    mahroom_student()
    run_threshold_check()  # the notification is written, its delivery job queued, not yet run
    notification = db.session.scalars(select(Notification)).one()
    old = {k: v for k, v in notification.payload.items() if k not in ("language", "recipient")}
    notification.payload = old
    db.session.commit()
    run_jobs()
    document = json.loads(httpserver.log[0][0].get_data())
    assert {**old, "language": "en", "recipient": "student"}.items() <= document.items()


def test_the_documented_receiver_accepts_the_real_request_and_refuses_tampering_age_and_repeats(
    app, run_jobs, httpserver
):
    with time_machine.travel(T0, tick=False) as clock:
        request, delivery = send_one(app, run_jobs, httpserver, SECRET)
        headers, body = request.headers, request.get_data()
        code = receiver()
        receive, secret = code["receive"], SECRET.encode()

        clock.move_to(T0 + timedelta(seconds=299))  # in time, signed by the portal
        assert code["receive"](headers, body, secret) == json.loads(body)
        assert code["seen_deliveries"].keys() == {str(delivery.id)}
        assert receive(headers, body, secret) is None  # the same delivery again: dropped

        fresh = receiver()["receive"]  # a receiver that has not seen it yet
        tampered = body.replace(b'"rate": "50.00"', b'"rate": "90.00"')
        assert tampered != body
        with pytest.raises(ValueError, match="bad signature"):
            fresh(headers, tampered, secret)
        with pytest.raises(ValueError, match="bad signature"):
            fresh(headers, body, b"another secret")
        forged = {**dict(headers), "X-Attendance-Timestamp": str(int(headers["X-Attendance-Timestamp"]) + 60)}
        with pytest.raises(ValueError, match="bad signature"):
            fresh(forged, body, secret)  # a moved timestamp breaks the signature

        clock.move_to(T0 + timedelta(minutes=5, seconds=1))
        with pytest.raises(ValueError, match="old"):
            fresh(headers, body, secret)
        unsigned = {"X-Attendance-Delivery": headers["X-Attendance-Delivery"]}
        with pytest.raises(ValueError, match="timestamp"):
            fresh(unsigned, body, secret)


def test_without_a_secret_only_the_delivery_id_is_sent(app, run_jobs, httpserver):
    request, delivery = send_one(app, run_jobs, httpserver, "")
    assert request.headers["X-Attendance-Delivery"] == str(delivery.id)
    assert "X-Attendance-Signature" not in request.headers
    assert "X-Attendance-Timestamp" not in request.headers
    assert json.loads(request.get_data())["language"] == "en"


def test_a_retry_is_signed_again_with_its_own_time_and_the_same_delivery_id(app, run_jobs, httpserver):
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("busy", status=503)
    with time_machine.travel(T0, tick=False) as clock:
        first, delivery = send_one(app, run_jobs, httpserver, SECRET)
        assert (delivery.status, delivery.attempts) == ("pending", 1)
        clock.move_to(T0 + timedelta(minutes=15))
        run_jobs(with_scheduler=True)
    (_, _), (second, _) = httpserver.log
    assert first.headers["X-Attendance-Delivery"] == second.headers["X-Attendance-Delivery"] == str(delivery.id)
    assert int(second.headers["X-Attendance-Timestamp"]) - int(first.headers["X-Attendance-Timestamp"]) == 900
    assert first.headers["X-Attendance-Signature"] != second.headers["X-Attendance-Signature"]
    with time_machine.travel(T0 + timedelta(minutes=16), tick=False):
        assert receiver()["receive"](second.headers, second.get_data(), SECRET.encode())["kind"] == "mahroom"
