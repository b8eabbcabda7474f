"""A worker told to stop with SIGTERM (systemd's stop, KillMode=mixed) while it is sending a
delivery finishes that delivery, records it, and only then exits (RQ's warm shutdown)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.alerts.scan import run_threshold_check
from portal.extensions import db
from portal.models import Delivery
from tests import factories
from tests.faultkit import wait_for

pytestmark = pytest.mark.slow


def test_sigterm_during_a_delivery_finishes_and_records_it_before_the_worker_exits(app, procs, sink):
    app.config["WEBHOOK_URL"] = sink.url
    crs = factories.course("CS101")
    stu = factories.student("S1")
    factories.attend(stu, crs, ["absent", "absent", "present", "present"])  # 50 %: mahroom
    run_threshold_check()
    sink.hold = True
    worker = procs.worker(WEBHOOK_URL=sink.url)
    wait_for(sink.arrived.is_set, 60, "the worker to send the webhook")

    worker.terminate()
    wait_for(lambda: "warm shut down requested" in worker.log(), 30, "RQ to acknowledge the SIGTERM")
    assert worker.alive()  # still waiting for its job, which the sink holds
    sink.release()
    assert worker.wait(60) == 0, worker.log()

    db.session.expire_all()
    hook = db.session.execute(select(Delivery).where(Delivery.channel == "webhook")).scalar_one()
    assert (hook.status, hook.attempts) == ("sent", 1)
    assert len(sink.documents) == 1
