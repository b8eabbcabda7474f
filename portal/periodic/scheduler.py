"""The scheduler process: sync the registry into rq-scheduler, then run its loop.

Started by ``python schedules.py``. It re-syncs about once a minute, so a flushed Redis or a
stop/start that could not reach Redis heals itself, and at start it queues one pass of the
retry processor: Redis may have lost queued deliveries while nothing watched it.
"""

from __future__ import annotations

import logging
import time

from portal import create_app, queues
from portal.periodic import jobs
from portal.periodic.registry import RETRY_PROCESSOR
from portal.periodic.sync import sync_schedule

log = logging.getLogger(__name__)

RESYNC_EVERY_SECONDS = 60


def run_scheduler(burst: bool = False, interval: int | None = None, sync_only: bool = False) -> None:
    """Sync the registry into rq-scheduler, queue the start-up safety net, then run the loop."""
    app = create_app()
    with app.app_context():
        queues.register_queues(queues.get_redis())
        scheduler = queues.get_scheduler(interval=interval or queues.SCHEDULER_INTERVAL_SECONDS)
        changes = sync_schedule(scheduler, jobs.enabled_job_names())
        log.info("schedule synced: %s", {k: v for k, v in changes.items() if v})
        if sync_only:
            return
        if not burst:
            requeue_pending_at_start()
        last_sync = time.monotonic()

        def resync() -> None:
            nonlocal last_sync
            if time.monotonic() - last_sync >= RESYNC_EVERY_SECONDS:
                last_sync = time.monotonic()
                changed = sync_schedule(scheduler, jobs.enabled_job_names())
                if changed["added"] or changed["replaced"] or changed["removed"]:
                    log.info("schedule re-synced: %s", {k: v for k, v in changed.items() if v and k != "unchanged"})

        scheduler.on_tick = resync
        scheduler.run(burst=burst)


def requeue_pending_at_start() -> None:
    """Run the retry processor once at start: Redis may have lost queued deliveries."""
    if RETRY_PROCESSOR in jobs.enabled_job_names():
        try:
            jobs.trigger_job(RETRY_PROCESSOR, actor="scheduler", source="system")
        except Exception:  # noqa: BLE001 - the 15-minute schedule is the fallback
            log.exception("could not queue the start-up retry pass")
