"""Periodic jobs: the dispatcher every rq-scheduler entry calls, and the work of each job.

``dispatch`` is thin on purpose: an rq-scheduler cron entry reuses one RQ job id for every
run, so the dispatcher records the run with its own id, takes the job's execution lock (a
second run while one executes is recorded as ``skipped``), runs the work and records the
outcome. Errors are recorded with their traceback and re-raised so RQ shows the failure too.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from rq import get_current_job
from rq.utils import import_attribute

from portal import queues
from portal.alerts import course_stats, scan, scan_runs
from portal.attendance import summary_cache
from portal.extensions import db
from portal.logs import job_log_context
from portal.notifications import fanout, retry_queue
from portal.operations import archival
from portal.periodic import registry, runs, ticks
from portal.periodic.jobs import UnknownJob, enabled_job_names
from workers.context import job_context

log = logging.getLogger(__name__)


def dispatch(job_name: str, trigger: str = "schedule", run_id: int | None = None) -> dict[str, Any]:
    """Run periodic job ``job_name`` once (``run_id``: the run recorded by a manual trigger or
    by the scheduler for a tick).

    Returns ``{"runId", "outcome", "summary"}``. A scheduled tick of a stopped job runs nothing
    (``{"outcome": "disabled"}``); a run or a tick that was already served runs nothing and is
    recorded as a skipped row naming the run that served it.
    """
    with job_context(), job_log_context(job_name) as log_context:
        spec = registry.get_job(job_name)
        if spec is None:
            raise UnknownJob(job_name)
        current = get_current_job()
        rq_job_id = current.id if current is not None else None
        retake = queues.take_retake_flag()  # RQ put this job back after its worker died
        if trigger == "schedule" and job_name not in enabled_job_names():
            # Stopped between the tick and now: nothing runs.
            log.info("%s is stopped: scheduled tick ignored", job_name)
            if run_id is not None:
                runs.finish_queued_run(run_id, "skipped", summary={"reason": "job stopped"})
            return {"runId": run_id, "outcome": "disabled", "summary": None}
        if run_id is None and retake:
            # A stock entry's job (no run id) put back after its worker died: its dead run again.
            run_id = runs.running_run_of_rq_job(job_name, rq_job_id)
        if run_id is None:
            run = runs.start_run(job_name, trigger, rq_job_id=rq_job_id) if trigger == "manual" else None
            # An rq-scheduler entry enqueued as it is (not through our scheduler): claim the current tick.
            run = run or ticks.claim_current_tick(spec)
            if run is None:
                return {"runId": None, "outcome": "skipped", "summary": None}
            run_id = run.id
        elif runs.get_run(run_id) is None:
            raise LookupError(f"no job run {run_id}")
        log_context.run_id = run_id
        return _execute(spec, run_id, rq_job_id, retake)


def _execute(spec: registry.PeriodicJob, run_id: int, rq_job_id: str | None, retake: bool) -> dict[str, Any]:
    """Run the work of run ``run_id`` under the job's execution lock, once.

    ``retake``: RQ put this job back after its worker died mid-run; the run takes the lock
    over from its own dead execution and runs again (``runs.take_over_execution_lock``).
    """
    job_name = spec.name
    if not runs.acquire_execution_lock(job_name, run_id, spec.execution_lock_ttl) and not (
        retake and runs.take_over_execution_lock(job_name, run_id, rq_job_id, spec.execution_lock_ttl)
    ):
        holder = runs.lock_holder(job_name)
        if holder == run_id or not runs.finish_queued_run(
            run_id, "skipped", summary={"reason": "already executing", "executingRunId": holder}
        ):
            # This very run is executing (its RQ job was enqueued twice): record the second attempt.
            skipped = ticks.record_tick_taken(job_name, runs.tick_of(run_id), served_by=run_id)
            return {"runId": skipped.id, "outcome": "skipped", "summary": None}
        log.info("%s run %s skipped: run %s is executing", job_name, run_id, holder)
        return {"runId": run_id, "outcome": "skipped", "summary": None}
    if not runs.begin_execution(job_name, run_id, rq_job_id, retake=retake):
        # The run was executed (or ended) before: a re-enqueued job never runs it twice.
        runs.release_execution_lock(job_name, run_id)
        skipped = ticks.record_tick_taken(job_name, runs.tick_of(run_id), served_by=run_id)
        log.info("%s run %s was already served: attempt recorded as skipped run %s", job_name, run_id, skipped.id)
        return {"runId": skipped.id, "outcome": "skipped", "summary": None}
    try:
        summary = import_attribute(spec.function)(run_id) or {}
    except Exception as exc:
        db.session.rollback()
        runs.finish_run(run_id, "error", error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        raise
    if summary.get("async"):
        # The work continues in other RQ jobs (scan batches) that finish the run and release the lock.
        runs.update_summary(run_id, summary)
        return {"runId": run_id, "outcome": "running", "summary": summary}
    runs.finish_run(run_id, "success", summary=summary)
    return {"runId": run_id, "outcome": "success", "summary": summary}


# --- the work of each periodic job (called by dispatch with the run id) ---------------------


def run_threshold_monitor(run_id: int) -> dict[str, Any]:
    """Start the full threshold scan in batches; the run is finished by the last batch."""
    return scan.start_full_scan(run_id)


def run_retry_processor(run_id: int) -> dict[str, Any]:
    """Re-enqueue every delivery whose attempt is due but has no job in Redis, the fan-out of
    every alert left without its notification, and every scan batch whose job was lost or
    abandoned (a batch whose job failed ends its run as ``error``)."""
    return {
        "requeued": retry_queue.requeue_due_deliveries(),
        "notificationsRequeued": fanout.requeue_missing_notifications(),
        **scan_runs.recover_stalled_batches(),
    }


def run_cache_refresh(run_id: int) -> dict[str, Any]:
    """Rewrite every active student's cached attendance summary."""
    return summary_cache.refresh_summaries()


def run_course_stats_refresh(run_id: int) -> dict[str, Any]:
    """Refresh the per-course statistics (materialized view or rebuilt table)."""
    return course_stats.refresh_course_stats()


def run_audit_archival(run_id: int) -> dict[str, Any]:
    """Move audit entries older than AUDIT_RETENTION_DAYS to the archive."""
    return archival.archive_audit_log()
