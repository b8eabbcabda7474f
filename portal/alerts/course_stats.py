"""Per-course statistics: a materialized view on PostgreSQL, a rebuilt table on SQLite.

``course_stats`` has one row per course, computed from the enrollment totals (kept exact on
every attendance write), counting only active enrollments of active students in the term in
progress at the refresh (the scan's terms: ``portal.attendance.terms``):

- ``enrolled``: enrollments counted; ``evaluated``: those with held hours at or above
  ``ATTENDANCE_MIN_HELD_HOURS`` (and above zero), the only ones the risk counts consider;
- ``held_hours``, ``absent_hours``, ``excused_hours``: sums of the enrollment totals;
- ``at_warning``: attendance rate below the warning threshold but above mahroom;
  ``at_mahroom``: attendance rate at or below the mahroom threshold;
  ``at_tasdiq``: presence rate below the tasdiq threshold with excused hours.

Threshold comparisons use integer hundredths of hours and of percent, so they are exact on
both databases (exactly 80.00 % is no warning, exactly 75.00 % is mahroom). The thresholds
are written into the view's definition with the university's date; the refresh recreates
the view when they differ from those recorded in its comment (so once a day), and refreshes
it concurrently otherwise. Averages and rates are derived when reading.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError

from portal.attendance.terms import university_today
from portal.domain.rates import display_rate, two_places
from portal.domain.rules import MAX_INT8_THRESHOLD_PLACES, Thresholds, scaled_rules
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


# The view was first defined (migration 0002) with thresholds in hundredths of a percent.
_BASE_SCALE = 10_000


def thresholds_from_config() -> dict[str, int]:
    """Return the thresholds the statistics use: the scan's exact integer form
    (``portal.domain.rules.scaled_rules``), in at least hundredths of a percent
    (80 % -> warning 8000 over scale 10000; 1.5 h -> min_held 150)."""
    rules = scaled_rules(Thresholds.from_config(current_app.config))
    lift = max(1, _BASE_SCALE // rules["scale"])
    return {name: value if name == "min_held" else value * lift for name, value in rules.items()}


def stats_select(
    warning: int, mahroom: int, tasdiq: int, min_held: int, scale: int = _BASE_SCALE, today: str = "CURRENT_DATE"
) -> str:
    """Return the SELECT computing ``course_stats`` for thresholds in the integer form of
    ``thresholds_from_config`` (same SQL on both databases), counting the enrollments of the
    terms in progress on ``today`` (an SQL date expression)."""
    for value in (warning, mahroom, tasdiq, min_held, scale):
        if not isinstance(value, int):
            raise TypeError("thresholds are integers (see thresholds_from_config)")
    if scale > 100 * 10**MAX_INT8_THRESHOLD_PLACES:  # products beyond int8: exact NUMERIC on PostgreSQL
        warning, mahroom, tasdiq, scale = (f"CAST({v} AS NUMERIC)" for v in (warning, mahroom, tasdiq, scale))
    evaluated = f"e.h > 0 AND e.h >= {min_held}"
    return f"""
SELECT c.id AS course_id, c.code AS code, c.title AS title,
       COUNT(e.id) AS enrolled,
       COALESCE(SUM(CASE WHEN {evaluated} THEN 1 ELSE 0 END), 0) AS evaluated,
       COALESCE(SUM(e.held_hours), 0) AS held_hours,
       COALESCE(SUM(e.absent_hours), 0) AS absent_hours,
       COALESCE(SUM(e.excused_hours), 0) AS excused_hours,
       COALESCE(SUM(CASE WHEN {evaluated} AND {scale} * (e.h - e.a) < {warning} * e.h
                          AND {scale} * (e.h - e.a) > {mahroom} * e.h THEN 1 ELSE 0 END), 0) AS at_warning,
       COALESCE(SUM(CASE WHEN {evaluated} AND {scale} * (e.h - e.a) <= {mahroom} * e.h THEN 1 ELSE 0 END), 0) AS at_mahroom,
       COALESCE(SUM(CASE WHEN {evaluated} AND e.x > 0
                          AND {scale} * (e.h - e.a - e.x) < {tasdiq} * e.h THEN 1 ELSE 0 END), 0) AS at_tasdiq
