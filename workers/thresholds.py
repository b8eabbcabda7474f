"""RQ jobs of the threshold engine: thin wrappers that take ids and call the scan service."""

from __future__ import annotations

from portal.alerts import scan
from portal.logs import job_log_context
from portal.periodic.registry import THRESHOLD_MONITOR
from workers.context import job_context


def check_pairs(pairs: list[list[int]]) -> dict:
    """Immediate check of ``[student_id, course_id]`` pairs (queued when attendance is saved)."""
    with job_context():
        return scan.check_pairs(pairs)


def scan_batch(
    run_id: int, batch_no: int, first_student_id: int | None = None, last_student_id: int | None = None
) -> dict:
    """One batch of the hourly scan (its student id range, when given, as the dispatcher
    recorded it); the last batch to finish records the run's summary."""
    with job_context(), job_log_context(THRESHOLD_MONITOR, run_id):
        return scan.run_scan_batch(run_id, batch_no, first_student_id, last_student_id)
