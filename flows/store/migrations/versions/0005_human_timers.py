"""human timers: reminders and one escalation per waiting task

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("timer_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("reminders", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("escalated_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_tasks_run_timer", ["run_id", "timer_at"])


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_index("ix_tasks_run_timer")
        batch.drop_column("escalated_at")
        batch.drop_column("reminders")
        batch.drop_column("timer_at")
