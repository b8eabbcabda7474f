"""course_stats: per-course statistics (a materialized view on PostgreSQL, a table on SQLite)

Revision ID: 0002_course_stats
Revises: 0001_initial
Create Date: 2026-11-28 12:00:00

The view's SELECT is frozen here with the default thresholds (warning 80 %, mahroom 75 %,
tasdiq 85 %, no minimum of held hours), in integer hundredths. The materialized-view-refresh
job (portal/alerts/course_stats.py) redefines the view when the configured thresholds
differ, and on SQLite rebuilds the table's rows on every run.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0002_course_stats'
down_revision = '0001_initial'
branch_labels = None
depends_on = None

COMMENT = 'thresholds:mahroom=7500,min_held=0,tasdiq=8500,warning=8000'

STATS_SELECT = """
SELECT c.id AS course_id, c.code AS code, c.title AS title,
       COUNT(e.id) AS enrolled,
       COALESCE(SUM(CASE WHEN e.h > 0 AND e.h >= 0 THEN 1 ELSE 0 END), 0) AS evaluated,
       COALESCE(SUM(e.held_hours), 0) AS held_hours,
       COALESCE(SUM(e.absent_hours), 0) AS absent_hours,
       COALESCE(SUM(e.excused_hours), 0) AS excused_hours,
       COALESCE(SUM(CASE WHEN e.h > 0 AND e.h >= 0 AND 10000 * (e.h - e.a) < 8000 * e.h
                          AND 10000 * (e.h - e.a) > 7500 * e.h THEN 1 ELSE 0 END), 0) AS at_warning,
       COALESCE(SUM(CASE WHEN e.h > 0 AND e.h >= 0 AND 10000 * (e.h - e.a) <= 7500 * e.h THEN 1 ELSE 0 END), 0) AS at_mahroom,
       COALESCE(SUM(CASE WHEN e.h > 0 AND e.h >= 0 AND e.x > 0
                          AND 10000 * (e.h - e.a - e.x) < 8500 * e.h THEN 1 ELSE 0 END), 0) AS at_tasdiq
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


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'CREATE MATERIALIZED VIEW course_stats AS {STATS_SELECT}')
        # REFRESH ... CONCURRENTLY needs a unique index covering every row.
        op.execute('CREATE UNIQUE INDEX uq_course_stats_course_id ON course_stats (course_id)')
        op.execute(f"COMMENT ON MATERIALIZED VIEW course_stats IS '{COMMENT}'")
        return
    op.create_table('course_stats',
    sa.Column('course_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('enrolled', sa.Integer(), nullable=False),
    sa.Column('evaluated', sa.Integer(), nullable=False),
    sa.Column('held_hours', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('absent_hours', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('excused_hours', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('at_warning', sa.Integer(), nullable=False),
    sa.Column('at_mahroom', sa.Integer(), nullable=False),
    sa.Column('at_tasdiq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('course_id', name='pk_course_stats')
    )
    op.execute('INSERT INTO course_stats (course_id, code, title, enrolled, evaluated, held_hours, absent_hours, '
               f'excused_hours, at_warning, at_mahroom, at_tasdiq) {STATS_SELECT}')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP MATERIALIZED VIEW IF EXISTS course_stats')
    else:
        op.drop_table('course_stats')
