"""job_runs (job_name, id) index: each job's newest runs for the status of every job

Revision ID: 0003_job_runs_job_id
Revises: 0002_course_stats
Create Date: 2026-11-29 10:00:00

The jobs' status (``GET /api/admin/background-jobs``, the dashboard) reads each job's newest
run and newest finished run in one statement, as a backward walk of this index per job; the
``(job_name, queued_at)`` index orders by time, not by id, and stays for the run history.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0003_job_runs_job_id'
down_revision = '0002_course_stats'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.create_index('ix_job_runs_job_id', ['job_name', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_job_runs_job_id')
