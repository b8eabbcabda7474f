"""RQ jobs that send notifications: one job takes a list of delivery ids."""

from __future__ import annotations

from workers.context import job_context


def deliver(delivery_ids: list[int]) -> dict:
    """Attempt the given deliveries (email, webhook, inbox); retries are scheduled by the service."""
    from portal.services.deliveries import deliver as attempt

    with job_context():
        return attempt(delivery_ids)
