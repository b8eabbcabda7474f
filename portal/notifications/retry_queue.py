"""The retry queue: deliveries that failed at least once and wait for their next attempt.

Fresh deliveries (no attempt yet) are not in it: clearing the retry queue never cancels a
notification that has not been tried. Every state change here is audit-logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, select, update

from portal import audit, queues, redis_status
from portal.clock import iso_utc, utcnow
from portal.domain import quiet_hours
from portal.domain.rules import ALERT_KINDS
from portal.extensions import db
from portal.models import Alert, Course, Delivery, Notification, Student
from portal.notifications.deliveries import quiet_until
from portal.notifications.fanout import DELIVERY_CHUNK

log = logging.getLogger(__name__)

RETRYABLE = ("pending", "dead")


class DeliveryNotFound(LookupError):
    """No delivery has that id."""


class DeliveryStateError(ValueError):
    """The delivery is in a state that does not allow the action (the message says which)."""


def _waiting():
    return (Delivery.status == "pending") & (Delivery.attempts > 0)


def retry_queue_status() -> dict:
    """Return ``{totalPending, byType, byAttempts, grid, dead}``: waiting retries by alert kind,
    by attempts made and by both (``grid[kind][attempts]``), and how many deliveries are dead.

    One statement: the (status, kind, attempts) index holds both the waiting and the dead rows.
    """
    by_type = dict.fromkeys(ALERT_KINDS, 0)
    by_attempts: dict[str, int] = {}
    grid: dict[str, dict[str, int]] = {kind: {} for kind in ALERT_KINDS}
    dead = 0
    rows = db.session.execute(
        select(Delivery.status, Delivery.kind, Delivery.attempts, func.count())
        .where(_waiting() | (Delivery.status == "dead"))
        .group_by(Delivery.status, Delivery.kind, Delivery.attempts)
    )
    for status, kind, attempts, count in rows:
        if status == "dead":
            dead += count
            continue
        by_type[kind] = by_type.get(kind, 0) + count
        by_attempts[str(attempts)] = by_attempts.get(str(attempts), 0) + count
        grid.setdefault(kind, {})[str(attempts)] = count
    return {
        "totalPending": sum(by_type.values()),
        "byType": by_type,
        "byAttempts": dict(sorted(by_attempts.items(), key=lambda kv: int(kv[0]))),
        "grid": {kind: dict(sorted(cells.items(), key=lambda kv: int(kv[0]))) for kind, cells in grid.items()},
        "dead": dead,
    }


def clear_retry_queue(actor: str, source: str, ip: str | None = None) -> int:
    """Cancel every delivery waiting for a retry, remove their scheduled jobs; return how many.

    ``ip`` is the caller's address for the audit log (None from the CLI).
    """
    session = db.session
    rows = session.execute(select(Delivery.id, Delivery.job_id).where(_waiting())).all()
    ids = [r.id for r in rows]
    now = utcnow()
    for start in range(0, len(ids), 500):
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids[start : start + 500]), _waiting())
            .values(status="cancelled", next_attempt_at=None, job_id=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    audit.record(actor, "retry_queue.clear", "retry-queue", details={"cancelled": len(ids)}, source=source, ip=ip)
    session.commit()
    remove_retry_jobs(r.job_id for r in rows)
    return len(ids)


def remove_retry_jobs(job_ids: Iterable[str | None]) -> int:
    """Remove the deliveries' own retry jobs from Redis after the database cancelled them;
    return how many were removed.

    Best effort: with Redis down the cancellation stands (the database is the truth) and a
    job left behind finds its delivery no longer pending, so it claims and sends nothing.
    """
    removed = 0
    stale = [job_id for job_id in job_ids if queues.is_delivery_retry_job(job_id)]
    if not stale or not redis_status.redis_reachable():
        return 0
    try:
        for job_id in stale:
            removed += queues.remove_job(job_id)
    except RedisError as exc:
        redis_status.note_redis_down(exc)
        log.warning(
            "deliveries cancelled, %d retry jobs left in Redis (%s): they find nothing to send", len(stale), exc
        )
    return removed


def _get(delivery_id: int) -> Delivery:
    delivery = db.session.get(Delivery, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(f"no delivery {delivery_id}")
    return delivery


def retry_delivery(delivery_id: int, actor: str, source: str, ip: str | None = None) -> dict:
    """Attempt a dead or pending delivery now (an RQ job on the notifications queue); return it.

    A dead delivery gets one more attempt; if that fails it is dead again. Inside quiet hours
    a delivery of a quiet kind is attempted when the window ends (its ``nextAttemptAt``).
    """
    delivery = _get(delivery_id)
    if delivery.status not in RETRYABLE:
        raise DeliveryStateError(
            f"delivery {delivery_id} is {delivery.status}; only pending or dead deliveries can be retried"
        )
    redis_status.require_redis()  # before any change: a retry that cannot be queued is no retry
    old_job, previous = delivery.job_id, delivery.status
    job_id = queues.delivery_retry_job_id(delivery.id, delivery.attempts + 1)
    now = utcnow()
    held = quiet_until(delivery.kind, now) if delivery.channel != "inbox" else None
    delivery.status, delivery.next_attempt_at, delivery.job_id, delivery.updated_at = (
        "pending",
        held or now,
        job_id,
        now,
    )
    audit.record(
        actor,
        "delivery.retry",
        f"delivery:{delivery_id}",
        details={"was": previous, "attempts": delivery.attempts},
        source=source,
        ip=ip,
    )
    db.session.commit()
    for stale in {old_job, job_id}:
        if queues.is_delivery_retry_job(stale):
            queues.remove_job(stale)
    if held:
        queues.enqueue_at(queues.NOTIFICATIONS, held, queues.DELIVER, [delivery.id], job_id=job_id)
    else:
        queues.enqueue(queues.NOTIFICATIONS, queues.DELIVER, [delivery.id], job_id=job_id)
    return delivery_dict(delivery)


def cancel_delivery(delivery_id: int, actor: str, source: str, ip: str | None = None) -> dict:
    """Cancel a pending or dead delivery (kept, status ``cancelled``) and remove its retry job."""
    delivery = _get(delivery_id)
    if delivery.status not in RETRYABLE:
        raise DeliveryStateError(
            f"delivery {delivery_id} is {delivery.status}; only pending or dead deliveries can be cancelled"
        )
    old_job, previous = delivery.job_id, delivery.status
    delivery.status, delivery.next_attempt_at, delivery.job_id, delivery.updated_at = "cancelled", None, None, utcnow()
    audit.record(
        actor,
        "delivery.cancel",
        f"delivery:{delivery_id}",
        details={"was": previous, "attempts": delivery.attempts},
        source=source,
        ip=ip,
    )
    db.session.commit()
    remove_retry_jobs([old_job])
    return delivery_dict(delivery)


def requeue_due_deliveries(now: datetime | None = None) -> int:
    """Re-enqueue every pending delivery due by ``now`` whose job is gone from Redis; return how many.

    The safety net after Redis lost data or a worker died before enqueuing: the database says
    what is pending, Redis only carries the work.
    """
    now = now or utcnow()
    session = db.session
    queues.clean_abandoned_jobs()  # a job whose worker was killed is not live any more
    due = session.execute(
        select(Delivery.id, Delivery.job_id, Delivery.kind)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.id)
    ).all()
    live = queues.live_job_ids(r.job_id for r in due if r.job_id)
    orphans = [r for r in due if r.job_id not in live]
    by_queue: dict[str, list[int]] = {}
    for r in orphans:
        by_queue.setdefault(queues.URGENT if r.kind == "mahroom" else queues.NOTIFICATIONS, []).append(r.id)
    for queue_name, ids in by_queue.items():
        calls = []
        for start in range(0, len(ids), DELIVERY_CHUNK):
            chunk, job_id = ids[start : start + DELIVERY_CHUNK], queues.delivery_batch_job_id("deliveries-requeued")
            session.execute(
                update(Delivery).where(Delivery.id.in_(chunk), Delivery.status == "pending").values(job_id=job_id)
            )
            calls.append((queues.DELIVER, (chunk,), {"job_id": job_id}))
        session.commit()
        queues.enqueue_many(queue_name, calls)
    return len(orphans)


def held_until_labels(items: list[dict]) -> dict[int, str]:
    """``{delivery id: "07:00"}`` for the pending deliveries in ``items`` (``delivery_dict``s) that
    wait for the end of quiet hours: a quiet kind due exactly when the window ends (local time)."""
    config = current_app.config
    window = quiet_hours.parse_window(config.get("QUIET_HOURS") or "")
    if window is None:
        return {}
    zone, labels = config["UNIVERSITY_TIMEZONE"], {}
    for d in items:
        if d["status"] != "pending" or d["kind"] not in config["QUIET_KINDS"] or not d["nextAttemptAt"]:
            continue
        due = datetime.fromisoformat(d["nextAttemptAt"].removesuffix("Z"))
        if quiet_hours.is_window_end(due, window, zone):
            labels[d["id"]] = quiet_hours.local_time_label(due, zone)
    return labels


def delivery_dict(d: Delivery, student_number: str | None = None, course_code: str | None = None) -> dict:
    """Return a delivery as the API shows it (times ISO 8601 UTC)."""
    return {
        "id": d.id,
        "notificationId": d.notification_id,
        "kind": d.kind,
        "channel": d.channel,
        "recipient": d.recipient,
        "status": d.status,
        "attempts": d.attempts,
        "nextAttemptAt": iso_utc(d.next_attempt_at),
        "lastAttemptAt": iso_utc(d.last_attempt_at),
        "lastError": d.last_error,
        "sentAt": iso_utc(d.sent_at),
        "createdAt": iso_utc(d.created_at),
        "studentNumber": student_number,
        "courseCode": course_code,
    }


def delivery_conditions(
    status: str | None, kind: str | None = None, attempts: int | None = None, channel: str | None = None
) -> list:
    """The WHERE conditions of a filtered list of deliveries (``status="waiting"``: the retry
    queue); the list, its count and the group actions on it all use these."""
    conditions = []
    if status == "waiting":
        conditions.append(_waiting())
    elif status:
        conditions.append(Delivery.status == status)
    if kind:
        conditions.append(Delivery.kind == kind)
    if attempts is not None:
        conditions.append(Delivery.attempts == attempts)
    if channel:
        conditions.append(Delivery.channel == channel)
    return conditions


def list_deliveries(
    status: str | None,
    page: int = 1,
    per_page: int = 50,
    kind: str | None = None,
    attempts: int | None = None,
    channel: str | None = None,
) -> dict:
    """Return one page of deliveries (newest first) filtered by status, kind, attempts, channel.

    ``status="waiting"`` means the retry queue (pending with at least one attempt made).
    """
    page, per_page = max(1, int(page)), max(1, min(int(per_page), 500))
    conditions = delivery_conditions(status, kind, attempts, channel)
    # Every delivery has a notification, alert, student and course (non-null foreign keys), so
    # the joins change no count: count and page the deliveries alone (the ix_deliveries_status_*
    # indexes), then join the page's rows only. Joined before the LIMIT, the database read the
    # notification, alert, student and course of every matching (and every skipped) delivery.
    total = db.session.execute(select(func.count()).select_from(Delivery).where(*conditions)).scalar_one()
    page_ids = (
        select(Delivery.id)
        .where(*conditions)
        .order_by(Delivery.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
        .subquery()
    )
    rows = db.session.execute(
        select(Delivery, Student.student_number, Course.code)
        .join(page_ids, page_ids.c.id == Delivery.id)
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(Alert, Alert.id == Notification.alert_id)
        .join(Student, Student.id == Alert.student_id)
        .join(Course, Course.id == Alert.course_id)
        .order_by(Delivery.id.desc())
    ).all()
    return {
        "items": [delivery_dict(d, number, code) for d, number, code in rows],
        "total": total,
        "page": page,
        "perPage": per_page,
    }
