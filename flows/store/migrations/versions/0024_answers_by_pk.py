"""the newest answer of a roll call from an index: `max(pk)` of a run's step (what a kept
headcount is checked against at every view of the run page) is one probe of
`(run_id, step_id, pk)`, not a walk over every answer of the roll call

Revision ID: 0024
Revises: 0021
"""

from alembic import op

revision = "0024"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_muster_answers_step_pk", "muster_answers", ["run_id", "step_id", "pk"])


def downgrade() -> None:
    op.drop_index("ix_muster_answers_step_pk", table_name="muster_answers")
