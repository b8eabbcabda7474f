"""The students' inbox (the ``inbox`` channel's messages), as the student app reads it.

A page is 20 messages, newest first (by id: ids grow with the time they were written); the
unread count comes with every page. Both queries are shaped for the indexes of
``InboxMessage`` (portal/models/alerts.py): the page walks ``(student_id, id)`` backwards and
stops after the page, the counts read ``(student_id, id)`` or the partial unread index alone.
Marking a message read sets ``read_at`` once, in one conditional UPDATE, so concurrent or
repeated calls keep the first time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from portal.clock import iso_utc, utcnow
from portal.extensions import db
from portal.models import Alert, Course, Delivery, InboxMessage, Notification, Student

PER_PAGE = 20
# The language of a message written before letters were translated (its notification has none).
LEGACY_LANGUAGE = "en"


@dataclass(frozen=True)
class InboxPage:
    unread: int
    page: int
    pages: int
    messages: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {"unread": self.unread, "page": self.page, "pages": self.pages, "messages": self.messages}


def find_student(student_number: str) -> Student | None:
    """Return the student with ``student_number``, or None."""
    return db.session.execute(select(Student).where(Student.student_number == student_number)).scalar_one_or_none()


def _messages():
    """The columns of a message as the API shows it, joined to its delivery (kind) and course."""
    return (
        select(InboxMessage, Delivery.kind, Course.code, Notification.language)
        .join(Delivery, Delivery.id == InboxMessage.delivery_id)
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(Alert, Alert.id == Notification.alert_id)
        .join(Course, Course.id == Alert.course_id)
    )


def message_json(message: InboxMessage, kind: str, course_code: str, language: str | None) -> dict[str, Any]:
    return {
        "id": message.id,
        "kind": kind,
        "courseCode": course_code,
        "subject": message.subject,
        "body": message.body,
        "language": language or LEGACY_LANGUAGE,
        "createdAt": iso_utc(message.created_at),
        "readAt": iso_utc(message.read_at),
    }


def unread_count(student_id: int) -> int:
    """Return how many of the student's messages are unread (index-only on the partial index)."""
    return db.session.scalar(
        select(func.count())
        .select_from(InboxMessage)
        .where(InboxMessage.student_id == student_id, InboxMessage.read_at.is_(None))
    )


def inbox_page(student_id: int, page: int = 1, unread_only: bool = False) -> InboxPage:
    """Return page ``page`` (from 1) of the student's messages, newest first; past the last: none."""
    unread = unread_count(student_id)
    if unread_only:
        total = unread
    else:
        total = db.session.scalar(
            select(func.count()).select_from(InboxMessage).where(InboxMessage.student_id == student_id)
        )
    # The page's ids first, from the index alone (a deep page skips index entries, not joined
    # rows), then the 20 messages with their kind, course and language.
    ids = select(InboxMessage.id).where(InboxMessage.student_id == student_id)
    if unread_only:
        ids = ids.where(InboxMessage.read_at.is_(None))
    ids = ids.order_by(InboxMessage.id.desc()).limit(PER_PAGE).offset((page - 1) * PER_PAGE)
    messages = []
    if (page - 1) * PER_PAGE < total:
        page_ids = list(db.session.scalars(ids))
        stmt = _messages().where(InboxMessage.id.in_(page_ids)).order_by(InboxMessage.id.desc())
        messages = [message_json(*row) for row in db.session.execute(stmt)] if page_ids else []
    return InboxPage(unread, page, max(1, math.ceil(total / PER_PAGE)), messages)


def mark_read(student_id: int, message_id: int) -> dict[str, Any] | None:
    """Mark the student's message read (the first time only) and return it; None when the
    student has no message with that id. Commits."""
    db.session.execute(
        update(InboxMessage)
        .where(InboxMessage.id == message_id, InboxMessage.student_id == student_id, InboxMessage.read_at.is_(None))
        .values(read_at=utcnow().replace(microsecond=0))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    row = db.session.execute(
        _messages().where(InboxMessage.id == message_id, InboxMessage.student_id == student_id)
    ).one_or_none()
    return None if row is None else message_json(*row)
