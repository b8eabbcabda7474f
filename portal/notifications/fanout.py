"""Turning newly opened alerts into notifications and per-channel deliveries, in bulk.

Inbox deliveries are written at once (an in-app message cannot fail transiently); email and
webhook deliveries are left ``pending`` with a job id, for the caller to enqueue after commit.
Inside quiet hours those of a quiet kind are due at the window's end, their jobs scheduled
then (``QueuedDeliveries.held``); inbox messages are written at once all the same.

An immediate check creates the notifications of what it opened in its own transaction. A full
scan batch commits its alerts and enqueues fan-out jobs (``workers.deliveries.notify``, up to
``FANOUT_CHUNK`` alerts each) that create them: the scan's critical path writes only alerts.
The alert row is the truth either way: ``requeue_missing_notifications`` (the retry processor)
enqueues the fan-out again for any unsuppressed alert that has no notification after
``FANOUT_GRACE``, and a notification is unique per alert, so running a fan-out twice adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import queues
from portal.clock import iso_utc, utcnow
from portal.domain.forecast import forecast
from portal.domain.letters import letter_values
from portal.domain.messages import AlertFacts
from portal.domain.rules import Thresholds
from portal.extensions import db
from portal.models import Alert, Course, Delivery, InboxMessage, Notification, Offering, Student
from portal.notifications.deliveries import quiet_until
from portal.notifications.letters import Letter, LetterBook
from portal.storage.bulk import insert_rows

DELIVERY_CHUNK = 100  # deliveries per RQ job: one SMTP connection serves the whole chunk
FANOUT_CHUNK = 1000  # alerts per fan-out job
# An alert still without its notification this long after it opened lost its fan-out job
# (Redis flushed, worker killed); older than FANOUT_WINDOW it is no longer looked for.
FANOUT_GRACE = timedelta(minutes=10)
FANOUT_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class OpenedAlert:
    """An alert that was just inserted, with what its message needs to say."""

    alert_id: int
    student_id: int
    facts: AlertFacts
    email: str | None
    guardian_email: str | None
    opened_at: datetime
    language: str = "en"  # the letters' language: the student's, else DEFAULT_LANGUAGE


@dataclass
class QueuedDeliveries:
    """Delivery jobs to enqueue after commit: (queue name, job id, delivery ids); ``held``: the
    jobs of deliveries quiet hours hold, (queue name, job id, delivery ids, when: naive UTC)."""

    jobs: list[tuple[str, str, list[int]]] = field(default_factory=list)
    held: list[tuple[str, str, list[int], datetime]] = field(default_factory=list)
    notifications: int = 0  # notifications created (an alert already notified is not counted)

    @property
    def delivery_count(self) -> int:
        return sum(len(ids) for _, _, ids in self.jobs) + sum(len(ids) for _, _, ids, _ in self.held)


def webhook_document(alert: OpenedAlert) -> dict:
    """Return the JSON document POSTed to the webhook for ``alert``, without its subject and body.

    It is stored as the notification's payload; the sender adds ``subject`` and ``body`` from
    the notification's own columns, so the ~600-character text is stored once, not twice.
    The webhook carries the student's letter, in the student's language.
    """
    f = alert.facts
    return {
        "language": alert.language,
        "recipient": "student",
        "event": "attendance.alert",
        "alertId": alert.alert_id,
        "kind": f.kind,
        "studentNumber": f.student_number,
        "studentName": f.student_name,
        "courseCode": f.course_code,
        "courseTitle": f.course_title,
        "rate": str(f.rate),
        "threshold": str(f.threshold),
        "heldHours": str(f.held),
        "absentHours": str(f.absent),
        "excusedHours": str(f.excused),
        "openedAt": iso_utc(alert.opened_at),
    }


def guardian_address(alert: OpenedAlert, guardian_kinds: Sequence[str]) -> str | None:
    """The guardian's address when this alert's kind reaches guardians (``GUARDIAN_KINDS``)
    and it differs from the student's own; else None."""
    address = alert.guardian_email
    if alert.facts.kind not in guardian_kinds or not address or address == alert.email:
        return None
    return address


