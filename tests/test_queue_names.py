"""Every worker function named in portal/queues.py exists, and every job id is built and read there."""

from __future__ import annotations

import re

import pytest
from rq.utils import import_attribute

from portal import queues
from portal.periodic.registry import PERIODIC_JOBS
from tests.conftest import ROOT


@pytest.mark.parametrize("path", queues.JOB_FUNCTIONS)
def test_every_named_worker_function_imports_and_is_callable(path):
    assert callable(import_attribute(path))


def test_every_periodic_job_runs_a_named_function_through_the_dispatcher():
    assert {job.function for job in PERIODIC_JOBS} <= set(queues.JOB_FUNCTIONS)
    assert queues.PERIODIC_DISPATCHER in queues.JOB_FUNCTIONS


def test_every_string_naming_a_worker_function_in_portal_is_in_queues_py():
    literal = re.compile(r"""["']workers\.[a-z_]+\.[a-z_]+["']""")
    found = {
        f"{path.relative_to(ROOT)}: {match}"
        for path in (ROOT / "portal").rglob("*.py")
        if path.name != "queues.py"
        for match in literal.findall(path.read_text())
    }
    assert found == set()


def test_job_ids_round_trip_through_their_one_home():
    retry = queues.delivery_retry_job_id(42, 3)
    assert retry == "delivery-retry-42-3"
    assert queues.is_delivery_retry_job(retry)
    assert not queues.is_delivery_retry_job(queues.delivery_batch_job_id())
    assert not queues.is_delivery_retry_job(None)
    assert queues.scan_batch_job_id(7, 2) == "scan-7-2"
    assert queues.scan_fanout_job_id(7, 2) == "notify-7-2"
    assert queues.manual_run_job_id("cache-refresh", 9) == "cache-refresh-run-9"
    assert queues.delivery_batch_job_id("deliveries-requeued").startswith("deliveries-requeued-")
