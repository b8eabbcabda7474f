"""0010_terms: every existing record, enrollment and alert belongs to the open-ended term, the
totals stay equal to the records, and the schema matches the models; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from portal.attendance.saving import totals_mismatches
from portal.extensions import db
from tests.test_migrations import MIGRATIONS, _differences


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_existing_rows_join_the_open_ended_term_with_their_totals_unchanged(migrated, backend):
    app = migrated
    db.session.remove()
    downgrade(directory=MIGRATIONS, revision="0009_letters")
    statements = [
        "INSERT INTO students (id, student_number, name, active, created_at, updated_at) "
        "VALUES (1, 'S1', 'Ahmad', true, '2026-01-01', '2026-01-01')",
        "INSERT INTO courses (id, code, title, created_at) VALUES (1, 'CS101', 'Programming', '2026-01-01')",
        "INSERT INTO enrollments (id, student_id, course_id, active, held_hours, absent_hours, excused_hours, created_at) "
        "VALUES (1, 1, 1, true, 6, 4, 0, '2026-01-01')",
        "INSERT INTO attendance_records (student_id, course_id, date, slot, hours, status, recorded_at) VALUES "
        "(1, 1, '2026-10-01', 1, 2, 'absent', '2026-10-01'), (1, 1, '2026-10-08', 1, 2, 'absent', '2026-10-08'), "
        "(1, 1, '2026-10-15', 1, 2, 'present', '2026-10-15')",
        "INSERT INTO alerts (student_id, course_id, kind, status, suppressed, rate, threshold, held_hours, "
        "absent_hours, excused_hours, opened_at) VALUES (1, 1, 'mahroom', 'open', false, 33.33, 75, 6, 4, 0, '2026-10-16')",
    ]
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as conn:
        terms = conn.execute(text("SELECT id, code, starts_on, ends_on FROM terms")).all()
        owners = [conn.execute(text(f"SELECT DISTINCT term_id FROM {t}")).scalars().all() for t in
                  ("attendance_records", "enrollments", "alerts")]  # fmt: skip
        reason = conn.execute(text("SELECT resolved_reason FROM alerts")).scalar_one()
    assert [tuple(t) for t in terms] == [(1, None, None, None)]
    assert owners == [[1], [1], [1]] and reason is None
    assert totals_mismatches(db.session) == []
    assert _differences(app) == []
    # The one-open-alert-per-crossing guard now includes the term.
    with db.engine.begin() as conn, pytest.raises(Exception, match="(?i)unique"):
        conn.execute(
            text(
                "INSERT INTO alerts (student_id, course_id, term_id, kind, status, suppressed, rate, threshold, "
                "held_hours, absent_hours, excused_hours, opened_at) "
                "VALUES (1, 1, 1, 'mahroom', 'open', false, 33.33, 75, 6, 4, 0, '2026-10-17')"
            )
        )
