"""Per-course statistics: a materialized view on PostgreSQL, a rebuilt table on SQLite.

``course_stats`` has one row per course, computed from the enrollment totals (kept exact on
every attendance write), counting only active enrollments of active students:

- ``enrolled``: enrollments counted; ``evaluated``: those with held hours at or above
  ``ATTENDANCE_MIN_HELD_HOURS`` (and above zero), the only ones the risk counts consider;
- ``held_hours``, ``absent_hours``, ``excused_hours``: sums of the enrollment totals;
- ``at_warning``: attendance rate below the warning threshold but above mahroom;
  ``at_mahroom``: attendance rate at or below the mahroom threshold;
  ``at_tasdiq``: presence rate below the tasdiq threshold with excused hours.

Threshold comparisons use integer hundredths of hours and of percent, so they are exact on
both databases (exactly 80.00 % is no warning, exactly 75.00 % is mahroom). The thresholds
are written into the view's definition; the refresh recreates the view when the configured
ones differ from those recorded in its comment. Averages and rates are derived when reading.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from flask import current_app
from sqlalchemy import text

from portal.extensions import db

VIEW = "course_stats"
COLUMNS = (
    "course_id",
    "code",
    "title",
    "enrolled",
    "evaluated",
    "held_hours",
    "absent_hours",
    "excused_hours",
    "at_warning",
    "at_mahroom",
    "at_tasdiq",
)


def _hundredths(value: Decimal) -> int:
    return int((Decimal(value) * 100).to_integral_value(rounding=ROUND_HALF_UP))


def thresholds_from_config() -> dict[str, int]:
    """Return the thresholds the statistics use, in hundredths (80 % -> 8000, 1.5 h -> 150)."""
    config = current_app.config
    return {
        "warning": _hundredths(config["WARNING_THRESHOLD"]),
        "mahroom": _hundredths(config["MAHROOM_THRESHOLD"]),
        "tasdiq": _hundredths(config["TASDIQ_THRESHOLD"]),
        "min_held": _hundredths(config["ATTENDANCE_MIN_HELD_HOURS"]),
    }


def stats_select(warning: int, mahroom: int, tasdiq: int, min_held: int) -> str:
    """Return the SELECT computing ``course_stats`` for thresholds in hundredths (same SQL on both databases)."""
    for value in (warning, mahroom, tasdiq, min_held):
        if not isinstance(value, int):
            raise TypeError("thresholds are integer hundredths")
    evaluated = f"e.h > 0 AND e.h >= {min_held}"
    return f"""
SELECT c.id AS course_id, c.code AS code, c.title AS title,
       COUNT(e.id) AS enrolled,
       COALESCE(SUM(CASE WHEN {evaluated} THEN 1 ELSE 0 END), 0) AS evaluated,
       COALESCE(SUM(e.held_hours), 0) AS held_hours,
       COALESCE(SUM(e.absent_hours), 0) AS absent_hours,
       COALESCE(SUM(e.excused_hours), 0) AS excused_hours,
       COALESCE(SUM(CASE WHEN {evaluated} AND 10000 * (e.h - e.a) < {warning} * e.h
                          AND 10000 * (e.h - e.a) > {mahroom} * e.h THEN 1 ELSE 0 END), 0) AS at_warning,
       COALESCE(SUM(CASE WHEN {evaluated} AND 10000 * (e.h - e.a) <= {mahroom} * e.h THEN 1 ELSE 0 END), 0) AS at_mahroom,
       COALESCE(SUM(CASE WHEN {evaluated} AND e.x > 0
                          AND 10000 * (e.h - e.a - e.x) < {tasdiq} * e.h THEN 1 ELSE 0 END), 0) AS at_tasdiq
