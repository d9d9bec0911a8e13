"""tasks done per run, step and minute of run time, kept by every task write in its transaction
(an objective's burn-up reads them instead of every done task's end); filled from the done tasks
of the runs already stored; and a roll call's first answers per minute. Indexes for the board's
reads of active tasks and its timeline

Revision ID: 0021
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The board's reads of active tasks and its timeline, from indexes alone.
    op.create_index("ix_tasks_run_state_due", "tasks", ["run_id", "state", "due_at"])
    op.create_index("ix_tasks_run_state_step_actionable", "tasks", ["run_id", "state", "step_id", "actionable_at"])
    op.create_index("ix_events_run_name", "events", ["run_id", "name", "seq"])
    op.create_table(
        "task_done_minutes",
        sa.Column("run_id", sa.String(length=64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("step_id", sa.String(length=64), primary_key=True),
        sa.Column("minute", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("n", sa.Integer(), nullable=False),
    )

    def minute(column: str) -> str:
        if op.get_bind().dialect.name == "postgresql":
            return f"floor(extract(epoch from {column}) * r.time_scale / 60)"
        return f"CAST((julianday({column}) - 2440587.5) * 86400.0 * r.time_scale / 60 AS INTEGER)"

    op.execute(
        f"INSERT INTO task_done_minutes (run_id, step_id, minute, n) "
        f"SELECT t.run_id, t.step_id, {minute('t.ended_at')} AS m, count(*) FROM tasks t "
        f"JOIN runs r ON r.id = t.run_id WHERE t.state = 'done' AND t.ended_at IS NOT NULL "
        f"GROUP BY t.run_id, t.step_id, m"
    )
    # A roll call's first answers per minute, under "<step>#answered" (flows/store/counts.py).
    op.execute(
        f"INSERT INTO task_done_minutes (run_id, step_id, minute, n) "
        f"SELECT a.run_id, a.step_id || '#answered', {minute('a.first')} AS m, count(*) FROM "
        f"(SELECT run_id, step_id, person_id, min(at) AS first FROM muster_answers "
        f"GROUP BY run_id, step_id, person_id) a JOIN runs r ON r.id = a.run_id GROUP BY a.run_id, a.step_id, m"
    )


def downgrade() -> None:
    op.drop_index("ix_events_run_name", "events")
    op.drop_index("ix_tasks_run_state_step_actionable", "tasks")
    op.drop_index("ix_tasks_run_state_due", "tasks")
    op.drop_table("task_done_minutes")
