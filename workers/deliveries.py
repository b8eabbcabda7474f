"""RQ jobs that notify: fan-out jobs take alert ids, delivery jobs take delivery ids."""

from __future__ import annotations

from workers.context import job_context


def deliver(delivery_ids: list[int]) -> dict:
    """Attempt the given deliveries (email, webhook, inbox); retries are scheduled by the service."""
    from portal.services.deliveries import deliver as attempt

    with job_context():
        return attempt(delivery_ids)


def notify(alert_ids: list[int]) -> dict:
    """Fan-out of a scan batch: create the notifications and deliveries of these alerts."""
    from portal.services.notifications import notify_alerts

    with job_context():
        return notify_alerts(alert_ids)
