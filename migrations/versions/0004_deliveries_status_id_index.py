"""deliveries (status, id) index: the retry queue's pages, newest first

Revision ID: 0004_deliveries_status_id
Revises: 0003_job_runs_job_id
Create Date: 2026-11-28 14:00:00

The retry-queue page and ``GET /api/admin/retry-queue`` list the pending (or dead) deliveries
newest first, a page at a time: a backward walk of this index from the status's newest
delivery, instead of reading and sorting every delivery in that status for each page.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004_deliveries_status_id'
down_revision = '0003_job_runs_job_id'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_status_id', ['status', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_status_id')
