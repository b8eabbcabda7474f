"""RQ jobs of the threshold engine: thin wrappers that take ids and call the scan service."""

from __future__ import annotations

from portal.logs import job_log_context
from workers.context import job_context


def check_pairs(pairs: list[list[int]]) -> dict:
    """Immediate check of ``[student_id, course_id]`` pairs (queued when attendance is saved)."""
    from portal.services.scan import check_pairs as check

    with job_context():
        return check(pairs)


def scan_batch(
    run_id: int, batch_no: int, first_student_id: int | None = None, last_student_id: int | None = None
) -> dict:
    """One batch of the hourly scan (its student id range, when given, as the dispatcher
    recorded it); the last batch to finish records the run's summary."""
    from portal.services.scan import run_scan_batch

    with job_context(), job_log_context("notification-threshold-monitor", run_id):
        return run_scan_batch(run_id, batch_no, first_student_id, last_student_id)
