"""Per-course statistics: a materialized view refreshed CONCURRENTLY on PostgreSQL, a rebuilt table
on SQLite, with the same numbers on both."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import text

from portal.alerts.course_stats import course_stats, refresh_course_stats
from portal.extensions import db
from tests import factories


def _term() -> None:
    cs, ma = factories.course("CS101"), factories.course("MA201", "Calculus")
    factories.course("EMPTY", "No students")
    factories.attend(factories.student("S1"), cs, ["present"] * 8 + ["absent"] * 2)  # exactly 80 %: no warning
    s2 = factories.student("S2")
    factories.attend(s2, cs, ["present"] * 3 + ["absent"])  # exactly 75 %: mahroom
    factories.attend(factories.student("S3"), cs, ["present"] * 39 + ["absent"] * 11)  # 78 %: warning
    factories.attend(factories.student("S4"), cs, ["present"] * 16 + ["sick"] * 4)  # presence 80 %: tasdiq
    factories.attend(factories.student("S5"), cs, ["present"] * 17 + ["leave"] * 3)  # presence exactly 85 %: no tasdiq
    factories.attend(factories.student("S6", active=False), cs, ["absent"] * 5)  # inactive: not counted
    factories.attend(s2, ma, ["present", "late"])


EXPECTED_CS101 = {
    "code": "CS101",
    "enrolled": 5,
    "evaluated": 5,
    "heldHours": Decimal("208.00"),
    "absentHours": Decimal("28.00"),
    "excusedHours": Decimal("14.00"),
    "averageHeldHours": Decimal("41.60"),
    "attendanceRate": Decimal("86.53"),  # 86.538...: rates are cut to two places, never rounded up
    "atWarning": 1,
    "atMahroom": 1,
    "atTasdiq": 1,
}


def test_statistics_are_the_same_on_sqlite_and_postgresql(any_app):
    _term()

    refresh_course_stats()
    stats = {row["code"]: row for row in course_stats()}

    assert {k: stats["CS101"][k] for k in EXPECTED_CS101} == EXPECTED_CS101
    assert (stats["MA201"]["enrolled"], stats["MA201"]["attendanceRate"], stats["MA201"]["atWarning"]) == (
        1,
        Decimal("100.00"),
        0,
    )
    assert (stats["EMPTY"]["enrolled"], stats["EMPTY"]["attendanceRate"], stats["EMPTY"]["averageHeldHours"]) == (
        0,
        None,
        None,
    )


def test_postgresql_keeps_a_materialized_view_with_a_unique_index_refreshed_concurrently(pg_app):
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_matviews WHERE matviewname = 'course_stats'")).scalar() == 1
        index = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'course_stats'")).scalar()
    assert "UNIQUE INDEX" in index and "(course_id)" in index
    refresh_course_stats()
    _term()
    assert course_stats() == []  # a materialized view shows nothing new until refreshed

    result = refresh_course_stats()

    assert result == {"courses": 3, "method": "concurrently"}
    assert {row["code"] for row in course_stats()} == {"CS101", "MA201", "EMPTY"}


@pytest.mark.parametrize("app_config", [{"WARNING_THRESHOLD": Decimal("90")}])
def test_changed_thresholds_redefine_the_view_then_refresh_concurrently(pg_app, app_config):
    _term()

    first, second = refresh_course_stats(), refresh_course_stats()

    assert (first["method"], second["method"]) == ("recreated", "concurrently")
    cs101 = next(row for row in course_stats() if row["code"] == "CS101")
    assert cs101["atWarning"] == 2  # S1 at 80 % is under a 90 % warning threshold now


def test_sqlite_rebuilds_the_table_on_every_refresh(app):
    _term()
    refresh_course_stats()
    factories.attend(factories.student("S7"), factories.course("PH301"), ["absent"])

    assert refresh_course_stats() == {"courses": 4, "method": "rebuilt"}
    assert next(row for row in course_stats() if row["code"] == "PH301")["atMahroom"] == 1


def test_a_missing_view_is_course_statistics_not_built_yet_and_the_refresh_builds_it(any_app):
    from sqlalchemy import text

    from portal.alerts.course_stats import StatsNotBuilt, course_stats, refresh_course_stats
    from portal.extensions import db

    drop = (
        "DROP MATERIALIZED VIEW course_stats" if db.engine.dialect.name == "postgresql" else "DROP TABLE course_stats"
    )
    with db.engine.begin() as conn:
        conn.execute(text(drop))
    with pytest.raises(StatsNotBuilt, match="course statistics not built yet"):
        course_stats()
    if db.engine.dialect.name == "postgresql":  # the refresh job builds a missing view
        assert refresh_course_stats()["method"] == "recreated"
        assert course_stats() == []
