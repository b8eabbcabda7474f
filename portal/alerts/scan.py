"""The threshold scan (full, in batches) and the immediate checks after attendance is saved.

A full scan splits the active students into id ranges of ``SCAN_BATCH_SIZE`` and runs one
RQ job per range on the ``thresholds`` queue (``workers.thresholds.scan_batch``). Each batch
records its counts in ``scan_batches`` in the same transaction as its alert changes, then
enqueues the fan-out jobs that create the notifications of the alerts it opened; the batch
that finds every other batch finished writes the run's summary onto its JobRun row.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import bindparam, func, select, text, update

from portal import queues
from portal.alerts.evaluation import (
    EvaluationCounts,
    EvaluationResult,
    apply_evaluations,
    range_candidates,
    serialize_writers,
    totals_for_enrollments,
    totals_for_pairs,
    totals_for_student_range,
)
from portal.alerts.scan_runs import finish_run_if_complete, summary_of
from portal.attendance.terms import terms_in_progress, university_today
from portal.clock import utcnow
from portal.domain.rules import Thresholds
from portal.extensions import db
from portal.models import JobRun
from portal.models.alerts import ScanBatch
from portal.notifications.fanout import create_notifications, enqueue_delivery_jobs, enqueue_fanout
from portal.storage.upsert import insert_ignore

log = logging.getLogger(__name__)

IMMEDIATE_CHECK_CHUNK = 500
DRY_RUN_LISTED = 500  # a dry run lists at most this many alerts that would open (and resolve)


def enqueue_immediate_checks(pairs: Sequence[tuple[int, int]]) -> int:
    """Queue checks of ``(student_id, course_id)`` pairs on the urgent queue; return jobs queued."""
    calls = [
        (queues.CHECK_PAIRS, ([list(p) for p in pairs[i : i + IMMEDIATE_CHECK_CHUNK]],), {})
        for i in range(0, len(pairs), IMMEDIATE_CHECK_CHUNK)
    ]
    return len(queues.enqueue_many(queues.URGENT, calls))


# Batch ranges hop along the (active, id) index: each batch's first id is the size-th id after
# the previous batch's first (strictly after it, so the hops always end), and its last id is
# the size-th id from its own first (or the last active id). Index-only reads of about two
# entries per student instead of numbering every student in a window function: ~3 ms instead
# of ~9 ms at 20,000 students with the workers busy (docs/performance.md, "Why it is built this way").
_BATCHES_SQL = text(
    """
    WITH RECURSIVE starts(first_id) AS (
        SELECT min(id) FROM students WHERE active
        UNION ALL
        SELECT (SELECT id FROM students WHERE active AND id > starts.first_id ORDER BY id LIMIT 1 OFFSET :size_less_one)
        FROM starts WHERE starts.first_id IS NOT NULL
    )
    SELECT first_id, coalesce(
        (SELECT id FROM students WHERE active AND id >= first_id ORDER BY id LIMIT 1 OFFSET :size_less_one),
        (SELECT max(id) FROM students WHERE active)
    )
    FROM starts WHERE first_id IS NOT NULL ORDER BY first_id
    """
)


def student_batches(batch_size: int | None = None) -> list[tuple[int, int]]:
    """Split the active students into ``(first_id, last_id)`` ranges of ``batch_size`` students
    (the last range may hold fewer)."""
    size = batch_size or current_app.config["SCAN_BATCH_SIZE"]
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    rows = db.session.execute(_BATCHES_SQL, {"size_less_one": size - 1}).all()
    return [(first, last) for first, last in rows]


def check_pairs(pairs: Sequence[Sequence[int]]) -> dict:
    """Evaluate the given (student_id, course_id) pairs now; commit the alerts with their
    notifications (no fan-out hop: these are the urgent ones) and queue their deliveries."""
    session = db.session
    serialize_writers(session)
    terms = terms_in_progress(session)
    rows = totals_for_pairs(session, [tuple(p) for p in pairs], terms)
    now = utcnow()
    result = apply_evaluations(session, rows, now, terms)
    deliveries = create_notifications(session, result.to_notify, now)
    session.commit()
    enqueue_delivery_jobs(deliveries)
    return summary_of(result.counts, 0, [])


def _evaluate_range(first: int, last: int) -> EvaluationResult:
    session = db.session
    serialize_writers(session)
    thresholds = Thresholds.from_config(current_app.config)
    # Only the terms in progress are evaluated: alerts of ended terms are history.
    candidates = range_candidates(session, first, last, thresholds, university_today())
    terms = candidates.terms
    if candidates.enrollment_ids is None:
        rows = totals_for_student_range(session, first, last, terms)
    else:
        # Only the pairs whose alerts would change are locked and evaluated: an unchanged
        # scan reads one row per enrollment in SQL and writes nothing.
        rows = totals_for_enrollments(session, candidates.enrollment_ids, terms)
    result = apply_evaluations(session, rows, utcnow(), terms, thresholds)
    result.counts.students_checked = candidates.active_students
    return result


def run_threshold_check(dry_run: bool = False) -> dict:
    """Run a full check in this process, batch after batch; return the summary.

    Notifications are created in each batch's transaction; deliveries still go through RQ.
    With ``dry_run`` every batch is rolled back: the summary says what a real check would
    change, with who (``wouldOpen``, ``wouldResolve``: student, course, kind, rate; the first
    ``DRY_RUN_LISTED`` of each), and nothing is written or queued. A failing batch is rolled
    back, logged and listed in ``errors``; the others still run.
    """
    started = time.monotonic()
    total, errors = EvaluationCounts(), []
    would_open: list[dict] = []
    would_resolve: list[dict] = []
    for first, last in student_batches():
        try:
            result = _evaluate_range(first, last)
            counts = result.counts
            deliveries = [] if dry_run else create_notifications(db.session, result.to_notify, utcnow())
        except Exception as exc:  # noqa: BLE001 - one bad batch must not hide the others' results
            db.session.rollback()
            log.exception("threshold check of students %s..%s failed", first, last)
            errors.append(f"students {first}..{last}: {type(exc).__name__}: {exc}")
            continue
        if dry_run:
            db.session.rollback()
            would_open += result.opened_list[: DRY_RUN_LISTED - len(would_open)]
            would_resolve += result.resolved_list[: DRY_RUN_LISTED - len(would_resolve)]
        else:
            db.session.commit()
            enqueue_delivery_jobs(deliveries)
        total.add(counts)
    summary = summary_of(total, int((time.monotonic() - started) * 1000), errors)
    if dry_run:
        summary.update(dryRun=True, wouldOpen=would_open, wouldResolve=would_resolve, listedAtMost=DRY_RUN_LISTED)
    return summary


def batch_job_id(run_id: int, batch_no: int) -> str:
    """Return the RQ job id of batch ``batch_no`` of scan run ``run_id`` (deterministic)."""
    return queues.scan_batch_job_id(run_id, batch_no)


def start_full_scan(run_id: int) -> dict:
    """Split the scan into batches, enqueue one ``scan_batch`` job each, return ``{"batches", "async"}``.

    The JobRun ``run_id`` is finished by the last batch (at once when there is nothing to scan).
    Calling it again for the same run adds no batch: it enqueues the batches still queued again.
    """
    session = db.session
    now = utcnow()
    session.execute(  # a no-op when the dispatcher marked the run running already
        update(JobRun)
        .where(JobRun.id == run_id, JobRun.status == "queued")
        .values(status="running", started_at=func.coalesce(JobRun.started_at, now))
    )
    insert_ignore(
        session,
        ScanBatch,
        [
            {"run_id": run_id, "batch_no": n, "first_student_id": a, "last_student_id": b, "status": "queued"}
            for n, (a, b) in enumerate(student_batches())
        ],
        ["run_id", "batch_no"],
    )
    # The recorded rows, not the ranges just computed: a second call for the same run keeps
    # the first call's batches. Each job carries its range so that it need not read its row.
    recorded = session.execute(
        select(ScanBatch.batch_no, ScanBatch.first_student_id, ScanBatch.last_student_id, ScanBatch.status)
        .where(ScanBatch.run_id == run_id)
        .order_by(ScanBatch.batch_no)
    ).all()
    session.commit()
    calls = [
        (queues.SCAN_BATCH, (run_id, n, a, b), {"job_id": batch_job_id(run_id, n)})
        for n, a, b, status in recorded
        if status == "queued"
    ]
    queues.enqueue_many(queues.THRESHOLDS, calls)
    if not calls:
        finish_run_if_complete(run_id)
    return {"batches": len(recorded), "async": True}


def run_scan_batch(run_id: int, batch_no: int, first: int | None = None, last: int | None = None) -> dict:
    """Evaluate one batch of a full scan, record its counts once, and finish the run if it was last.

    ``first`` and ``last`` are the batch's student id range as the dispatcher recorded it;
    without them the range is read from the batch's row. A batch already done (its job re-run
    after a crash that followed the commit) changes nothing and is not counted again. A
    failure is recorded on the batch and re-raised.
    """
    session = db.session
    if first is None or last is None:
        batch = session.get(ScanBatch, (run_id, batch_no))
        if batch is None:
            raise LookupError(f"scan run {run_id} has no batch {batch_no}")
        if batch.status == "done":
            session.rollback()
            finish_run_if_complete(run_id)
            return {"batch": batch_no, "skipped": "already done"}
        first, last = batch.first_student_id, batch.last_student_id
        session.rollback()
    try:
        result = _evaluate_range(first, last)
        counts, to_notify = result.counts, result.to_notify
        marked = session.execute(
            _MARK_DONE,
            {
                "b_run_id": run_id,
                "b_batch_no": batch_no,
                "b_students_checked": counts.students_checked,
                "b_warning_opened": counts.opened["warning"],
                "b_mahroom_opened": counts.opened["mahroom"],
                "b_tasdiq_opened": counts.opened["tasdiq"],
                "b_suppressed": counts.suppressed,
                "b_resolved": counts.resolved,
                "b_notifications_queued": counts.notifications,
                "b_finished_at": utcnow(),
            },
        ).rowcount
        if not marked:  # done already (a twin of this job, or a re-run): its changes stand, ours are void
            session.rollback()
            finish_run_if_complete(run_id)
            return {"batch": batch_no, "skipped": "already done"}
        session.commit()
    except Exception as exc:
        session.rollback()
        session.execute(
            update(ScanBatch)
            .where(ScanBatch.run_id == run_id, ScanBatch.batch_no == batch_no, ScanBatch.status != "done")
            .values(status="error", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow())
        )
        session.commit()
        finish_run_if_complete(run_id, traceback_text=traceback.format_exc())
        raise
    # The alerts are committed; their notifications are made by fan-out jobs (the retry
    # processor re-enqueues the fan-out of any alert left without one).
    enqueue_fanout([(a.alert_id, a.facts.kind) for a in to_notify], queues.scan_fanout_job_id(run_id, batch_no))
    finish_run_if_complete(run_id)
    return {"batch": batch_no, "studentsChecked": counts.students_checked}


# Built once: every batch of every scan runs these (Core statements, no ORM state).
_MARK_DONE = (
    update(ScanBatch.__table__)
    .where(
        ScanBatch.__table__.c.run_id == bindparam("b_run_id"),
        ScanBatch.__table__.c.batch_no == bindparam("b_batch_no"),
        ScanBatch.__table__.c.status != "done",
    )
    .values(
        status="done",
        students_checked=bindparam("b_students_checked"),
        warning_opened=bindparam("b_warning_opened"),
        mahroom_opened=bindparam("b_mahroom_opened"),
        tasdiq_opened=bindparam("b_tasdiq_opened"),
        suppressed=bindparam("b_suppressed"),
        resolved=bindparam("b_resolved"),
        notifications_queued=bindparam("b_notifications_queued"),
        error=None,
        finished_at=bindparam("b_finished_at"),
    )
)
