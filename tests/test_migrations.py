"""Every migration runs on SQLite and PostgreSQL and leaves the schema equal to the models."""

from __future__ import annotations

import warnings
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from portal.extensions import db
from tests.conftest import ROOT

MIGRATIONS = str(ROOT / "migrations")


def _differences(app) -> list:
    with db.engine.connect() as conn, warnings.catch_warnings():
        # Alembic cannot compare a generated column's expression (the database rewrites it);
        # test_enrollment_hundredths_follow_the_hour_totals checks what they compute instead.
        warnings.filterwarnings("ignore", r"Computed default on enrollments\.\w+_hundredths cannot be modified")
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, db.metadata)
    # Database-only objects created by migrations on purpose (not described by the models).
    return [d for d in diffs if not (d[0] == "remove_table" and d[1].name in {"course_stats"})]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_upgrade_to_a_schema_matching_the_models(request, backend):
    app = request.getfixturevalue("app" if backend == "sqlite" else "pg_app")
    assert _differences(app) == []
    assert {"students", "attendance_records", "alerts", "deliveries", "job_runs", "audit_log_archive"} <= set(
        inspect(db.engine).get_table_names()
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_every_migration_downgrades_and_upgrades_again(request, backend):
    app = request.getfixturevalue("app" if backend == "sqlite" else "pg_app")
    downgrade(directory=MIGRATIONS, revision="base")
    assert "students" not in inspect(db.engine).get_table_names()
    upgrade(directory=MIGRATIONS)
    assert _differences(app) == []


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_enrollment_hundredths_follow_the_hour_totals(request, backend):
    from sqlalchemy import select, update

    from portal.models import Enrollment
    from tests import factories

    request.getfixturevalue("app" if backend == "sqlite" else "pg_app")
    factories.attend(factories.student("S1"), factories.course("CS101"), ["present", "absent", "sick"])
    db.session.commit()
    columns = (Enrollment.held_hundredths, Enrollment.absent_hundredths, Enrollment.excused_hundredths)
    assert db.session.execute(select(*columns)).one() == (600, 200, 200)  # three 2-hour sessions
    db.session.execute(
        update(Enrollment).values(held_hours=Decimal("12345678.99"), absent_hours=Decimal("0.07"), excused_hours=0)
    )
    db.session.commit()
    assert db.session.execute(select(*columns)).one() == (1234567899, 7, 0)
