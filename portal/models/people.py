"""Students, courses, enrollments and attendance records."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.clock import utcnow
from portal.extensions import db
from portal.models.types import Hours, HourTotal

ATTENDANCE_STATUSES = ("present", "late", "absent", "sick", "leave")


def _hundredths(column: str) -> str:
    """SQL (PostgreSQL and SQLite) for an hour column in whole hundredths (exact: two places)."""
    return f"CAST(round({column} * 100) AS BIGINT)"


class Student(db.Model):
    __tablename__ = "students"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_number: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    guardian_email: Mapped[str | None] = mapped_column(String(254))
    # fa, ps or en; None: the deployment's DEFAULT_LANGUAGE (checked on input, see domain.records).
    language: Mapped[str | None] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    enrollments: Mapped[list[Enrollment]] = relationship(back_populates="student")

    __table_args__ = (Index("ix_students_active_id", "active", "id"),)


class Course(db.Model):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Enrollment(db.Model):
    """A student in a course, with running hour totals kept in step with the records.

    The totals are rewritten from the attendance records in the same transaction as every
    attendance write, so a scan reads one row per (student, course) instead of every record.
    """

    __tablename__ = "enrollments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    # The term of the records it totals (see portal.models.terms): a student who retakes a
    # course has one enrollment per term, and each term's rates start from nothing.
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), default=1, server_default="1")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    held_hours: Mapped[Decimal] = mapped_column(HourTotal, default=Decimal("0"), server_default="0")
    absent_hours: Mapped[Decimal] = mapped_column(HourTotal, default=Decimal("0"), server_default="0")
    excused_hours: Mapped[Decimal] = mapped_column(HourTotal, default=Decimal("0"), server_default="0")
    # The same totals in whole hundredths of an hour, computed by the database from the columns
    # above so they can never disagree: the scan's pre-filter compares them in integer
    # arithmetic, several times faster than numeric (docs/performance.md).
    held_hundredths: Mapped[int] = mapped_column(BigInteger, Computed(_hundredths("held_hours")))
    absent_hundredths: Mapped[int] = mapped_column(BigInteger, Computed(_hundredths("absent_hours")))
    excused_hundredths: Mapped[int] = mapped_column(BigInteger, Computed(_hundredths("excused_hours")))
    totals_updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    student: Mapped[Student] = relationship(back_populates="enrollments")
    course: Mapped[Course] = relationship()

    __table_args__ = (
        UniqueConstraint("student_id", "course_id", "term_id"),
        # The scan reads one term's enrollments of a student id range: this index keeps it
        # from reading (and filtering out) the rows of every other term (docs/performance.md).
        Index("ix_enrollments_term_student", "term_id", "student_id"),
    )


class AttendanceRecord(db.Model):
    __tablename__ = "attendance_records"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    # The term whose dates contain ``date`` (the open-ended term while no dated term exists),
    # set by every write path (portal.attendance.terms.term_of_dates).
    term_id: Mapped[int] = mapped_column(ForeignKey("terms.id"), default=1, server_default="1")
    slot: Mapped[int] = mapped_column(SmallInteger)
    hours: Mapped[Decimal] = mapped_column(Hours)
    status: Mapped[str] = mapped_column(String(8))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("student_id", "course_id", "date", "slot"),
        CheckConstraint("hours > 0", name="hours_positive"),
        CheckConstraint("status IN ('present', 'late', 'absent', 'sick', 'leave')", name="status_known"),
        Index("ix_attendance_records_course_date", "course_id", "date"),
    )