def _recipients(
    alert: OpenedAlert, smtp_on: bool, webhook_url: str, guardian: str | None
) -> list[tuple[str, str, str | None, str | None]]:
    """Return ``(channel, recipient, skip_reason, audience)`` for every channel of one
    notification; ``audience`` is "guardian" for the guardian's email, else None (the student's)."""
    out: list[tuple[str, str, str | None, str | None]] = [
        ("inbox", f"student:{alert.facts.student_number}", None, None)
    ]
    if not smtp_on:
        out.append(("email", "", "email channel not configured (SMTP_URL is empty)", None))
    else:
        if alert.email:
            out.append(("email", alert.email, None, None))
        else:
            out.append(("email", "", "student has no email address", None))
        if guardian:
            out.append(("email", guardian, None, "guardian"))
    if webhook_url:
        out.append(("webhook", webhook_url, None, None))
    else:
        out.append(("webhook", "", "webhook channel not configured (WEBHOOK_URL is empty)", None))
    return out


def _letters(alerts: list[OpenedAlert], book: LetterBook, guardian_kinds: Sequence[str]) -> dict[int, tuple]:
    """Render each alert's letters once: ``{alert_id: (student Letter, guardian Letter or None,
    guardian address or None)}``; both letters are in the student's language."""
    out = {}
    for a in alerts:
        values = letter_values(a.facts, a.language)
        guardian = guardian_address(a, guardian_kinds)
        student_letter = book.write(a.facts.kind, "student", a.language, values)
        guardian_letter = book.write(a.facts.kind, "guardian", a.language, values) if guardian else None
        out[a.alert_id] = (student_letter, guardian_letter, guardian)
    return out


def _notification_row(a: OpenedAlert, student: Letter, guardian: Letter | None, now: datetime) -> dict:
    return {
        "alert_id": a.alert_id,
        "student_id": a.student_id,
        "kind": a.facts.kind,
        "subject": student.subject[:300],
        "body": student.body,
        "payload": webhook_document(a),
        "created_at": now,
        "language": a.language,
        "template_version": student.version,
        "guardian_subject": guardian.subject[:300] if guardian else None,
        "guardian_body": guardian.body if guardian else None,
        "guardian_template_version": guardian.version if guardian else None,
    }


def create_notifications(session: Session, alerts: list[OpenedAlert], now: datetime) -> QueuedDeliveries:
    """Insert one notification per alert, its deliveries and inbox messages; return jobs to enqueue.

    Does not commit. Notifications are unique per alert, so a repeated call adds nothing.
    """
    queued = QueuedDeliveries()
    if not alerts:
        return queued
    letters = _letters(alerts, LetterBook.load(session), current_app.config["GUARDIAN_KINDS"])
    by_alert = {a.alert_id: a for a in alerts}
    rows = [_notification_row(a, *letters[a.alert_id][:2], now) for a in alerts]
    inserted = insert_rows(session, Notification.__table__, rows, ("id", "alert_id"), conflict_index=("alert_id",))
    notification_alerts = {nid: by_alert[alert_id] for nid, alert_id in inserted}
    queued.notifications = len(notification_alerts)
    guardians = {nid: letters[a.alert_id][2] for nid, a in notification_alerts.items()}
    delivery_rows, job_queue = _delivery_rows(notification_alerts, guardians, now)
    ids_by_job: dict[str, list[int]] = defaultdict(list)
    inbox_rows = []
    returning = ("id", "notification_id", "channel", "job_id")
    for did, nid, channel, job_id in insert_rows(session, Delivery.__table__, delivery_rows, returning):
        if channel == "inbox":
            alert = notification_alerts[nid]
            letter = letters[alert.alert_id][0]
            inbox_rows.append(
                {
                    "student_id": alert.student_id,
                    "delivery_id": did,
                    "subject": letter.subject[:300],
                    "body": letter.body,
                    "urgent": alert.facts.kind == "mahroom",
                    "created_at": now,
                }
            )
        elif job_id:
            ids_by_job[job_id].append(did)
    insert_rows(session, InboxMessage.__table__, inbox_rows)
    for job_id, ids in ids_by_job.items():
        queue_name, when = job_queue[job_id]
        if when is None:
            queued.jobs.append((queue_name, job_id, sorted(ids)))
        else:
            queued.held.append((queue_name, job_id, sorted(ids), when))
    return queued


