"""The RQ job body of a browser import: runs ``import_csv`` on the stored file, shows its
progress in Redis while the import's one transaction is open, then writes the outcome to the
``imports`` row (the database is the truth; the progress hash expires).

Progress goes to Redis, not the database: the import's rows are written in one transaction
that only ends with the file, and a count written through that session would stay invisible
to the page until then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from portal import audit, queues
from portal.attendance import term_imports
from portal.attendance.importing import ImportFileError, ImportResult, import_csv
from portal.attendance.uploads import discard_file, mark_failed
from portal.clock import utcnow
from portal.extensions import db
from portal.models import ImportUpload
from portal.models.imports import UNFINISHED_STATUSES

log = logging.getLogger(__name__)

PROGRESS_TTL_SECONDS = 24 * 3600
TERM_IMPORTERS = {
    "terms": term_imports.import_terms,
    "offerings": term_imports.import_offerings,
    "withdrawals": term_imports.import_withdrawals,
}


def progress_key(import_id: int) -> str:
    """The Redis hash holding the progress of import ``import_id`` while it runs."""
    return f"portal:import:{import_id}:progress"


def write_progress(import_id: int, status: str, result: ImportResult | None = None, total: int | None = None) -> None:
    """Set the progress of import ``import_id`` (status and counts so far) in Redis."""
    fields: dict[str, int | str] = {"status": status}
    if total is not None:
        fields["rows_total"] = total
    if result is not None:
        fields.update(rows_read=result.rows_read, rows_written=result.rows_written, rows_invalid=result.rows_invalid)
    pipe = queues.get_redis().pipeline()
    pipe.hset(progress_key(import_id), mapping=fields)
    pipe.expire(progress_key(import_id), PROGRESS_TTL_SECONDS)
    pipe.execute()


def read_progress(import_id: int) -> dict[str, int | str]:
    """The progress of import ``import_id`` as the job last wrote it ({} when none)."""
    raw = queues.get_redis().hgetall(progress_key(import_id))
    values = {key.decode(): value.decode() for key, value in raw.items()}
    return {key: (value if key == "status" else int(value)) for key, value in values.items()}


def count_data_lines(path: str) -> int:
    """The number of lines after the header (the progress bar's end; a quoted newline counts
    twice, so it is an estimate, corrected by the final count)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(lines + (last != b"\n") - 1, 0)


def run_import(import_id: int, on_progress: Callable[[ImportResult], None] | None = None) -> dict:
    """Import the uploaded file of ``import_id`` and record the outcome; return its counts.

    A file refused as a whole ends as ``refused``; any other exception marks the row
    ``failed`` (its transaction rolled back) and propagates, so RQ records it. ``on_progress``
    is called after each progress write (tests use it to look at the page mid-import).
    """
    row = db.session.get(ImportUpload, import_id)
    if row is None or row.status not in UNFINISHED_STATUSES:
        log.info("import %s is finished or gone: nothing to do", import_id)
        return {"importId": import_id, "skipped": True}
    row.status, row.started_at = "checking", utcnow()
    kind, path, skip_invalid, actor = row.kind, row.stored_path, row.skip_invalid, row.created_by
    db.session.commit()

    def progress(result: ImportResult) -> None:
        writing = result.rows_written and (skip_invalid or not result.errors)
        write_progress(import_id, "writing" if writing else "checking", result)
        if on_progress is not None:
            on_progress(result)

    try:
        write_progress(import_id, "checking", ImportResult(kind), total=count_data_lines(path))
        with open(path, "rb") as stream:
            if kind in TERM_IMPORTERS:
                result = TERM_IMPORTERS[kind](stream, actor=actor, source="page")
            else:
                result = import_csv(
                    kind, stream, skip_invalid=skip_invalid, progress=progress, actor=actor, source="page"
                )
    except ImportFileError as exc:
        db.session.rollback()
        return _finish(import_id, "refused", ImportResult(kind), error=f"{exc}; nothing was written")
    except BaseException as exc:
        db.session.rollback()
        mark_failed(db.session.get(ImportUpload, import_id), f"{type(exc).__name__}: {exc}; nothing was written")
        write_progress(import_id, "failed")
        raise
    return _finish(import_id, "done" if result.committed else "refused", result)


def _finish(import_id: int, status: str, result: ImportResult, error: str | None = None) -> dict:
    row = db.session.get(ImportUpload, import_id)
    row.status, row.error, row.finished_at = status, error, utcnow()
    row.rows_read, row.rows_written, row.rows_invalid = result.rows_read, result.rows_written, result.rows_invalid
    row.report = "\n".join(str(e) for e in sorted(result.errors, key=lambda e: e.line)) or None
    discard_file(row.stored_path)
    counts = {"rowsRead": row.rows_read, "rowsWritten": row.rows_written, "rowsInvalid": row.rows_invalid}
    audit.record(
        row.created_by,
        "import.finish",
        row.original_filename,
        outcome="success" if status == "done" and not result.errors else ("partial" if status == "done" else status),
        details={"importId": import_id, "kind": row.kind, **counts, **({"error": error} if error else {})},
        source="system",
    )
    db.session.commit()
    write_progress(import_id, status, result)
    return {"importId": import_id, "status": status, **counts}
