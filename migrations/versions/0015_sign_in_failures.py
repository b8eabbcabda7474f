"""Sign-in failures counted in the database while Redis is unreachable

Revision ID: 0015_sign_in_failures
Revises: 0014_user_language
Create Date: 2026-12-06 22:00:00

One row per failed sign-in (username as typed, lowercased; the client's address; when), kept
only while Redis is down and pruned once older than SIGN_IN_WINDOW_SECONDS. A new table: no
existing row is touched.
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0015_sign_in_failures"
down_revision = "0014_user_language"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sign_in_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    op.create_index(
        "ix_sign_in_failures_address_username_failed_at",
        "sign_in_failures",
        ["address", "username", "failed_at"],
        unique=False,
    )
    op.create_index("ix_sign_in_failures_failed_at", "sign_in_failures", ["failed_at"], unique=False)


def downgrade():
    op.drop_index("ix_sign_in_failures_failed_at", table_name="sign_in_failures")
    op.drop_index("ix_sign_in_failures_address_username_failed_at", table_name="sign_in_failures")
    op.drop_table("sign_in_failures")
