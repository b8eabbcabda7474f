"""Audit log archival: move entries older than the retention period to ``audit_log_archive``.

Each chunk is copied and then deleted in one transaction. The copy skips ids already in the
archive and the delete removes only rows the archive holds, so a crash at any point (even
between the copy and the commit, or a re-run after a half-finished one) neither loses nor
duplicates an entry: every entry is in exactly one of the two tables once a run completes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import exists, insert, literal, select

from portal.clock import iso_utc, utcnow
from portal.extensions import db
from portal.models import AuditLog, AuditLogArchive

COPIED_COLUMNS = ("id", "at", "actor", "action", "target", "outcome", "details", "source", "ip")


def archive_audit_log(
    retention_days: int | None = None,
    chunk_size: int | None = None,
    now: datetime | None = None,
    on_progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Archive entries older than ``retention_days`` (default AUDIT_RETENTION_DAYS), in chunks.

    ``on_progress(stage, chunk_number)`` is called with ``"copied"`` inside each chunk's
    transaction and ``"committed"`` after it (the fault tests stop the process there).
    Returns ``{"archived": n, "chunks": k, "cutoff": iso}``.
    """
    config = current_app.config
    retention_days = retention_days or config["AUDIT_RETENTION_DAYS"]
    chunk_size = chunk_size or config["AUDIT_ARCHIVE_CHUNK"]
    moment = now or utcnow()
    cutoff = moment - timedelta(days=retention_days)
    session = db.session
    session.commit()  # start each chunk in a fresh transaction
    archived = chunks = 0
    last_id = 0
    while True:
        ids = list(
            session.scalars(
                select(AuditLog.id)
                .where(AuditLog.at < cutoff, AuditLog.id > last_id)
                .order_by(AuditLog.id)
                .limit(chunk_size)
            )
        )
        if not ids:
            session.rollback()
            break
        chunks += 1
        source = select(*(getattr(AuditLog, c) for c in COPIED_COLUMNS), literal(moment).label("archived_at")).where(
            AuditLog.id.in_(ids), ~exists().where(AuditLogArchive.id == AuditLog.id)
        )
        session.execute(insert(AuditLogArchive).from_select([*COPIED_COLUMNS, "archived_at"], source))
        if on_progress:
            on_progress("copied", chunks)
        in_archive = exists().where(AuditLogArchive.id == AuditLog.id)
        deleted = session.execute(AuditLog.__table__.delete().where(AuditLog.id.in_(ids), in_archive)).rowcount
        session.commit()
        archived += deleted or 0
        last_id = ids[-1]
        if on_progress:
            on_progress("committed", chunks)
    return {"archived": archived, "chunks": chunks, "cutoff": iso_utc(cutoff)}
