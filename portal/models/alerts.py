"""Alerts (one per crossing), their notifications, per-channel deliveries and the inbox."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db
from portal.models.types import HourTotal, JsonDocument, Rate

ALERT_KINDS = ("warning", "mahroom", "tasdiq")
CHANNELS = ("inbox", "email", "webhook")
# pending: waiting for its next attempt; sent; dead: gave up (visible for a manual retry);
# cancelled: cleared from the retry queue by an operator; skipped: channel not configured.
DELIVERY_STATUSES = ("pending", "sent", "dead", "cancelled", "skipped")

BigId = BigInteger().with_variant(Integer, "sqlite")


class Alert(db.Model):
    """One crossing of a threshold by a (student, course): open while the condition holds."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # (student_id, course_id) is the enrollment the alert is about: one foreign key to the
    # enrollment (see __table_args__), not one to the student and one to the course. The scan
    # inserts alerts only for enrollment rows it holds locked, so that key's check finds its
    # row already locked by the same transaction; a key to courses made every inserted alert
    # share-lock a course row that the other scan workers' alerts lock too (measured: the
    # first 100k scan took 10.3 s with those two keys and 6.5 s with this one).
    student_id: Mapped[int] = mapped_column(Integer)
    course_id: Mapped[int] = mapped_column(Integer)
    term_id: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), default="open")
    suppressed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    rate: Mapped[Decimal] = mapped_column(Rate)
    threshold: Mapped[Decimal] = mapped_column(Rate)
    held_hours: Mapped[Decimal] = mapped_column(HourTotal)
    absent_hours: Mapped[Decimal] = mapped_column(HourTotal)
    excused_hours: Mapped[Decimal] = mapped_column(HourTotal)
    opened_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_rate: Mapped[Decimal | None] = mapped_column(Rate)
    # Why it was resolved: "inactive" (the student left: closed without a notification);
    # NULL: the condition stopped holding.
    resolved_reason: Mapped[str | None] = mapped_column(String(16))

    student = relationship("Student", primaryjoin="foreign(Alert.student_id) == Student.id")
    course = relationship("Course", primaryjoin="foreign(Alert.course_id) == Course.id")

    __table_args__ = (
        ForeignKeyConstraint(
            ["student_id", "course_id", "term_id"],
            ["enrollments.student_id", "enrollments.course_id", "enrollments.term_id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("kind IN ('warning', 'mahroom', 'tasdiq')", name="kind_known"),
        CheckConstraint("status IN ('open', 'resolved')", name="status_known"),
        # Exactly one open alert per (student, course, term, kind): the crossing guard that
        # concurrent, repeated or crashed-and-re-run scans cannot get past.
        Index(
            "uq_alerts_one_open_per_crossing",
            "student_id",
            "course_id",
            "term_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_alerts_course_status", "course_id", "status"),
        Index("ix_alerts_student_course", "student_id", "course_id"),
        Index("ix_alerts_opened_at", "opened_at"),
    )


class Notification(db.Model):
    """The message for one alert; one per alert that opened unsuppressed."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), unique=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict] = mapped_column(JsonDocument, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    # The letters' language (fa, ps, en; NULL: written before letters were translated, English)
    # and the template versions they were rendered from (0: the shipped default text; see
    # LetterTemplate). The guardian's letter exists only when a guardian delivery was made.
    language: Mapped[str | None] = mapped_column(String(2))
    template_version: Mapped[int | None] = mapped_column(Integer)
    guardian_subject: Mapped[str | None] = mapped_column(String(300))
    guardian_body: Mapped[str | None] = mapped_column(Text)
    guardian_template_version: Mapped[int | None] = mapped_column(Integer)

    alert = relationship("Alert")
    deliveries: Mapped[list[Delivery]] = relationship(back_populates="notification")


class Delivery(db.Model):
    """One notification to one recipient on one channel, with its attempts."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The RQ job that will make the next attempt; the retry processor re-enqueues a due
    # delivery whose job is gone from Redis.
    job_id: Mapped[str | None] = mapped_column(String(100))
    # Whose letter it carries: "guardian" for the guardian's email; NULL: the student's.
    audience: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    notification: Mapped[Notification] = relationship(back_populates="deliveries")

    __table_args__ = (
        UniqueConstraint("notification_id", "channel", "recipient"),
        CheckConstraint("status IN ('pending', 'sent', 'dead', 'cancelled', 'skipped')", name="status_known"),
        CheckConstraint("channel IN ('inbox', 'email', 'webhook')", name="channel_known"),
        Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_deliveries_status_kind_attempts", "status", "kind", "attempts"),
        # The retry queue's pages (newest first): a backward walk of one status's deliveries.
        Index("ix_deliveries_status_id", "status", "id"),
    )


class InboxMessage(db.Model):
    """An in-app message for a student (the ``inbox`` channel), unread until ``read_at`` is set."""

    __tablename__ = "inbox_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    # The student app's two queries, at a million rows and more (see portal/notifications/inbox.py):
    # - a page of one student's messages, newest first (and their count): a backward range scan
    #   of (student_id, id), which stops after the page; the count is index-only. It replaces
    #   the former index on student_id alone (its leading column serves the foreign key too).
    # - the unread count (on every page) and the unread filter: a partial index holding only the
    #   unread rows, so the count reads just this student's unread entries, index-only, however
    #   many messages were read; marking a message read drops it from this index. (SQLite has
    #   partial indexes too, so both databases use the same plan.)
    # Newest first is by id: ids grow with created_at (one clock, one sequence).
    __table_args__ = (
        Index("ix_inbox_messages_student_id_id", "student_id", "id"),
        Index(
            "ix_inbox_messages_unread",
            "student_id",
            "id",
            sqlite_where=text("read_at IS NULL"),
            postgresql_where=text("read_at IS NULL"),
        ),
    )


class ScanBatch(db.Model):
    """One batch of a full scan: its student id range and, once done, what it changed.

    Rows are written when the scan is split; a batch marks itself done in the same transaction
    as its alert changes, so a batch re-run after a crash is counted once.
    """

    __tablename__ = "scan_batches"

    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("job_runs.id", ondelete="CASCADE"), primary_key=True)
    batch_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_student_id: Mapped[int] = mapped_column(Integer)
    last_student_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default="queued")
    students_checked: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    warning_opened: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    mahroom_opened: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tasdiq_opened: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    suppressed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    resolved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    notifications_queued: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (CheckConstraint("status IN ('queued', 'done', 'error')", name="status_known"),)
