"""Attempting deliveries: claim, send, record each outcome, schedule retries.

A job gets a list of delivery ids. Claiming (one UPDATE ... RETURNING) counts the attempt and
pushes ``next_attempt_at`` out by a lease, so two jobs holding the same id never both send it,
and a worker killed mid-send is retried once the lease has passed: at worst a message sent just
before the kill is sent once more. The lease does not hold back the job itself when RQ puts it
back on its queue after its worker died (a retake, ``deliver(..., retaken_by=job_id)``): the
deliveries still carrying that job's id were claimed by its dead execution, and RQ's heartbeat
says nothing else is running that job.

Quiet hours (``QUIET_HOURS``, ``QUIET_KINDS``; docs/rules.md): a first attempt or a retry of a
quiet kind that falls due inside the window gets the window's end as its ``next_attempt_at``
and an RQ job scheduled then (``enqueue_at``), so nothing runs during the night. The claim is
the one gate every path goes through (a job queued before the window began, the retry
processor's re-enqueue, retry-now, a lease that expired at night): while the window is on it
claims no delivery of a quiet kind and moves those that were due to the window's end instead.
With ``QUIET_HOURS`` empty none of this runs a statement.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from portal import queues
from portal.clock import utcnow
from portal.domain import quiet_hours
from portal.domain.retry import RetryPolicy
from portal.extensions import db
from portal.models import Delivery, InboxMessage, Notification
from portal.notifications.mime import letter_body
from portal.notifications.senders import DeliveryFailure, SmtpSender, WebhookSender
from portal.storage.upsert import insert_ignore

# Under every webhook document: a notification stored before letters were translated has
# neither key in its payload, and its text is English. The webhook carries the student's letter.
WEBHOOK_DEFAULTS = {"language": "en", "recipient": "student"}
log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=15)
COMMIT_EVERY = 25


def retry_policy() -> RetryPolicy:
    """Return the retry policy configured by ``RETRY_DELAYS_MINUTES``."""
    return RetryPolicy(tuple(current_app.config["RETRY_DELAYS_MINUTES"]))


def _quiet_window():
    """``(window, zone)`` when quiet hours are on, else None."""
    config = current_app.config
    if not config.get("QUIET_HOURS") or not config.get("QUIET_KINDS"):
        return None
    return quiet_hours.parse_window(config["QUIET_HOURS"]), config["UNIVERSITY_TIMEZONE"]


def quiet_until(kind: str, due: datetime) -> datetime | None:
    """The end of the quiet-hours window (naive UTC) if a ``kind`` delivery due at ``due`` must
    wait for it; None when it may go (quiet hours off, a kind not in ``QUIET_KINDS``, outside)."""
    quiet = _quiet_window()
    if quiet is None or kind not in current_app.config["QUIET_KINDS"]:
        return None
    return quiet_hours.window_end(due, *quiet)


def held_kinds(now: datetime) -> tuple[tuple[str, ...], datetime | None]:
    """The kinds quiet hours hold at ``now`` and the window's end; ``((), None)`` when none are."""
    quiet = _quiet_window()
    until = quiet_hours.window_end(now, *quiet) if quiet else None
    return (tuple(current_app.config["QUIET_KINDS"]), until) if until else ((), None)


