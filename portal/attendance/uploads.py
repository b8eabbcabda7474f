"""CSV files uploaded in the browser: checked at once (kind, emptiness, header), recorded in
``imports`` and handed to an RQ job (``portal/attendance/upload_jobs.py``) that imports them.

The upload itself is streamed to a file under ``UPLOAD_FOLDER`` by the page
(``portal/blueprints/upload_stream.py``); from there on everything works from that path, so
a 100 MB file is never held in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from portal import audit, queues
from portal.attendance import term_imports
from portal.attendance.importing import ImportFileError, _rows
from portal.clock import utcnow
from portal.domain.batches import KINDS as ROW_KINDS
from portal.domain.batches import REQUIRED_COLUMNS
from portal.extensions import db
from portal.models import ImportUpload
from portal.models.imports import UNFINISHED_STATUSES

KINDS = ROW_KINDS + term_imports.KINDS
COLUMNS = {
    **REQUIRED_COLUMNS,
    "terms": term_imports.TERM_COLUMNS,
    "offerings": term_imports.OFFERING_COLUMNS,
    "withdrawals": term_imports.WITHDRAWAL_COLUMNS,
}
# The import of a 1,000,000-row file takes about 40 s: on the maintenance queue, so a large
# file never holds up the immediate checks (urgent) or the letters (notifications) behind it.
IMPORT_QUEUE = queues.MAINTENANCE
# RQ stops a job at its timeout (its transaction rolls back: nothing written).
JOB_TIMEOUT_SECONDS = 3600


class UploadRefused(ValueError):
    """The upload cannot be imported; the message says why (nothing was stored or queued)."""


@dataclass(frozen=True)
class Upload:
    """A file the page streamed to disk, with what the form said about it."""

    kind: str
    filename: str
    path: str
    size_bytes: int
    skip_invalid: bool


def check_upload(upload: Upload) -> None:
    """Raise UploadRefused when ``upload`` cannot be imported: an unknown kind, 'skip invalid
    rows' for an all-or-nothing kind, an empty file, or a header without the kind's columns.

    Only the header and the first row are read: the rows are the job's business.
    """
    if upload.kind not in KINDS:
        raise UploadRefused(f"Unknown kind {upload.kind[:40]!r}: choose one of {', '.join(KINDS)}.")
    if upload.skip_invalid and upload.kind in term_imports.KINDS:
        raise UploadRefused(
            f"'Skip invalid rows' does not apply to {upload.kind}: such a file is imported whole or not at all."
        )
    if upload.size_bytes == 0:
        raise UploadRefused(f"{upload.filename} is empty: a CSV file with a header row is expected.")
    with open(upload.path, "rb") as stream:
        try:
            next(_rows(stream, COLUMNS[upload.kind]), None)
        except ImportFileError as exc:
            raise UploadRefused(f"{upload.filename}: {exc}.") from None


def refuse_upload(upload: Upload, reason: str, *, actor: str, ip: str | None = None) -> None:
    """Delete the stored file and audit the refusal."""
    discard_file(upload.path)
    audit.record(
        actor,
        "import.upload",
        upload.filename,
        outcome="refused",
        details={"kind": upload.kind, "filename": upload.filename, "sizeBytes": upload.size_bytes, "reason": reason},
        source="page",
        ip=ip,
        commit=True,
    )


def queue_import(upload: Upload, *, actor: str, ip: str | None = None) -> ImportUpload:
    """Record the upload (status queued), audit it and enqueue its import; return the row."""
    row = ImportUpload(
        kind=upload.kind,
        original_filename=upload.filename[:255],
        stored_path=upload.path,
        size_bytes=upload.size_bytes,
        skip_invalid=upload.skip_invalid,
        status="queued",
        rows_read=0,
        rows_written=0,
        rows_invalid=0,
        created_by=actor,
        created_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    row.rq_job_id = queues.import_job_id(row.id)
    audit.record(
        actor,
        "import.upload",
        upload.filename,
        details={"importId": row.id, "kind": upload.kind, "filename": upload.filename, "sizeBytes": upload.size_bytes},
        source="page",
        ip=ip,
    )
    db.session.commit()
    queues.enqueue(IMPORT_QUEUE, queues.RUN_IMPORT, row.id, job_id=row.rq_job_id, job_timeout=JOB_TIMEOUT_SECONDS)
    return row


def discard_file(path: str | None) -> None:
    """Delete an uploaded file (already gone is fine)."""
    if path:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def upload_folder() -> str:
    """The folder uploads are streamed to (created on first use)."""
    folder = current_app.config["UPLOAD_FOLDER"]
    os.makedirs(folder, exist_ok=True)
    return folder


def imports_page(page: int, per_page: int):
    """The uploads, newest first, one page of them (a Flask-SQLAlchemy pagination)."""
    statement = select(ImportUpload).order_by(ImportUpload.id.desc())
    return db.paginate(statement, page=page, per_page=per_page, error_out=False, max_per_page=200)


def get_import(import_id: int) -> ImportUpload | None:
    """The upload ``import_id``, its status reconciled with RQ: an unfinished import whose job
    failed (the worker died, twice: see docs/portal.md) or was lost from Redis is marked failed."""
    row = db.session.get(ImportUpload, import_id)
    if row is None or row.status not in UNFINISHED_STATUSES or not row.rq_job_id:
        return row
    failure = queues.failure_of(row.rq_job_id)
    if failure is None and queues.live_job_ids([row.rq_job_id]):
        return row
    db.session.refresh(row)  # the job may have finished between the two reads
    if row.status in UNFINISHED_STATUSES:
        reason = failure or "the import job is no longer in Redis (lost before it finished)"
        mark_failed(row, f"{reason}; nothing was written")
    return row


def mark_failed(row: ImportUpload, error: str) -> None:
    """Record that ``row``'s import failed (its transaction rolled back), delete its file, commit."""
    row.status = "failed"
    row.error = error[:4000]
    row.finished_at = utcnow()
    discard_file(row.stored_path)
    audit.record(
        row.created_by,
        "import.finish",
        row.original_filename,
        outcome="failed",
        details={"importId": row.id, "kind": row.kind, "error": row.error},
        source="system",
    )
    db.session.commit()


def report_text(row: ImportUpload) -> str:
    """The report of a finished import as the CLI would print it: ``FILE: line N: reason`` for
    every bad row, then one line with the outcome. An unfinished import has only its status."""
    name = row.original_filename
    lines = [f"{name}: {line}" for line in (row.report or "").splitlines()]
    if row.status == "done":
        skipped = f"; skipped {row.rows_invalid:,} bad row(s)" if row.rows_invalid else ""
        lines.append(f"{name}: imported {row.rows_written:,} {row.kind} row(s){skipped}.")
    elif row.status == "refused" and row.rows_invalid:
        lines.append(f"{name}: {row.rows_invalid:,} bad row(s) of {row.rows_read:,}; nothing was written.")
    elif row.error:
        lines.append(f"{name}: {row.error}.")
    else:
        lines.append(f"{name}: the import is {row.status}.")
    return "\n".join(lines) + "\n"
