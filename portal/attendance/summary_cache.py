"""Per-student attendance summaries cached in Redis for the portal (refreshed by cache-refresh)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal

from redis.exceptions import RedisError
from sqlalchemy import select

from portal import redis_status
from portal.clock import iso_utc, utcnow
from portal.domain.rates import display_rate
from portal.extensions import db
from portal.models import Course, Enrollment, Student
from portal.queues import get_redis

KEY_PREFIX = "attendance:summary:"
# Three refresh periods: an entry outlives one missed refresh, not a stopped job.
SUMMARY_TTL_SECONDS = 15 * 60
REFRESH_CHUNK = 500


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


def _rate(part: Decimal, held: Decimal) -> str | None:
    rate = display_rate(part, held)
    return None if rate is None else str(rate)


def build_summaries(student_ids: Sequence[int]) -> dict[int, dict]:
    """Return ``{student_id: summary}`` computed from the enrollment totals (not the records).

    A summary is ``{studentId, studentNumber, name, active, courses: [{courseId, code, title,
    active, held, absent, excused, attendanceRate, presenceRate}], refreshedAt}``; hours and
    rates are decimal strings (rates rounded down to 0.01, as everywhere (``portal.domain.rates.display_rate``)).
    """
    if not student_ids:
        return {}
    now = iso_utc(utcnow())
    summaries: dict[int, dict] = {}
    for student in db.session.execute(
        select(Student.id, Student.student_number, Student.name, Student.active).where(Student.id.in_(student_ids))
    ):
        summaries[student.id] = {
            "studentId": student.id,
            "studentNumber": student.student_number,
            "name": student.name,
            "active": bool(student.active),
            "courses": [],
            "refreshedAt": now,
        }
    rows = db.session.execute(
        select(Enrollment, Course.code, Course.title)
        .join(Course, Course.id == Enrollment.course_id)
        .where(Enrollment.student_id.in_(student_ids))
        .order_by(Enrollment.student_id, Course.code)
    )
    for enrollment, code, title in rows:
        held, absent, excused = enrollment.held_hours, enrollment.absent_hours, enrollment.excused_hours
        summaries[enrollment.student_id]["courses"].append(
            {
                "courseId": enrollment.course_id,
                "code": code,
                "title": title,
                "active": bool(enrollment.active),
                "held": str(held),
                "absent": str(absent),
                "excused": str(excused),
                "attendanceRate": _rate(held - absent, held),
                "presenceRate": _rate(held - absent - excused, held),
            }
        )
    return summaries


def refresh_summaries(chunk_size: int = REFRESH_CHUNK) -> dict[str, int]:
    """Rewrite the cached summary of every active student, ``chunk_size`` students per pipeline.

    Each key expires after ``SUMMARY_TTL_SECONDS`` (a few refresh periods), so a student who
    stops being active drops out of the cache. Returns ``{"students": n, "chunks": k}``.
    """
    redis = get_redis()
    last_id, written, chunks = 0, 0, 0
    while True:
        ids = list(
            db.session.scalars(
                select(Student.id)
                .where(Student.active.is_(True), Student.id > last_id)
                .order_by(Student.id)
                .limit(chunk_size)
            )
        )
        if not ids:
            break
        summaries = build_summaries(ids)
        with redis.pipeline(transaction=False) as pipe:
            for sid, summary in summaries.items():
                pipe.set(summary_key(sid), json.dumps(summary, separators=(",", ":")), ex=SUMMARY_TTL_SECONDS)
            pipe.execute()
        written += len(summaries)
        chunks += 1
        last_id = ids[-1]
    return {"students": written, "chunks": chunks}


def get_summary(student_id: int) -> dict | None:
    """Return a student's summary from the cache, computing and caching it on a miss (None if no such student).

    With Redis down it is computed from the database (the same numbers, uncached).
    """
    if not redis_status.redis_reachable():
        return build_summaries([student_id]).get(student_id)
    redis = get_redis()
    try:
        cached = redis.get(summary_key(student_id))
    except RedisError as exc:
        redis_status.note_redis_down(exc)
        return build_summaries([student_id]).get(student_id)
    if cached is not None:
        return json.loads(cached)
    summary = build_summaries([student_id]).get(student_id)
    if summary is not None:
        redis.set(summary_key(student_id), json.dumps(summary, separators=(",", ":")), ex=SUMMARY_TTL_SECONDS)
    return summary


def get_summaries(student_ids) -> dict[int, dict]:
    """Return the summaries of many students at once: one MGET, the misses computed together
    and cached in one pipeline (a student that does not exist is left out).

    With Redis down they are computed from the database (the same numbers, uncached).
    """
    ids = sorted(set(student_ids))
    if not ids:
        return {}
    if not redis_status.redis_reachable():
        return build_summaries(ids)
    redis = get_redis()
    try:
        cached = redis.mget([summary_key(sid) for sid in ids])
    except RedisError as exc:
        redis_status.note_redis_down(exc)
        return build_summaries(ids)
    found = {sid: json.loads(raw) for sid, raw in zip(ids, cached, strict=True) if raw is not None}
    missing = [sid for sid in ids if sid not in found]
    if missing:
        built = build_summaries(missing)
        with redis.pipeline(transaction=False) as pipe:
            for sid, summary in built.items():
                pipe.set(summary_key(sid), json.dumps(summary, separators=(",", ":")), ex=SUMMARY_TTL_SECONDS)
            pipe.execute()
        found.update(built)
    return found
