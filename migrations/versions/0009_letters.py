"""Translated letters: the language and template versions a notification was written with,
the guardian's own letter, and the office's template versions

Revision ID: 0009_letters
Revises: 0008_student_language
Create Date: 2026-12-03 09:00:00

notifications gain language, template_version, guardian_subject, guardian_body and
guardian_template_version; deliveries gain audience ("guardian" for the guardian's email,
NULL for the student's letter). Every new column is nullable without a default, so on
PostgreSQL no existing row is rewritten: a notification written before this migration keeps
its English text and reads as language NULL (English), its deliveries as the student's.
letter_templates holds every version the office saves (portal/models/letters.py).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0009_letters'
down_revision = '0008_student_language'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'letter_templates',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('language', sa.String(length=2), nullable=False),
        sa.Column('recipient', sa.String(length=8), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=True),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.Column('created_by', sa.String(length=80), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_letter_templates')),
        sa.UniqueConstraint(
            'kind', 'language', 'recipient', 'version', name=op.f('uq_letter_templates_kind_language_recipient_version')
        ),
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column('template_version', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('guardian_subject', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('guardian_body', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('guardian_template_version', sa.Integer(), nullable=True))
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audience', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_column('audience')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('guardian_template_version')
        batch_op.drop_column('guardian_body')
        batch_op.drop_column('guardian_subject')
        batch_op.drop_column('template_version')
        batch_op.drop_column('language')
    op.drop_table('letter_templates')
