"""The bookkeeping of a full scan's run: its summary, the last batch finishing it, stalled batches.

A scan's batches record their counts in ``scan_batches``; whichever batch finds no other
batch still queued sums them into the run's summary and releases the job's execution lock.
The retry processor calls ``recover_stalled_batches`` for batches whose RQ job will never
finish them (Redis lost it, its worker died, or it failed before it could record why).
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, case, func, select, update

from portal import queues
from portal.alerts.evaluation import EvaluationCounts
from portal.clock import iso_utc, utcnow
from portal.extensions import db
from portal.models import JobRun
from portal.models.alerts import ScanBatch
from portal.periodic import runs

log = logging.getLogger(__name__)


def summary_of(counts: EvaluationCounts, elapsed_ms: int, errors: list[str]) -> dict:
    """Return a run summary in the API's shape (times in ms and ISO 8601 UTC)."""
    return {
        "totalStudentsChecked": counts.students_checked,
        "alertsOpened": dict(counts.opened),
        "alertsSuppressed": counts.suppressed,
        "alertsResolved": counts.resolved,
        "notificationsQueued": counts.notifications,
        "executionTime": elapsed_ms,
        "timestamp": iso_utc(utcnow()),
        "errors": errors,
    }


_ANY_QUEUED = (
    select(ScanBatch.__table__.c.batch_no)
    .where(ScanBatch.__table__.c.run_id == bindparam("run_id"), ScanBatch.__table__.c.status == "queued")
    .limit(1)
)


def _batch_totals(session, run_id: int) -> tuple[EvaluationCounts, list[str]] | None:
    """The counts summed over the batches of ``run_id`` and their errors; None while one is queued."""
    c = ScanBatch
    row = session.execute(
        select(
            func.count(),
            func.sum(case((c.status == "queued", 1), else_=0)),
            func.coalesce(func.sum(c.students_checked), 0),
            func.coalesce(func.sum(c.warning_opened), 0),
            func.coalesce(func.sum(c.mahroom_opened), 0),
            func.coalesce(func.sum(c.tasdiq_opened), 0),
            func.coalesce(func.sum(c.suppressed), 0),
            func.coalesce(func.sum(c.resolved), 0),
            func.coalesce(func.sum(c.notifications_queued), 0),
        ).where(c.run_id == run_id)
    ).one()
    if row[1]:
        return None
    errors = [
        f"batch {n}: {e}"
        for n, e in session.execute(
            select(c.batch_no, c.error).where(c.run_id == run_id, c.status == "error").order_by(c.batch_no)
        )
    ]
    counts = EvaluationCounts(
        students_checked=int(row[2]),
        opened={"warning": int(row[3]), "mahroom": int(row[4]), "tasdiq": int(row[5])},
        suppressed=int(row[6]),
        resolved=int(row[7]),
        notifications=int(row[8]),
    )
    return counts, errors


def finish_run_if_complete(run_id: int, traceback_text: str | None = None) -> dict | None:
    """When no batch of ``run_id`` is still queued, write the run's outcome and summary; return it.

    The summary is summed from the batch rows, so whichever batch finishes last (or both,
    when two finish together) writes the same numbers. A run already ``success`` is left alone.
    """
    session = db.session
    if session.execute(_ANY_QUEUED, {"run_id": run_id}).first() is not None:
        session.rollback()  # not the last batch: the usual case, one indexed read
        return None
    totals = _batch_totals(session, run_id)
    if totals is None:
        session.rollback()
        return None
    counts, errors = totals
    run = session.get(JobRun, run_id)
    if run is None or run.status == "success":
        session.rollback()
        return None
    now = utcnow()
    began = run.started_at or run.queued_at or now
    elapsed_ms = max(0, int((now - began).total_seconds() * 1000))
    summary = summary_of(counts, elapsed_ms, errors)
    values = {
        "status": "error" if errors else "success",
        "finished_at": now,
        "duration_ms": elapsed_ms,
        "summary": summary,
    }
    values["error"] = "; ".join(errors)[:4000] if errors else None
    if errors and traceback_text:
        values["traceback"] = traceback_text
    elif not errors:
        values["traceback"] = None
    session.execute(update(JobRun).where(JobRun.id == run_id, JobRun.status != "success").values(**values))
    session.commit()
    runs.release_execution_lock(run.job_name, run_id)
    return summary


def recover_stalled_batches() -> dict:
    """Re-run or close the batches of scans under way whose RQ job will never finish them.

    A batch still ``queued`` in the database whose job Redis lost (flushed, restarted) or
    whose worker died (RQ marks the job abandoned) is enqueued again: a batch may run twice
    and still open one alert per crossing. A batch whose job failed before it could record
    why (the database was unreachable) is marked ``error`` with RQ's message, which ends its
    run as ``error``. Returns ``{"batchesRequeued": n, "batchesFailed": m}``.
    """
    session = db.session
    rows = session.execute(
        select(ScanBatch.run_id, ScanBatch.batch_no)
        .join(JobRun, JobRun.id == ScanBatch.run_id)
        .where(JobRun.status == "running", ScanBatch.status == "queued")
        .order_by(ScanBatch.run_id, ScanBatch.batch_no)
    ).all()
    session.rollback()
    queues.clean_abandoned_jobs()
    by_job = {queues.scan_batch_job_id(r.run_id, r.batch_no): (r.run_id, r.batch_no) for r in rows}
    live = queues.live_job_ids(by_job)
    requeue, failed_runs, failed = [], set(), 0
    for job_id, (run_id, batch_no) in by_job.items():
        if job_id in live:
            continue
        failure = queues.failure_of(job_id)
        if failure is None or "AbandonedJobError" in failure:
            requeue.append((queues.SCAN_BATCH, (run_id, batch_no), {"job_id": job_id}))
            continue
        session.execute(
            update(ScanBatch)
            .where(ScanBatch.run_id == run_id, ScanBatch.batch_no == batch_no, ScanBatch.status == "queued")
            .values(status="error", error=f"its job failed: {failure}"[:2000], finished_at=utcnow())
        )
        session.commit()
        failed_runs.add(run_id)
        failed += 1
    if requeue:
        log.warning("re-enqueuing %d scan batches whose job was lost or abandoned", len(requeue))
        queues.enqueue_many(queues.THRESHOLDS, requeue)
    for run_id in sorted(failed_runs):
        finish_run_if_complete(run_id)
    return {"batchesRequeued": len(requeue), "batchesFailed": failed}
