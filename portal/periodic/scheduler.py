"""The scheduler process: sync the registry into rq-scheduler, then run its loop.

Started by ``python schedules.py``. It re-syncs about once a minute, so a flushed Redis or a
stop/start that could not reach Redis heals itself, and at start it queues one pass of the
retry processor: Redis may have lost queued deliveries while nothing watched it. Each due
entry is served as one run per tick (``portal.periodic.ticks``); at start, and at every
re-sync, the ticks missed while no scheduler ran are served by each job's policy.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from portal import create_app, queues
from portal.clock import utcnow
from portal.periodic import jobs, registry, sync, ticks
from portal.periodic.registry import RETRY_PROCESSOR
from portal.periodic.sync import sync_schedule

log = logging.getLogger(__name__)

RESYNC_EVERY_SECONDS = 60


def run_scheduler(burst: bool = False, interval: int | None = None, sync_only: bool = False) -> None:
    """Sync the registry into rq-scheduler, queue the start-up passes, then run the loop."""
    app = create_app()
    with app.app_context():
        queues.register_queues(queues.get_redis())
        scheduler = queues.get_scheduler(interval=interval or queues.SCHEDULER_INTERVAL_SECONDS)
        if sync_only:
            changes = sync_schedule(scheduler, jobs.enabled_job_names())
            log.info("schedule synced: %s", {k: v for k, v in changes.items() if v})
            return
        start_scheduler(scheduler, burst=burst)
        scheduler.run(burst=burst)


def start_scheduler(scheduler: queues.PortalScheduler, burst: bool = False) -> None:
    """What a scheduler does at start, before its loop: sync the registry, serve entries tick by
    tick, queue the retry processor's safety-net pass (not in burst mode) and serve the ticks
    missed while no scheduler ran, by each job's policy."""
    changes = sync_schedule(scheduler, jobs.enabled_job_names())
    log.info("schedule synced: %s", {k: v for k, v in changes.items() if v})
    serve_schedule(scheduler)
    if not burst:
        requeue_pending_at_start()
    jobs.resume_due_jobs()
    serve_missed_ticks()


def serve_schedule(scheduler: queues.PortalScheduler, resync_every: float = RESYNC_EVERY_SECONDS) -> None:
    """Make ``scheduler`` serve each due entry as one run per tick (``portal.periodic.ticks``) and,
    before every pass, start the jobs whose pause has ended and re-sync the registry about once
    a minute."""
    last_sync = time.monotonic()

    def before_pass() -> None:
        nonlocal last_sync
        # Every pass (a cheap query): a pause ends at its time even when nobody opens a page.
        jobs.resume_due_jobs()
        if time.monotonic() - last_sync >= resync_every:
            last_sync = time.monotonic()
            changed = sync_schedule(scheduler, jobs.enabled_job_names())
            if changed["added"] or changed["replaced"] or changed["removed"]:
                log.info("schedule re-synced: %s", {k: v for k, v in changed.items() if v and k != "unchanged"})
            serve_missed_ticks()

    scheduler.on_tick = before_pass
    scheduler.on_due_entry = lambda entry, scheduled_at: serve_due_entry(scheduler, entry, scheduled_at)


def serve_due_entry(scheduler: queues.PortalScheduler, entry, scheduled_at: datetime | None) -> bool:
    """Serve the due rq-scheduler ``entry`` of a registry job: its ticks by the job's policy, then
    move the entry to its next time. Returns False for an entry the registry does not own."""
    spec = registry.get_job(entry.id)
    if spec is None or not entry.meta.get(sync.ENTRY_MARKER):
        return False
    now = utcnow()
    if spec.name in jobs.enabled_job_names():
        served = ticks.serve_ticks(spec, now, scheduled_at)
        if served["runId"] or served["skipped"]:
            log.info("%s: %s", spec.name, served)
    sync.reschedule_entry(scheduler, spec, now)
    return True


def serve_missed_ticks() -> None:
    """Serve every enabled job's missed ticks by its policy (at start: ticks missed while no
    scheduler ran, whatever rq-scheduler's entries say)."""
    enabled = jobs.enabled_job_names()
    for spec in registry.PERIODIC_JOBS:
        if spec.name in enabled:
            served = ticks.serve_ticks(spec)
            if served["runId"] or served["skipped"]:
                log.info("%s: %s", spec.name, served)


def requeue_pending_at_start() -> None:
    """Run the retry processor once at start: Redis may have lost queued deliveries."""
    if RETRY_PROCESSOR in jobs.enabled_job_names():
        try:
            jobs.trigger_job(RETRY_PROCESSOR, actor="scheduler", source="system")
        except Exception:  # noqa: BLE001 - the 15-minute schedule is the fallback
            log.exception("could not queue the start-up retry pass")
