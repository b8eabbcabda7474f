"""Users' page language: each user's choice of English or Dari for the portal's pages

Revision ID: 0014_user_language
Revises: 0013_import_uploads
Create Date: 2026-12-06 22:00:00

users gain language ('en' or 'fa', default 'en' on the server side, so every existing user
keeps reading English until they choose Dari).
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0014_user_language"
down_revision = "0013_import_uploads"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), server_default="en", nullable=False))
        batch_op.create_check_constraint(batch_op.f("ck_users_language_known"), "language IN ('en', 'fa')")


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_users_language_known"), type_="check")
        batch_op.drop_column("language")
