"""CSV files uploaded in the browser and what their import did (the RQ job writes the outcome)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db

# queued -> checking -> writing -> done; refused when the file as a whole cannot be imported
# (found by the job: a byte that is not UTF-8, a broken quote); failed when the job crashed
# or was lost (the import's transaction rolled back: nothing written).
IMPORT_STATUSES = ("queued", "checking", "writing", "done", "failed", "refused")
UNFINISHED_STATUSES = ("queued", "checking", "writing")


class ImportUpload(db.Model):
    """One uploaded file and its import; the database copy is the truth, Redis only has the
    progress of an import under way (``portal/attendance/upload_jobs.py``)."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    original_filename: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str | None] = mapped_column(String(1000))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    skip_invalid: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    rows_invalid: Mapped[int] = mapped_column(Integer, default=0)
    # Every bad row as the CLI prints it ("line 7: ..."), one a line, in line order.
    report: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    rq_job_id: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (Index("ix_imports_created_at", "created_at"),)

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED_STATUSES
