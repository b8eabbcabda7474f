"""All Redis and RQ wiring: connections, queue names, enqueue helpers.

Nothing else in the project builds a ``Redis()`` or a ``Queue()``.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)

URGENT = "urgent"
THRESHOLDS = "thresholds"
NOTIFICATIONS = "notifications"
MAINTENANCE = "maintenance"
# Order matters: a worker listening on all of them takes urgent work first.
QUEUE_NAMES = (URGENT, THRESHOLDS, NOTIFICATIONS, MAINTENANCE)

# Job results are kept for a day (for the portal and `rq info`), never forever.
RESULT_TTL_SECONDS = 24 * 3600
FAILURE_TTL_SECONDS = 7 * 24 * 3600


class RedisUnavailable(RuntimeError):
    """Redis cannot be reached; the message names REDIS_URL."""


def redis_from_url(url: str) -> Redis:
    """Return a client for ``url`` (not yet connected)."""
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10, health_check_interval=30)


def get_redis() -> Redis:
    """Return the app's shared Redis client (one per app, created lazily)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    client = app.extensions.get("redis")
    if client is None:
        client = redis_from_url(app.config["REDIS_URL"])
        app.extensions["redis"] = client
    return client


def check_redis(url: str) -> None:
    """Raise RedisUnavailable with a clear message when ``url`` does not answer PING."""
    try:
        redis_from_url(url).ping()
    except (RedisError, OSError, ValueError) as exc:
        raise RedisUnavailable(f"Redis is not reachable at REDIS_URL={url!r}: {exc}") from None


def get_queue(name: str, connection: Redis | None = None) -> Queue:
    """Return the RQ queue ``name`` (one of QUEUE_NAMES)."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; expected one of {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=connection or get_redis(), default_timeout=600)


def all_queues(connection: Redis | None = None) -> list[Queue]:
    """Return every queue the workers listen on, most urgent first."""
    return [get_queue(name, connection) for name in QUEUE_NAMES]


def enqueue(queue_name: str, func: str, *args: Any, job_id: str | None = None, **options: Any):
    """Enqueue ``func`` (a dotted path) on ``queue_name`` and return the RQ job."""
    options.setdefault("result_ttl", RESULT_TTL_SECONDS)
    options.setdefault("failure_ttl", FAILURE_TTL_SECONDS)
    return get_queue(queue_name).enqueue(func, *args, job_id=job_id, **options)


def enqueue_many(queue_name: str, calls: Iterable[tuple[str, tuple, dict]]) -> list:
    """Enqueue many ``(func, args, options)`` calls in one Redis pipeline; return the jobs."""
    queue = get_queue(queue_name)
    prepared = []
    for func, args, options in calls:
        options = dict(options)
        options.setdefault("result_ttl", RESULT_TTL_SECONDS)
        options.setdefault("failure_ttl", FAILURE_TTL_SECONDS)
        prepared.append(Queue.prepare_data(func, args=args, **options))
    if not prepared:
        return []
    return queue.enqueue_many(prepared)
