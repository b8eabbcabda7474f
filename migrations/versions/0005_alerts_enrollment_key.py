"""alerts reference their enrollment: one (student_id, course_id) foreign key to enrollments

Revision ID: 0005_alerts_enrollment_key
Revises: 0004_deliveries_status_id
Create Date: 2026-11-28 14:00:00

Replaces the two foreign keys alerts.student_id -> students and alerts.course_id -> courses.
An alert is about one enrollment, and the scan inserts alerts only for enrollment rows it
holds locked, so checking this key costs nothing more; the key to courses made every inserted
alert share-lock its course row, which concurrent scan batches contend for (docs/performance.md).
Deleting a student or a course still deletes their alerts, through the enrollment's cascade.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005_alerts_enrollment_key'
down_revision = '0004_deliveries_status_id'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alerts_student_id_students', type_='foreignkey')
        batch_op.drop_constraint('fk_alerts_course_id_courses', type_='foreignkey')
        batch_op.create_foreign_key(
            'fk_alerts_student_id_enrollments',
            'enrollments',
            ['student_id', 'course_id'],
            ['student_id', 'course_id'],
            ondelete='CASCADE',
        )


def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint('fk_alerts_student_id_enrollments', type_='foreignkey')
        batch_op.create_foreign_key('fk_alerts_student_id_students', 'students', ['student_id'], ['id'], ondelete='CASCADE')
        batch_op.create_foreign_key('fk_alerts_course_id_courses', 'courses', ['course_id'], ['id'], ondelete='CASCADE')
