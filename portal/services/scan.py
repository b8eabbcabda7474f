"""The threshold scan and the immediate checks (filled in by the threshold-engine work)."""

from __future__ import annotations

from collections.abc import Sequence

from portal import queues

IMMEDIATE_CHECK_CHUNK = 500


def enqueue_immediate_checks(pairs: Sequence[tuple[int, int]]) -> int:
    """Queue checks of ``(student_id, course_id)`` pairs on the urgent queue; return jobs queued."""
    calls = [
        ("workers.thresholds.check_pairs", ([list(p) for p in pairs[i : i + IMMEDIATE_CHECK_CHUNK]],), {})
        for i in range(0, len(pairs), IMMEDIATE_CHECK_CHUNK)
    ]
    return len(queues.enqueue_many(queues.URGENT, calls))
