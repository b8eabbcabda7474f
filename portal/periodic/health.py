"""System health and the queue/worker views of the dashboard, from RQ itself.

- ``critical``: Redis or the database unreachable, or half or more of the jobs in error.
- ``degraded``: some job in error, every job stopped, no live worker, or no scheduler heartbeat.
- ``healthy``: otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from portal import queues, redis_status
from portal.clock import iso_utc, utcnow
from portal.operations import queue_pause
from portal.periodic.jobs import list_job_status

log = logging.getLogger(__name__)


def system_health(job_statuses: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Return ``{"status", "reasons", "redis", "workers", "schedulerAlive", "errorJobs", "totalJobs"}``.

    ``job_statuses`` (from ``jobs.list_job_status``) is computed when not given.
    """
    reasons: list[str] = []
    workers, scheduler_ok = 0, False
    redis_ok = redis_status.redis_reachable()  # cached: a Redis that is down costs no timeout here
    if redis_ok:
        try:
            connection = queues.get_probe_redis()  # answers within seconds during a failover
            connection.ping()
            workers = queues.live_worker_count(connection)
            scheduler_ok = queues.scheduler_alive(connection)
        except (RedisError, OSError) as exc:
            log.warning("health: redis unreachable: %s", exc)
            redis_status.note_redis_down(exc)
            redis_ok = False
    if not redis_ok:
        reasons += redis_status.redis_down_reasons()
    database_ok = True
    if job_statuses is None:
        try:
            job_statuses = list_job_status()
        except SQLAlchemyError as exc:
            database_ok = False
            job_statuses = []
            reasons.append(f"the database is unreachable: {str(getattr(exc, 'orig', exc)).strip()[:200]}")
    in_error = [job["name"] for job in job_statuses if job["status"] == "error"]
    total = len(job_statuses)
    if in_error:
        reasons.append(f"{len(in_error)} of {total} jobs in error: {', '.join(in_error)}")
    all_stopped = bool(total) and not any(job["enabled"] for job in job_statuses)
    if all_stopped:
        reasons.append(f"every job is stopped ({total} of {total}): nothing runs on its schedule")
    if redis_ok and workers == 0:
        reasons.append("no RQ worker is alive")
    if redis_ok and not scheduler_ok:
        reasons.append("no scheduler heartbeat")
    if not redis_ok or not database_ok or (total and 2 * len(in_error) >= total):
        status = "critical"
    elif in_error or all_stopped or workers == 0 or not scheduler_ok:
        status = "degraded"
    else:
        status = "healthy"
    return {
        "status": status,
        "reasons": reasons,
        "redis": redis_ok,
        "workers": workers,
        "schedulerAlive": scheduler_ok,
        "errorJobs": len(in_error),
        "totalJobs": total,
    }


def queue_info() -> list[dict[str, Any]]:
    """Return per queue ``{name, paused, length, oldestJobAgeSeconds, started, failed, scheduled}``."""
    now = utcnow()
    paused = queue_pause.paused_queue_names()
    result = []
    for queue in queues.queue_snapshot():
        oldest = queue.pop("oldestEnqueuedAt")
        queue["paused"] = queue["name"] in paused
        queue["oldestJobAgeSeconds"] = None if oldest is None else max(0, int((now - oldest).total_seconds()))
        result.append(queue)
    return result


def worker_info() -> list[dict[str, Any]]:
    """Return per live worker ``{name, state, queues, currentJob, lastHeartbeat, successful, failed}``."""
    return [{**worker, "lastHeartbeat": iso_utc(worker["lastHeartbeat"])} for worker in queues.worker_snapshot()]
