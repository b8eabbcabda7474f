"""API tokens get a scope and an expiry; the inbox gets indexes for the student app

Revision ID: 0007_token_scopes_inbox
Revises: 0006_enrollment_hundredths
Create Date: 2026-12-02 09:00:00

api_tokens.scope (admin, inbox or attendance; every existing token becomes ``admin``, what it
could reach before) and api_tokens.expires_at (NULL: never). inbox_messages already has
read_at; its index on student_id alone is replaced by (student_id, id), for a student's
messages newest first, and a partial index of the unread messages, (student_id, id) WHERE
read_at IS NULL, for the unread count and filter (reasons in portal/models/alerts.py).
On PostgreSQL the new column with its constant default changes no row; building the two
inbox indexes reads inbox_messages once each, blocking inbox writes (the fan-out) meanwhile
(seconds at a million messages).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0007_token_scopes_inbox'
down_revision = '0006_enrollment_hundredths'
branch_labels = None
depends_on = None

UNREAD = sa.text('read_at IS NULL')


def upgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=16), server_default='admin', nullable=False))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_api_tokens_scope_known'), "scope IN ('admin', 'inbox', 'attendance')")
    with op.batch_alter_table('inbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_messages_student_id_id', ['student_id', 'id'], unique=False)
        batch_op.create_index(
            'ix_inbox_messages_unread',
            ['student_id', 'id'],
            unique=False,
            sqlite_where=UNREAD,
            postgresql_where=UNREAD,
        )
        batch_op.drop_index('ix_inbox_messages_student_id')


def downgrade():
    with op.batch_alter_table('inbox_messages', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_messages_student_id', ['student_id'], unique=False)
        batch_op.drop_index('ix_inbox_messages_unread', sqlite_where=UNREAD, postgresql_where=UNREAD)
        batch_op.drop_index('ix_inbox_messages_student_id_id')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_api_tokens_scope_known'), type_='check')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('scope')
