"""RQ job of the browser's CSV imports: a thin wrapper taking the upload's id."""

from __future__ import annotations

from portal.attendance import upload_jobs
from workers.context import job_context


def run_import(import_id: int) -> dict:
    """Import the file uploaded as ``import_id`` and record what happened in its ``imports`` row."""
    with job_context():
        return upload_jobs.run_import(import_id)
