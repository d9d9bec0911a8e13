"""task counts: tasks per run, step and state, kept by every task write in its transaction;
filled from the task rows of the runs already stored

Revision ID: 0017
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_counts",
        sa.Column("run_id", sa.String(length=64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("step_id", sa.String(length=64), primary_key=True),
        sa.Column("state", sa.String(length=16), primary_key=True),
        sa.Column("n", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO task_counts (run_id, step_id, state, n) "
        "SELECT run_id, step_id, state, count(*) FROM tasks GROUP BY run_id, step_id, state"
    )


def downgrade() -> None:
    op.drop_table("task_counts")
