"""Academic terms: enrollments, records and alerts belong to a term; planned hours per offering

Revision ID: 0010_terms
Revises: 0009_letters
Create Date: 2026-12-04 18:00:00

Creates ``terms`` with the open-ended term (id 1, no code, no dates) and ``offerings``, and
gives ``enrollments``, ``attendance_records`` and ``alerts`` a ``term_id`` that defaults to
the open-ended term: every existing row belongs to it, so the existing totals stay exactly
what they were (nothing is recomputed) and the system behaves as before until terms are
imported (``flask import terms``). The enrollments' unique key, the alerts' key to their
enrollment and the one-open-alert-per-crossing index gain the term. ``alerts.resolved_reason``
says why an alert was closed ("inactive": the student left; NULL: the condition ended).

On PostgreSQL the new columns have a constant default, so adding them rewrites no table; the
new keys and indexes are built under the migration's locks (docs/operations.md, Upgrading).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010_terms'
down_revision = '0009_letters'
branch_labels = None
depends_on = None

OPEN_TERM_NAME = 'All records (no terms defined)'


def _create_tables():
    op.create_table(
        'terms',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=True),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('(starts_on IS NULL) = (ends_on IS NULL)', name=op.f('ck_terms_dates_both_or_none')),
        sa.CheckConstraint('ends_on >= starts_on', name=op.f('ck_terms_ends_after_start')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_terms')),
        sa.UniqueConstraint('code', name=op.f('uq_terms_code')),
    )
    op.execute(
        "INSERT INTO terms (id, code, name, starts_on, ends_on, created_at, updated_at) "
        f"VALUES (1, NULL, '{OPEN_TERM_NAME}', NULL, NULL, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("SELECT setval(pg_get_serial_sequence('terms', 'id'), 1)")
    op.create_table(
        'offerings',
        sa.Column('term_id', sa.Integer(), nullable=False),
        sa.Column('course_id', sa.Integer(), nullable=False),
        sa.Column('planned_hours', sa.Numeric(precision=10, scale=2), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('planned_hours > 0', name=op.f('ck_offerings_planned_positive')),
        sa.ForeignKeyConstraint(['course_id'], ['courses.id'], name=op.f('fk_offerings_course_id_courses'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['term_id'], ['terms.id'], name=op.f('fk_offerings_term_id_terms'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('term_id', 'course_id', name=op.f('pk_offerings')),
    )


def _upgrade_postgresql():
    # Constant defaults: no table is rewritten. The records' key to terms is added NOT VALID
    # and validated apart, so the validation's scan of every record blocks no writer.
    op.execute(
        "ALTER TABLE attendance_records ADD COLUMN term_id INTEGER NOT NULL DEFAULT 1, "
        "ADD CONSTRAINT fk_attendance_records_term_id_terms FOREIGN KEY (term_id) REFERENCES terms (id) NOT VALID"
    )
    op.execute("ALTER TABLE attendance_records VALIDATE CONSTRAINT fk_attendance_records_term_id_terms")
    op.execute(
        "ALTER TABLE enrollments ADD COLUMN term_id INTEGER NOT NULL DEFAULT 1, "
        "ADD CONSTRAINT fk_enrollments_term_id_terms FOREIGN KEY (term_id) REFERENCES terms (id)"
    )
    op.execute(
        "ALTER TABLE alerts ADD COLUMN term_id INTEGER NOT NULL DEFAULT 1, "
        "ADD COLUMN resolved_reason VARCHAR(16), "
        "DROP CONSTRAINT fk_alerts_student_id_enrollments"
    )
    op.execute(
        "ALTER TABLE enrollments DROP CONSTRAINT uq_enrollments_student_id_course_id, "
        "ADD CONSTRAINT uq_enrollments_student_id_course_id_term_id UNIQUE (student_id, course_id, term_id)"
    )
    op.execute(
        "ALTER TABLE alerts ADD CONSTRAINT fk_alerts_student_id_enrollments FOREIGN KEY "
        "(student_id, course_id, term_id) REFERENCES enrollments (student_id, course_id, term_id) ON DELETE CASCADE"
    )
    op.execute("CREATE INDEX ix_enrollments_term_student ON enrollments (term_id, student_id)")
    op.execute("DROP INDEX uq_alerts_one_open_per_crossing")
    op.execute(
        "CREATE UNIQUE INDEX uq_alerts_one_open_per_crossing ON alerts (student_id, course_id, term_id, kind) "
        "WHERE status = 'open'"
    )


def _hundredths_columns():
    # The generated columns of migration 0006, given whole: SQLite's reflection of them would
    # make batch mode write each twice.
    return [
        sa.Column(f'{name}_hundredths', sa.BigInteger(), sa.Computed(f'CAST(round({name}_hours * 100) AS BIGINT)'))
        for name in ('held', 'absent', 'excused')
    ]


def _upgrade_sqlite():
    # SQLite changes keys by copying the table (Alembic's batch mode).
    with op.batch_alter_table('attendance_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('term_id', sa.Integer(), server_default='1', nullable=False))
        batch_op.create_foreign_key(op.f('fk_attendance_records_term_id_terms'), 'terms', ['term_id'], ['id'])
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alerts_student_id_enrollments', type_='foreignkey')
        batch_op.drop_index('uq_alerts_one_open_per_crossing')
        batch_op.add_column(sa.Column('term_id', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('resolved_reason', sa.String(length=16), nullable=True))
    with op.batch_alter_table('enrollments', schema=None, reflect_args=_hundredths_columns()) as batch_op:
        for column in _hundredths_columns():  # batch mode cannot copy generated columns: re-added below
            batch_op.drop_column(column.name)
        batch_op.add_column(sa.Column('term_id', sa.Integer(), server_default='1', nullable=False))
        batch_op.drop_constraint('uq_enrollments_student_id_course_id', type_='unique')
        batch_op.create_unique_constraint(
            'uq_enrollments_student_id_course_id_term_id', ['student_id', 'course_id', 'term_id']
        )
        batch_op.create_foreign_key(op.f('fk_enrollments_term_id_terms'), 'terms', ['term_id'], ['id'])
        batch_op.create_index('ix_enrollments_term_student', ['term_id', 'student_id'])
    for column in _hundredths_columns():
        op.add_column('enrollments', column)
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_foreign_key(
            'fk_alerts_student_id_enrollments',
            'enrollments',
            ['student_id', 'course_id', 'term_id'],
            ['student_id', 'course_id', 'term_id'],
            ondelete='CASCADE',
        )
        batch_op.create_index(
            'uq_alerts_one_open_per_crossing',
            ['student_id', 'course_id', 'term_id', 'kind'],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
        )


def upgrade():
    _create_tables()
    if op.get_bind().dialect.name == 'postgresql':
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _view_of_0002():
    """Migration 0002's module (its frozen course_stats definition), loaded from its file."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).with_name('0002_course_stats.py')
    spec = importlib.util.spec_from_file_location('migration_0002_course_stats', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade():
    # Only possible while every row still belongs to the open-ended term (no term imported).
    bind = op.get_bind()
    for table in ('enrollments', 'alerts', 'attendance_records'):
        if bind.execute(sa.text(f'SELECT 1 FROM {table} WHERE term_id <> 1 LIMIT 1')).first():
            raise RuntimeError(f'cannot downgrade: {table} has rows of imported terms')
    if bind.dialect.name == 'postgresql':
        # The refresh redefines course_stats over enrollments.term_id: back to 0002's definition
        # (the next refresh of the older code redefines it as that code wants).
        view = _view_of_0002()
        op.execute('DROP MATERIALIZED VIEW IF EXISTS course_stats')
        op.execute(f'CREATE MATERIALIZED VIEW course_stats AS {view.STATS_SELECT}')
        op.execute('CREATE UNIQUE INDEX uq_course_stats_course_id ON course_stats (course_id)')
        op.execute(f"COMMENT ON MATERIALIZED VIEW course_stats IS '{view.COMMENT}'")
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alerts_student_id_enrollments', type_='foreignkey')
        batch_op.drop_index('uq_alerts_one_open_per_crossing')
    with op.batch_alter_table('enrollments', schema=None, reflect_args=_hundredths_columns()) as batch_op:
        if bind.dialect.name == 'sqlite':
            for column in _hundredths_columns():
                batch_op.drop_column(column.name)
        batch_op.drop_index('ix_enrollments_term_student')
        batch_op.drop_constraint('uq_enrollments_student_id_course_id_term_id', type_='unique')
        batch_op.create_unique_constraint('uq_enrollments_student_id_course_id', ['student_id', 'course_id'])
        batch_op.drop_constraint('fk_enrollments_term_id_terms', type_='foreignkey')
        batch_op.drop_column('term_id')
    if bind.dialect.name == 'sqlite':
        for column in _hundredths_columns():
            op.add_column('enrollments', column)
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('resolved_reason')
        batch_op.drop_column('term_id')
        batch_op.create_foreign_key(
            'fk_alerts_student_id_enrollments', 'enrollments', ['student_id', 'course_id'],
            ['student_id', 'course_id'], ondelete='CASCADE',
        )
        batch_op.create_index(
            'uq_alerts_one_open_per_crossing', ['student_id', 'course_id', 'kind'], unique=True,
            sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"),
        )
    with op.batch_alter_table('attendance_records', schema=None) as batch_op:
        batch_op.drop_constraint('fk_attendance_records_term_id_terms', type_='foreignkey')
        batch_op.drop_column('term_id')
    op.drop_table('offerings')
    op.drop_table('terms')
