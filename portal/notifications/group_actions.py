"""Group actions on a filtered list of the retry queue: retry all now, cancel all.

The confirmation page takes a snapshot of the list (how many match, the highest id); the
action then touches only deliveries that match the filter *and* were there at confirmation
(``id <= maxId``), so a delivery that arrives in between is left alone, and it reports how
many it touched against how many were shown. Set-based UPDATEs in chunks and one Redis
pipeline per queue: 10,000 deliveries take well under a second of SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update

from portal import audit, queues, redis_status
from portal.clock import utcnow
from portal.domain.rules import ALERT_KINDS
from portal.extensions import db
from portal.models import Delivery
from portal.notifications.deliveries import quiet_until
from portal.notifications.fanout import DELIVERY_CHUNK
from portal.notifications.retry_queue import RETRYABLE, delivery_conditions

ACTIONS = ("retry", "cancel")


@dataclass(frozen=True)
class Snapshot:
    """What the confirmation page showed: how many deliveries matched and the highest id."""

    count: int
    max_id: int


def _conditions(filters: dict[str, Any]) -> list:
    """The list's conditions (``filters`` from ``browse.delivery_filters``; tab pending = waiting)."""
    status = "waiting" if filters["status"] == "pending" else filters["status"]
    return delivery_conditions(status, filters.get("kind"), filters.get("attempts"), filters.get("channel"))


def take_snapshot(filters: dict[str, Any]) -> Snapshot:
    """Count the deliveries ``filters`` match now and note the highest id (one statement)."""
    count, max_id = db.session.execute(select(func.count(), func.max(Delivery.id)).where(*_conditions(filters))).one()
    return Snapshot(int(count), int(max_id or 0))


def _matching(filters: dict[str, Any], snapshot: Snapshot) -> list[tuple[int, str]]:
    """``(id, kind)`` of the deliveries still matching ``filters`` that were there at ``snapshot``."""
    conditions = [*_conditions(filters), Delivery.id <= snapshot.max_id, Delivery.status.in_(RETRYABLE)]
    return [tuple(row) for row in db.session.execute(select(Delivery.id, Delivery.kind).where(*conditions))]


def _audit(action: str, filters: dict, snapshot: Snapshot, touched: int, caller: dict) -> None:
    details = {"filter": filters, "shown": snapshot.count, "maxId": snapshot.max_id, "touched": touched}
    audit.record(caller["actor"], f"delivery.group_{action}", "retry-queue", details=details, **_where(caller))


def _where(caller: dict) -> dict:
    return {"source": caller["source"], "ip": caller.get("ip")}


def cancel_group(filters: dict[str, Any], snapshot: Snapshot, **caller: Any) -> int:
    """Cancel the deliveries ``filters`` matched at ``snapshot``; return how many were cancelled.

    Needs no Redis: their retry jobs, if any are left, find nothing pending to claim.
    """
    conditions = [*_conditions(filters), Delivery.id <= snapshot.max_id, Delivery.status.in_(RETRYABLE)]
    result = db.session.execute(
        update(Delivery)
        .where(*conditions)
        .values(status="cancelled", next_attempt_at=None, job_id=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    touched = int(result.rowcount or 0)
    _audit("cancel", filters, snapshot, touched, caller)
    db.session.commit()
    return touched


def retry_group(filters: dict[str, Any], snapshot: Snapshot, **caller: Any) -> int:
    """Attempt the deliveries ``filters`` matched at ``snapshot`` again now; return how many.

    Raises RedisUnavailable before any change when Redis does not answer. Each chunk is one RQ
    job, queued with ``enqueue_many`` (one pipeline per queue); mahroom goes on the urgent
    queue as the fan-out does. Committed before the enqueue: if Redis fails in between, the
    retry processor finds them pending, due and jobless, and queues them.
    """
    redis_status.require_redis()
    now = utcnow()
    held = {kind: until for kind in ALERT_KINDS if (until := quiet_until(kind, now)) is not None}
    by_queue: dict[str, list[int]] = {queues.URGENT: [], queues.NOTIFICATIONS: []}
    for delivery_id, kind in _matching(filters, snapshot):
        by_queue[queues.URGENT if kind == "mahroom" else queues.NOTIFICATIONS].append(delivery_id)
    touched, calls = 0, {}
    for queue_name, ids in by_queue.items():
        for start in range(0, len(ids), DELIVERY_CHUNK):
            chunk = sorted(ids[start : start + DELIVERY_CHUNK])
            touched += _hold_for_quiet_hours(chunk, held, now)
            job_id = queues.delivery_batch_job_id("deliveries-retried")
            # The range lets the planner walk the primary key even on statistics that predate the rows.
            immediate = [
                Delivery.id.between(chunk[0], chunk[-1]),
                Delivery.id.in_(chunk),
                Delivery.status.in_(RETRYABLE),
            ]
            if held:  # those were set due at the window's end just above
                immediate.append(or_(Delivery.kind.notin_(list(held)), Delivery.channel == "inbox"))
            result = db.session.execute(
                update(Delivery)
                .where(*immediate)
                .values(status="pending", next_attempt_at=now, job_id=job_id, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount:
                touched += int(result.rowcount)
                calls.setdefault(queue_name, []).append((queues.DELIVER, (chunk,), {"job_id": job_id}))
    _audit("retry", filters, snapshot, touched, caller)
    db.session.commit()
    for queue_name, queued in calls.items():
        queues.enqueue_many(queue_name, queued)
    return touched


def _hold_for_quiet_hours(chunk: list[int], held: dict[str, Any], now) -> int:
    """Set the chunk's email/webhook deliveries of the kinds quiet hours hold now due at the
    window's end, with no job (the retry processor queues them then); return how many."""
    count = 0
    for kind, until in held.items():
        result = db.session.execute(
            update(Delivery)
            .where(Delivery.id.between(chunk[0], chunk[-1]), Delivery.id.in_(chunk), Delivery.kind == kind)
            .where(Delivery.status.in_(RETRYABLE))
            .where(Delivery.channel != "inbox")
            .values(status="pending", next_attempt_at=until, job_id=None, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        count += int(result.rowcount or 0)
    return count
