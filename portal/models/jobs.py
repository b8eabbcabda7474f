"""Periodic job state (enabled or not, shared by every process) and the record of every run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.clock import utcnow
from portal.extensions import db
from portal.models.types import JsonDocument

RUN_TRIGGERS = ("schedule", "manual")
# queued -> running -> success | error; skipped when the job was already executing.
RUN_OUTCOMES = ("queued", "running", "success", "error", "skipped")


class JobState(db.Model):
    __tablename__ = "job_states"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(100))


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

    __table_args__ = (
        Index("ix_job_runs_job_queued", "job_name", "queued_at"),
        # Each job's newest runs (its status): a backward walk from the job's highest id.
        Index("ix_job_runs_job_id", "job_name", "id"),
        Index("ix_job_runs_status", "status"),
    )
