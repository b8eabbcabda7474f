"""Pausing an RQ queue: workers take nothing from it, its jobs wait in it, nothing is lost.

RQ itself can only suspend every worker at once (``rq suspend``). A pause here is a member of
one Redis set; ``workers.worker.PortalWorker`` reads it before each dequeue (and puts back a job
it popped from a queue paused meanwhile), and shows it in its state, which ``rq info`` prints:
``idle (paused: notifications)``. The pause lives in Redis with the queue it holds: a Redis
that loses its data loses both, and the retry processor re-creates the work unpaused.
"""

from __future__ import annotations

from redis import Redis

from portal import audit, queues

PAUSED_QUEUES_KEY = "portal:queues:paused"


class UnknownQueue(LookupError):
    """No queue has that name; the message lists the queues there are."""

    def __init__(self, name: str):
        super().__init__(f"No queue named {name[:100]!r}; queues are: {', '.join(queues.QUEUE_NAMES)}.")


def paused_queue_names(connection: Redis | None = None) -> set[str]:
    """Return the names of the paused queues (one SMEMBERS)."""
    members = (connection or queues.get_redis()).smembers(PAUSED_QUEUES_KEY)
    return {m.decode() if isinstance(m, bytes) else m for m in members}


def _check(name: str) -> str:
    if name not in queues.QUEUE_NAMES:
        raise UnknownQueue(name)
    return name


def pause_queue(name: str, actor: str, source: str, ip: str | None = None) -> bool:
    """Pause queue ``name`` (audit-logged); return False when it was paused already.

    Raises UnknownQueue (nothing changed) or RedisError.
    """
    changed = bool(queues.get_redis().sadd(PAUSED_QUEUES_KEY, _check(name)))
    audit.record(actor, "queue.pause", name, details={"changed": changed}, source=source, ip=ip, commit=True)
    return changed


def resume_queue(name: str, actor: str, source: str, ip: str | None = None) -> bool:
    """Resume queue ``name`` (audit-logged); return False when it was not paused.

    Raises UnknownQueue (nothing changed) or RedisError.
    """
    changed = bool(queues.get_redis().srem(PAUSED_QUEUES_KEY, _check(name)))
    audit.record(actor, "queue.resume", name, details={"changed": changed}, source=source, ip=ip, commit=True)
    return changed


def queue_states() -> list[dict]:
    """Return per queue, most urgent first, ``{name, paused, length}``."""
    paused = paused_queue_names()
    connection = queues.get_redis()
    return [{"name": q.name, "paused": q.name in paused, "length": q.count} for q in queues.all_queues(connection)]