FROM courses c
LEFT JOIN (
    SELECT en.id, en.course_id, en.held_hours, en.absent_hours, en.excused_hours,
           CAST(ROUND(en.held_hours * 100) AS BIGINT) AS h,
           CAST(ROUND(en.absent_hours * 100) AS BIGINT) AS a,
           CAST(ROUND(en.excused_hours * 100) AS BIGINT) AS x
    FROM enrollments en JOIN students s ON s.id = en.student_id
    WHERE en.active AND s.active AND en.term_id IN (
        SELECT t.id FROM terms t
        WHERE (t.starts_on <= {today} AND t.ends_on >= {today})
           OR (t.starts_on IS NULL AND NOT EXISTS (SELECT 1 FROM terms d WHERE d.starts_on IS NOT NULL))
    )
) e ON e.course_id = c.id
GROUP BY c.id, c.code, c.title
"""


def _comment(thresholds: dict[str, int]) -> str:
    shown = {k: v for k, v in thresholds.items() if not (k == "scale" and v == _BASE_SCALE)}
    return "thresholds:" + ",".join(f"{k}={shown[k]}" for k in sorted(shown))


def refresh_course_stats() -> dict[str, Any]:
    """Refresh ``course_stats`` (CONCURRENTLY on PostgreSQL, rebuilt in one transaction on SQLite).

    Returns ``{"courses": n, "method": "concurrently" | "recreated" | "rebuilt"}``.
    """
    thresholds = thresholds_from_config()
    # The university's date decides the term in progress: written into the definition, so on
    # PostgreSQL the first refresh of each day redefines the view (like a change of thresholds).
    today = f"'{university_today().isoformat()}'"
    if db.engine.dialect.name == "postgresql":
        method = _refresh_postgresql(thresholds, today)
    else:
        with db.engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {VIEW}"))
            conn.execute(text(f"INSERT INTO {VIEW} ({', '.join(COLUMNS)}) {stats_select(**thresholds, today=today)}"))
        method = "rebuilt"
    with db.engine.connect() as conn:
        courses = conn.execute(text(f"SELECT COUNT(*) FROM {VIEW}")).scalar_one()
    return {"courses": courses, "method": method}


def _refresh_postgresql(thresholds: dict[str, int], today: str) -> str:
    wanted = _comment(thresholds) + f";today={today}".replace("'", "")
    with db.engine.connect() as conn:
        # to_regclass: NULL when the view is missing (then it is created like a changed one)
        current = conn.execute(text(f"SELECT obj_description(to_regclass('{VIEW}'), 'pg_class')")).scalar()
    if current != wanted:
        # Thresholds changed since the view was defined: redefine it (DDL is transactional here).
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP MATERIALIZED VIEW IF EXISTS {VIEW}"))
            conn.execute(text(f"CREATE MATERIALIZED VIEW {VIEW} AS {stats_select(**thresholds, today=today)}"))
            conn.execute(text(f"CREATE UNIQUE INDEX uq_course_stats_course_id ON {VIEW} (course_id)"))
            conn.execute(text(f"COMMENT ON MATERIALIZED VIEW {VIEW} IS '{wanted}'"))
        return "recreated"
    # CONCURRENTLY cannot run inside a transaction block; readers keep seeing the old rows meanwhile.
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"REFRESH MATERIALIZED VIEW CONCURRENTLY {VIEW}"))
    return "concurrently"


def _decimal(value: Any) -> Decimal:
    return two_places(Decimal(str(value)))


class StatsNotBuilt(RuntimeError):
    """The statistics view (table on SQLite) does not exist yet: no refresh has built it."""


def _missing_view(exc: Exception) -> bool:
    text_ = str(getattr(exc, "orig", exc)).lower()
    return VIEW in text_ and ("does not exist" in text_ or "no such table" in text_)


def course_stats(course_id: int | None = None) -> list[dict[str, Any]]:
    """Return the statistics as of the last refresh, by course code; derived values as decimals.

    Raises StatsNotBuilt when no refresh has built the view yet. Each row adds ``averageHeldHours`` (per enrolled student) and ``attendanceRate`` (100 ×
    (held − absent) / held over the course), both cut to two places (``portal.domain.rates.two_places``), or None when undefined.
    """
    query = f"SELECT {', '.join(COLUMNS)} FROM {VIEW}"
    params = {}
    if course_id is not None:
        query += " WHERE course_id = :course_id"
        params["course_id"] = course_id
    try:
        rows = db.session.execute(text(query + " ORDER BY code"), params).mappings().all()
    except (OperationalError, ProgrammingError) as exc:
        if not _missing_view(exc):
            raise
        db.session.rollback()
        raise StatsNotBuilt(f"course statistics not built yet ({VIEW} is missing)") from None
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
                "attendanceRate": display_rate(held - absent, held),
                "atWarning": int(row["at_warning"]),
                "atMahroom": int(row["at_mahroom"]),
                "atTasdiq": int(row["at_tasdiq"]),
            }
        )
    return result