def _delivery_rows(
    notification_alerts: dict[int, OpenedAlert], guardians: dict[int, str | None], now: datetime
) -> tuple[list[dict], dict[str, tuple[str, datetime | None]]]:
    """The delivery rows of new notifications (by id), and the queue and start time (None: now)
    of each delivery job id.

    Inbox deliveries are sent already, unconfigured or address-less channels skipped; the rest
    wait in jobs of ``DELIVERY_CHUNK``, mahroom on the urgent queue; those quiet hours hold are
    due at the window's end, in jobs of their own scheduled then.
    """
    config = current_app.config
    smtp_on, webhook_url = bool(config.get("SMTP_URL")), config.get("WEBHOOK_URL") or ""
    delivery_rows: list[dict] = []
    pending: dict[tuple[str, datetime | None], list[dict]] = defaultdict(list)
    holds: dict[str, datetime | None] = {}  # by kind: one look at the clock per call, not per row
    for nid, alert in notification_alerts.items():
        for channel, recipient, skip, audience in _recipients(alert, smtp_on, webhook_url, guardians[nid]):
            row = {
                "notification_id": nid,
                "kind": alert.facts.kind,
                "channel": channel,
                "recipient": recipient[:500],
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_attempt_at": None,
                "last_error": skip,
                "sent_at": None,
                "job_id": None,
                "audience": audience,
                "created_at": now,
                "updated_at": now,
            }
            if channel == "inbox":
                row.update(status="sent", attempts=1, next_attempt_at=None, last_attempt_at=now, sent_at=now)
            elif skip:
                row.update(status="skipped", next_attempt_at=None)
            else:
                kind = alert.facts.kind
                if kind not in holds:
                    holds[kind] = quiet_until(kind, now)
                row["next_attempt_at"] = holds[kind] or now
                pending[(queues.URGENT if kind == "mahroom" else queues.NOTIFICATIONS, holds[kind])].append(row)
            delivery_rows.append(row)
    return delivery_rows, _chunk_jobs(pending)


def _chunk_jobs(pending: dict[tuple[str, datetime | None], list[dict]]) -> dict[str, tuple[str, datetime | None]]:
    """Give the pending rows job ids, ``DELIVERY_CHUNK`` a job; return each job's queue and time."""
    job_queue: dict[str, tuple[str, datetime | None]] = {}
    for (queue_name, when), rows_for_queue in pending.items():
        for start in range(0, len(rows_for_queue), DELIVERY_CHUNK):
            job_id = queues.delivery_batch_job_id() if when is None else queues.delivery_batch_job_id("deliveries-held")
            job_queue[job_id] = (queue_name, when)
            for row in rows_for_queue[start : start + DELIVERY_CHUNK]:
                row["job_id"] = job_id
    return job_queue


def enqueue_delivery_jobs(queued: QueuedDeliveries) -> int:
    """Enqueue the delivery jobs (after the commit that created them); return jobs enqueued.

    If this fails (Redis down, worker killed) the deliveries stay pending with a job id that
    Redis lacks, and the retry processor re-enqueues them.
    """
    by_queue: dict[str, list] = defaultdict(list)
    for queue_name, job_id, ids in queued.jobs:
        by_queue[queue_name].append((queues.DELIVER, (ids,), {"job_id": job_id}))
    for queue_name, job_id, ids, when in queued.held:  # quiet hours: run when the window ends
        queues.enqueue_at(queue_name, when, queues.DELIVER, ids, job_id=job_id)
    return len(queued.held) + sum(len(queues.enqueue_many(name, calls)) for name, calls in by_queue.items())


