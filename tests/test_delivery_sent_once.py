"""Two delivery jobs holding the same delivery id at the same moment send it once: each runs in
its own thread with its own app context and database session against PostgreSQL, released
together by a barrier; a real SMTP server (aiosmtpd) counts what arrives.

The SMTP server holds the first message it receives (the sender is provably mid-send, its
claim committed, its "sent" not yet) until the other job has returned: whatever the order
the two claims reach the database, the second job decides while the first is sending.
"""

from __future__ import annotations

import asyncio
import queue
import threading

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import Delivery
from tests import factories
from tests.faultkit import free_port
from workers.deliveries import deliver

WAIT = 60  # seconds: only a deadline for a broken run, never a pause


class HoldingMailbox:
    """aiosmtpd handler: accepts every message; holds the first in DATA until ``release``."""

    def __init__(self):
        self.messages: list[tuple[list[str], str]] = []
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        if len(self.messages) == 1:
            # Wait off the event loop, so the server still answers the other job meanwhile.
            await asyncio.get_running_loop().run_in_executor(None, self.release.wait, WAIT)
        return "250 Message accepted"


@pytest.fixture
def mailbox():
    handler = HoldingMailbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.url = f"smtp://127.0.0.1:{controller.port}"
    yield handler
    handler.release.set()
    controller.stop()


def _email() -> Delivery:
    db.session.expire_all()
    return db.session.execute(select(Delivery).where(Delivery.channel == "email")).scalar_one()


def test_two_jobs_claiming_one_delivery_at_once_send_it_once(pg_app, mailbox):
    pg_app.config["SMTP_URL"] = mailbox.url
    crs = factories.course("CS101")
    stu = factories.student("S1", email="ali@uni.example")
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %: mahroom
    run_threshold_check()
    mail = _email()
    assert (mail.status, mail.attempts) == ("pending", 0)
    db.session.remove()  # the test's own session holds no lock while the jobs run

    barrier, finished, outcomes = threading.Barrier(2), queue.Queue(), {}

    def job(name: str) -> None:
        try:
            barrier.wait(WAIT)
            outcomes[name] = deliver([mail.id])  # the RQ job function: its own app context
        except BaseException as exc:  # noqa: BLE001 - reported by the assertions below
            outcomes[name] = exc
        finally:
            finished.put(name)

    threads = [threading.Thread(target=job, args=(name,), daemon=True) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    finished.get(timeout=WAIT)  # one job is done while the other may still be held mid-send
    mailbox.release.set()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)

    assert [to for to, _ in mailbox.messages] == [["ali@uni.example"]]  # sent once
    assert sorted(outcomes.values(), key=str) == [
        {"sent": 0, "retrying": 0, "dead": 0, "notDue": 1},  # found it claimed by the other
        {"sent": 1, "retrying": 0, "dead": 0, "notDue": 0},
    ]
    mail = _email()
    assert (mail.status, mail.attempts, mail.next_attempt_at) == ("sent", 1, None) and mail.sent_at is not None
