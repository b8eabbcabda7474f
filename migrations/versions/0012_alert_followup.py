"""Alert follow-up: a case per alert (acknowledged, assigned, handled with an outcome) and its notes

Revision ID: 0012_alert_followup
Revises: 0011_job_schedule
Create Date: 2026-12-06 22:00:00

Two new tables keyed by the alert's id; ``alerts`` itself is untouched, so the scan's bulk
INSERT and every existing row stay as they are (an alert without a case row is a new case).
"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "0012_alert_followup"
down_revision = "0011_job_schedule"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _user(column: str, table: str, nullable: bool = True) -> sa.Column:
    return sa.Column(
        column,
        sa.Integer(),
        sa.ForeignKey("users.id", name=op.f(f"fk_{table}_{column}_users")),
        nullable=nullable,
    )


def upgrade():
    op.create_table(
        "alert_cases",
        sa.Column("alert_id", BigId, nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        _user("acknowledged_by_id", "alert_cases"),
        _user("assigned_to_id", "alert_cases"),
        sa.Column("assigned_at", sa.DateTime(), nullable=True),
        _user("assigned_by_id", "alert_cases"),
        sa.Column("handled_at", sa.DateTime(), nullable=True),
        _user("handled_by_id", "alert_cases"),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('contacted', 'certificate', 'appeal', 'other')", name=op.f("ck_alert_cases_outcome_known")
        ),
        sa.CheckConstraint(
            "(handled_at IS NULL) = (outcome IS NULL)", name=op.f("ck_alert_cases_handled_with_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_cases_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert_cases")),
    )
    op.create_table(
        "alert_notes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("alert_id", BigId, nullable=False),
        _user("author_id", "alert_notes", nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_notes_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notes")),
    )
    op.create_index("ix_alert_notes_alert_id_id", "alert_notes", ["alert_id", "id"], unique=False)


def downgrade():
    op.drop_index("ix_alert_notes_alert_id_id", table_name="alert_notes")
    op.drop_table("alert_notes")
    op.drop_table("alert_cases")