def enqueue_fanout(alerts: Sequence[tuple[int, str]], job_id_prefix: str | None = None) -> int:
    """Enqueue fan-out jobs for ``(alert_id, kind)`` pairs (after the commit that opened them).

    Mahroom alerts go first, so their notifications (and urgent deliveries) are created first.
    With ``job_id_prefix`` the job ids are deterministic (``PREFIX-0``, ``PREFIX-1``...), so the
    same batch enqueuing again replaces its jobs instead of adding more. Returns jobs enqueued.
    """
    ordered = [a for a, kind in alerts if kind == "mahroom"] + [a for a, kind in alerts if kind != "mahroom"]
    calls = []
    for n, start in enumerate(range(0, len(ordered), FANOUT_CHUNK)):
        options = {"job_id": f"{job_id_prefix}-{n}"} if job_id_prefix else {}
        calls.append((queues.NOTIFY_ALERTS, (ordered[start : start + FANOUT_CHUNK],), options))
    return len(queues.enqueue_many(queues.NOTIFICATIONS, calls))


def opened_alerts(session: Session, alert_ids: Sequence[int]) -> list[OpenedAlert]:
    """Load what the notifications of the given unsuppressed alerts need to say (one query)."""
    if not alert_ids:
        return []
    default_language = current_app.config["DEFAULT_LANGUAGE"]
    rows = session.execute(
        select(
            Alert.id,
            Alert.student_id,
            Alert.kind,
            Alert.rate,
            Alert.threshold,
            Alert.held_hours,
            Alert.absent_hours,
            Alert.excused_hours,
            Alert.opened_at,
            Student.name,
            Student.student_number,
            Student.email,
            Student.guardian_email,
            Student.language,
            Course.code,
            Course.title,
            Offering.planned_hours,
        )
        .join(Student, Student.id == Alert.student_id)
        .join(Course, Course.id == Alert.course_id)
        .outerjoin(Offering, (Offering.term_id == Alert.term_id) & (Offering.course_id == Alert.course_id))
        .where(Alert.id.in_(sorted(set(alert_ids))), Alert.suppressed.is_(False))
        .order_by(Alert.id)
    ).all()
    thresholds = Thresholds.from_config(current_app.config)
    return [
        OpenedAlert(
            r.id,
            r.student_id,
            AlertFacts(
                r.kind,
                r.name,
                r.student_number,
                r.code,
                r.title,
                r.rate,
                r.threshold,
                r.held_hours,
                r.absent_hours,
                r.excused_hours,
                forecast(r.planned_hours, r.absent_hours, thresholds.warning, thresholds.mahroom),
            ),
            r.email,
            r.guardian_email,
            r.opened_at,
            r.language or default_language,
        )
        for r in rows
    ]


def notify_alerts(alert_ids: Sequence[int]) -> dict:
    """Create the notifications, deliveries and inbox messages of the given alerts, commit, and
    enqueue their delivery jobs. Alerts that are suppressed or already notified get nothing.
    Returns ``{"notifications": n, "deliveryJobs": m}``."""
    session = db.session
    alerts = opened_alerts(session, alert_ids)
    queued = create_notifications(session, alerts, utcnow())
    session.commit()
    return {"notifications": queued.notifications, "deliveryJobs": enqueue_delivery_jobs(queued)}


def requeue_missing_notifications(now: datetime | None = None) -> int:
    """Enqueue the fan-out again for unsuppressed alerts opened between ``FANOUT_WINDOW`` and
    ``FANOUT_GRACE`` ago that have no notification (their job was lost); return how many alerts."""
    now = now or utcnow()
    rows = db.session.execute(
        select(Alert.id, Alert.kind)
        .outerjoin(Notification, Notification.alert_id == Alert.id)
        .where(
            Alert.suppressed.is_(False),
            Alert.opened_at >= now - FANOUT_WINDOW,
            Alert.opened_at <= now - FANOUT_GRACE,
            Notification.id.is_(None),
        )
        .order_by(Alert.id)
    ).all()
    db.session.rollback()
    if rows:
        enqueue_fanout([(r.id, r.kind) for r in rows])
    return len(rows)
