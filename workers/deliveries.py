"""RQ jobs that notify: fan-out jobs take alert ids, delivery jobs take delivery ids."""

from __future__ import annotations

from portal.notifications import deliveries, fanout
from workers.context import job_context


def deliver(delivery_ids: list[int]) -> dict:
    """Attempt the given deliveries (email, webhook, inbox); retries are scheduled by the service."""
    with job_context():
        return deliveries.deliver(delivery_ids)


def notify(alert_ids: list[int]) -> dict:
    """Fan-out of a scan batch: create the notifications and deliveries of these alerts."""
    with job_context():
        return fanout.notify_alerts(alert_ids)
