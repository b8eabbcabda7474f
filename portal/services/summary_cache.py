"""Per-student attendance summaries cached in Redis for the portal (refreshed by cache-refresh)."""

from __future__ import annotations

from collections.abc import Iterable

from portal.queues import get_redis

KEY_PREFIX = "attendance:summary:"


def summary_key(student_id: int) -> str:
    """Return the Redis key holding one student's cached summary."""
    return f"{KEY_PREFIX}{student_id}"


def invalidate_students(student_ids: Iterable[int]) -> int:
    """Delete the cached summaries of ``student_ids``; return how many keys were removed."""
    keys = [summary_key(sid) for sid in student_ids]
    removed = 0
    redis = get_redis()
    for start in range(0, len(keys), 1000):
        removed += redis.delete(*keys[start : start + 1000])
    return removed