FROM courses c
LEFT JOIN (
    SELECT en.id, en.course_id, en.held_hours, en.absent_hours, en.excused_hours,
           CAST(ROUND(en.held_hours * 100) AS BIGINT) AS h,
           CAST(ROUND(en.absent_hours * 100) AS BIGINT) AS a,
           CAST(ROUND(en.excused_hours * 100) AS BIGINT) AS x
    FROM enrollments en JOIN students s ON s.id = en.student_id
    WHERE en.active AND s.active
) e ON e.course_id = c.id
GROUP BY c.id, c.code, c.title
"""


def _comment(thresholds: dict[str, int]) -> str:
    return "thresholds:" + ",".join(f"{k}={thresholds[k]}" for k in sorted(thresholds))


def refresh_course_stats() -> dict[str, Any]:
    """Refresh ``course_stats`` (CONCURRENTLY on PostgreSQL, rebuilt in one transaction on SQLite).

    Returns ``{"courses": n, "method": "concurrently" | "recreated" | "rebuilt"}``.
    """
    thresholds = thresholds_from_config()
    if db.engine.dialect.name == "postgresql":
        method = _refresh_postgresql(thresholds)
    else:
        with db.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {VIEW}"))
            conn.execute(text(f"INSERT INTO {VIEW} ({', '.join(COLUMNS)}) {stats_select(**thresholds)}"))
        method = "rebuilt"
    with db.engine.connect() as conn:
        courses = conn.execute(text(f"SELECT COUNT(*) FROM {VIEW}")).scalar_one()
    return {"courses": courses, "method": method}


def _refresh_postgresql(thresholds: dict[str, int]) -> str:
    wanted = _comment(thresholds)
    with db.engine.connect() as conn:
        current = conn.execute(text(f"SELECT obj_description('{VIEW}'::regclass, 'pg_class')")).scalar()
    if current != wanted:
        # Thresholds changed since the view was defined: redefine it (DDL is transactional here).
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP MATERIALIZED VIEW IF EXISTS {VIEW}"))
            conn.execute(text(f"CREATE MATERIALIZED VIEW {VIEW} AS {stats_select(**thresholds)}"))
            conn.execute(text(f"CREATE UNIQUE INDEX uq_course_stats_course_id ON {VIEW} (course_id)"))
            conn.execute(text(f"COMMENT ON MATERIALIZED VIEW {VIEW} IS '{wanted}'"))
        return "recreated"
    # CONCURRENTLY cannot run inside a transaction block; readers keep seeing the old rows meanwhile.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {VIEW}"))
    return "concurrently"


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def course_stats(course_id: int | None = None) -> list[dict[str, Any]]:
    """Return the statistics as of the last refresh, by course code; derived values as decimals.

    Each row adds ``averageHeldHours`` (per enrolled student) and ``attendanceRate`` (100 ×
    (held − absent) / held over the course), both rounded half-up to 0.01, or None when undefined.
    """
    query = f"SELECT {', '.join(COLUMNS)} FROM {VIEW}"
    params = {}
    if course_id is not None:
        query += " WHERE course_id = :course_id"
        params["course_id"] = course_id
    rows = db.session.execute(text(query + " ORDER BY code"), params).mappings().all()
    result = []
    for row in rows:
        held, absent, excused = (
            _decimal(row["held_hours"]),
            _decimal(row["absent_hours"]),
            _decimal(row["excused_hours"]),
        )
        enrolled = int(row["enrolled"])
        result.append(
            {
                "courseId": row["course_id"],
                "code": row["code"],
                "title": row["title"],
                "enrolled": enrolled,
                "evaluated": int(row["evaluated"]),
                "heldHours": held,
                "absentHours": absent,
                "excusedHours": excused,
                "averageHeldHours": _decimal(held / enrolled) if enrolled else None,
                "attendanceRate": _decimal(100 * (held - absent) / held) if held else None,
                "atWarning": int(row["at_warning"]),
                "atMahroom": int(row["at_mahroom"]),
                "atTasdiq": int(row["at_tasdiq"]),
            }
        )
    return result
