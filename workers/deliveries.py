"""RQ jobs that notify: fan-out jobs take alert ids, delivery jobs take delivery ids."""

from __future__ import annotations

from rq import get_current_job

from portal import queues
from portal.notifications import deliveries, fanout
from workers.context import job_context


def deliver(delivery_ids: list[int]) -> dict:
    """Attempt the given deliveries (email, webhook, inbox); retries are scheduled by the service.

    A retake (RQ put this job back after its worker died) takes over what its dead execution claimed.
    """
    with job_context():
        job = get_current_job()
        retaken_by = job.id if job is not None and queues.take_retake_flag() else None
        return deliveries.deliver(delivery_ids, retaken_by=retaken_by)


def notify(alert_ids: list[int]) -> dict:
    """Fan-out of a scan batch: create the notifications and deliveries of these alerts."""
    with job_context():
        return fanout.notify_alerts(alert_ids)
