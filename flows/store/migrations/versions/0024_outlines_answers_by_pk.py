"""a roll call read without its answer groups, and its newest answer from an index: each task's
outline (its small outputs: `asked`, `accounted`, `counts`, `closed`) kept in `task_outlines`,
filled from the tasks already stored; `max(pk)` of a run's step's answers (what a kept
headcount is checked against at every view of the run page) one probe of
`(run_id, step_id, pk)`, not a walk over every answer of the roll call

Revision ID: 0024
Revises: 0021
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0021"
branch_labels = None
depends_on = None

OUTLINE_KEYS = ("accounted", "asked", "closed", "counts")  # flows/store/outlines.py as of this revision


def upgrade() -> None:
    op.create_index("ix_muster_answers_step_pk", "muster_answers", ["run_id", "step_id", "pk"])
    outlines = op.create_table(
        "task_outlines",
        sa.Column("run_id", sa.String(length=64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("task_id", sa.String(length=300), primary_key=True),
        sa.Column("outline", sa.JSON(), nullable=False),
    )
    rows = []
    for run_id, task_id, outputs in op.get_bind().execute(
        sa.text("SELECT run_id, id, outputs FROM tasks WHERE outputs IS NOT NULL")
    ):
        values = json.loads(outputs) if isinstance(outputs, str) else outputs
        outline = {k: values[k] for k in OUTLINE_KEYS if k in values} if isinstance(values, dict) else {}
        if outline:
            rows.append({"run_id": run_id, "task_id": task_id, "outline": outline})
    if rows:
        op.bulk_insert(outlines, rows)


def downgrade() -> None:
    op.drop_table("task_outlines")
    op.drop_index("ix_muster_answers_step_pk", table_name="muster_answers")
