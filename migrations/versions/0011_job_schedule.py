"""Job schedule: the tick each scheduled run serves (one run per tick), pauses with a reason and an end

Revision ID: 0011_job_schedule
Revises: 0010_terms
Create Date: 2026-12-04 18:00:00

job_runs gain tick_at (the cron tick a scheduled run serves, NULL for manual runs) under a
unique constraint on (job_name, tick_at), and covers_from (the first missed tick a catch-up
run or a skip record covers). job_states gain pause_reason and resume_at. Every new column is
nullable without a default: no existing row is rewritten, and the runs recorded before this
migration read as runs without a tick.
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0011_job_schedule"
down_revision = "0010_terms"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tick_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("covers_from", sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_job_runs_job_name_tick_at"), ["job_name", "tick_at"])
    with op.batch_alter_table("job_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pause_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("resume_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("job_states", schema=None) as batch_op:
        batch_op.drop_column("resume_at")
        batch_op.drop_column("pause_reason")
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_job_runs_job_name_tick_at"), type_="unique")
        batch_op.drop_column("covers_from")
        batch_op.drop_column("tick_at")
