"""students.language: the language a student's (and their guardian's) letters are written in

Revision ID: 0008_student_language
Revises: 0007_token_scopes_inbox
Create Date: 2026-12-02 00:20:00

``fa`` (Dari), ``ps`` (Pashto) or ``en``; NULL means the deployment's DEFAULT_LANGUAGE, so
every existing student keeps getting letters in the default language until a students.csv
with a ``language`` column says otherwise. A nullable column without a default: no rewrite of
the table on PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0008_student_language'
down_revision = '0007_token_scopes_inbox'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=2), nullable=True))


def downgrade():
    with op.batch_alter_table('students', schema=None) as batch_op:
        batch_op.drop_column('language')
