"""Periodic job state (enabled or paused, shared by every process) and the record of every run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.models.types import JsonDocument

RUN_TRIGGERS = ("schedule", "manual")
# queued -> running -> success | error; skipped when the job was already executing, its tick
# was already served, or the missed-tick policy skipped the ticks the row covers.
RUN_OUTCOMES = ("queued", "running", "success", "error", "skipped")
PAUSE_REASON_MAX = 500


class JobState(db.Model):
    __tablename__ = "job_states"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100))
    # Set by a stop that said why and until when; the scheduler starts the job again at resume_at.
    pause_reason: Mapped[str | None] = mapped_column(String(PAUSE_REASON_MAX))
    resume_at: Mapped[datetime | None] = mapped_column(DateTime)


class JobRun(db.Model):
    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    job_name: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="queued")
    queued_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    summary: Mapped[dict | None] = mapped_column(JsonDocument)
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    rq_job_id: Mapped[str | None] = mapped_column(String(100))
    requested_by: Mapped[str | None] = mapped_column(String(100))
    # The cron tick (naive UTC) a scheduled run serves; NULL for manual runs. One row per
    # (job, tick), enforced by the database: a second attempt at a tick is recorded as a
    # skipped row without a tick that names the run holding it.
    tick_at: Mapped[datetime | None] = mapped_column(DateTime)
    # A catch-up run (or a skip record) also covers the missed ticks from this one to tick_at.
    covers_from: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("job_name", "tick_at"),
        Index("ix_job_runs_job_queued", "job_name", "queued_at"),
        # Each job's newest runs (its status): a backward walk from the job's highest id.
        Index("ix_job_runs_job_id", "job_name", "id"),
        Index("ix_job_runs_status", "status"),
    )