def claim(
    delivery_ids: list[int], now: datetime, held: tuple[str, ...] = (), retaken_by: str | None = None
) -> list[int]:
    """Claim the due pending deliveries among ``delivery_ids`` (none of the ``held`` kinds);
    return their ids (committed). With ``retaken_by`` (the RQ job id of a retake) those still
    leased to that job's dead execution are claimed too."""
    session = db.session
    claimed: list[int] = []
    ids = sorted(set(delivery_ids))
    for start in range(0, len(ids), 500):
        conditions = [
            Delivery.id.in_(ids[start : start + 500]),
            Delivery.status == "pending",
            Delivery.next_attempt_at <= now
            if retaken_by is None
            else or_(Delivery.next_attempt_at <= now, Delivery.job_id == retaken_by),
        ]
        if held:
            conditions.append(Delivery.kind.notin_(held))
        stmt = (
            update(Delivery)
            .where(*conditions)
            .values(
                attempts=Delivery.attempts + 1, last_attempt_at=now, next_attempt_at=now + CLAIM_LEASE, updated_at=now
            )
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        claimed.extend(session.execute(stmt).scalars())
    session.commit()
    return sorted(claimed)


def hold_until(delivery_ids: list[int], now: datetime, held: tuple[str, ...], until: datetime) -> list[int]:
    """Move the due pending deliveries of the ``held`` kinds among ``delivery_ids`` to ``until``
    (the end of quiet hours) with one job scheduled then; return their ids (committed)."""
    session = db.session
    job_id = queues.delivery_batch_job_id("deliveries-held")
    moved: list[int] = []
    ids = sorted(set(delivery_ids))
    for start in range(0, len(ids), 500):
        stmt = (
            update(Delivery)
            .where(
                Delivery.id.in_(ids[start : start + 500]),
                Delivery.status == "pending",
                Delivery.next_attempt_at <= now,
                Delivery.kind.in_(held),
            )
            .values(next_attempt_at=until, job_id=job_id, updated_at=now)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
        moved.extend(session.execute(stmt).scalars())
    session.commit()
    if moved:
        queues.enqueue_at(queues.NOTIFICATIONS, until, queues.DELIVER, sorted(moved), job_id=job_id)
    return sorted(moved)


class _Senders:
    """Opens at most one SMTP and one webhook connection per job, lazily."""

    def __init__(self) -> None:
        config = current_app.config
        self.config = config
        self.smtp: SmtpSender | None = None
        self.webhook: WebhookSender | None = None
        self.smtp_down: DeliveryFailure | None = None
        self.letters: dict[tuple[int, str | None], bytes] = {}

    def send(self, row) -> None:
        """Send one delivery row (delivery columns plus its notification's); raise DeliveryFailure."""
        if row.channel == "inbox":
            message = {"student_id": row.student_id, "delivery_id": row.id, "subject": row.subject, "body": row.body}
            insert_ignore(
                db.session,
                InboxMessage,
                [{**message, "urgent": row.kind == "mahroom", "created_at": utcnow()}],
                ["delivery_id"],
            )
        elif row.channel == "email":
            if not self.config.get("SMTP_URL"):
                raise DeliveryFailure("permanent", "email channel not configured (SMTP_URL is empty)")
            if self.smtp_down is not None:  # the server refused us a moment ago: do not hammer it
                raise self.smtp_down
            if self.smtp is None:
                self.smtp = SmtpSender(
                    self.config["SMTP_URL"], self.config["MAIL_FROM"], self.config["DELIVERY_TIMEOUT_SECONDS"]
                )
            try:
                self.smtp.send_letter(row.recipient, self.letter(row))
            except DeliveryFailure as failure:
                if failure.connection_lost:
                    self.smtp_down = failure
                raise
        elif row.channel == "webhook":
            if self.webhook is None or self.webhook.url != row.recipient:
                if self.webhook is not None:
                    self.webhook.close()
                self.webhook = WebhookSender(
                    row.recipient, self.config["DELIVERY_TIMEOUT_SECONDS"], self.config.get("WEBHOOK_SECRET", "")
                )
            # The stored payload leaves out the text; a notification written before it did
            # carries the same subject and body, so the result is the same document. One
            # stored before ``language`` and ``recipient`` existed gets today's values.
            document = {**WEBHOOK_DEFAULTS, **row.payload, "subject": row.subject, "body": row.body}
            self.webhook.send(document, row.id)
        else:
            raise DeliveryFailure("permanent", f"unknown channel {row.channel!r}")

    def letter(self, row) -> bytes:
        """The MIME letter of a row's audience (the guardian's or the student's), built once per
        notification and audience, whatever the number of recipients."""
        key = (row.notification_id, row.audience)
        if key not in self.letters:
            if row.audience == "guardian" and row.guardian_body is not None:
                subject, body = row.guardian_subject, row.guardian_body
            else:
                subject, body = row.subject, row.body
            self.letters[key] = letter_body(subject, body, row.language or "en")
        return self.letters[key]

    def close(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
        if self.webhook is not None:
            self.webhook.close()


def deliver(delivery_ids: list[int], retaken_by: str | None = None) -> dict:
    """Attempt each due pending delivery in ``delivery_ids`` once; return counts by outcome.

    ``retaken_by``: this is RQ job ``retaken_by`` put back after its worker died (see ``claim``).

    Sent deliveries become ``sent``; a transient failure waits for its next attempt (an RQ
    job scheduled at that time), a permanent one or the last attempt's failure is ``dead``.
    """
    now = utcnow()
    held, until = held_kinds(now)
    claimed = claim(delivery_ids, now, held, retaken_by)
    waiting = hold_until(delivery_ids, now, held, until) if held else []
    outcome = {"sent": 0, "retrying": 0, "dead": 0, "notDue": len(set(delivery_ids)) - len(claimed) - len(waiting)}
    if waiting:
        outcome["held"] = len(waiting)  # moved to the end of quiet hours
    if not claimed:
        return outcome
    session = db.session
    policy = retry_policy()
    senders = _Senders()
    changes: list[dict] = []
    retries: list[tuple[int, int, datetime]] = []
    try:
        rows = _claimed_rows(claimed)
        session.rollback()  # no transaction stays open while we talk to the network
        for n, row in enumerate(rows, start=1):
            change = {"id": row.id, "updated_at": utcnow()}
            try:
                senders.send(row)
            except DeliveryFailure as failure:
                retry = _failed(change, row, failure, policy, now)
                if retry:
                    retries.append(retry)
                outcome["retrying" if retry else "dead"] += 1
            else:
                change.update(status="sent", sent_at=utcnow(), next_attempt_at=None, job_id=None)
                outcome["sent"] += 1
            changes.append(change)
            if n % COMMIT_EVERY == 0:
                changes, retries = _record(changes, retries)
        _record(changes, retries)
    finally:
        senders.close()
    return outcome


def _claimed_rows(claimed: list[int]) -> list:
    """The claimed deliveries with what sending them needs of their notification."""
    return db.session.execute(
        select(
            Delivery.id,
            Delivery.channel,
            Delivery.recipient,
            Delivery.attempts,
            Delivery.audience,
            Delivery.notification_id,
            Notification.student_id,
            Notification.kind,
            Notification.subject,
            Notification.body,
            Notification.payload,
            Notification.language,
            Notification.guardian_subject,
            Notification.guardian_body,
        )
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.id.in_(claimed))
        .order_by(Delivery.id)
    ).all()


def _failed(change: dict, row, failure: DeliveryFailure, policy: RetryPolicy, now: datetime):
    """Fill ``change`` with a failed attempt's outcome; return the retry to schedule, if any,
    as ``(delivery id, attempt, when)``. A retry falling inside quiet hours waits for its end."""
    decision = policy.after_failure(row.attempts, failure.kind, now)
    pending = decision.status == "pending"
    next_at = decision.next_attempt_at and (quiet_until(row.kind, decision.next_attempt_at) or decision.next_attempt_at)
    change.update(
        status=decision.status,
        next_attempt_at=next_at,
        last_error=f"attempt {row.attempts} ({failure.kind}): {failure}"[:4000],
        job_id=queues.delivery_retry_job_id(row.id, row.attempts + 1) if pending else None,
    )
    return (row.id, row.attempts + 1, next_at) if pending else None


def _record(changes: list[dict], retries: list[tuple[int, int, datetime]]) -> tuple[list, list]:
    """Write outcomes (one bulk UPDATE by primary key), commit, then schedule the retries."""
    if changes:
        by_keys: dict[tuple, list[dict]] = {}
        for change in changes:
            by_keys.setdefault(tuple(sorted(change)), []).append(change)
        for group in by_keys.values():
            db.session.execute(update(Delivery), group)
        db.session.commit()
    _schedule_retries(retries)
    return [], []


def _schedule_retries(retries: list[tuple[int, int, datetime]]) -> None:
    """Schedule committed retries; if Redis fails, the retry processor re-enqueues them when due."""
    for delivery_id, attempt, when in retries:
        queues.enqueue_at(
            queues.NOTIFICATIONS,
            when,
            queues.DELIVER,
            [delivery_id],
            job_id=queues.delivery_retry_job_id(delivery_id, attempt),
        )
