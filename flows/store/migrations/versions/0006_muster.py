"""roll calls: personal answer links and answers with their history

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "muster_links",
        sa.Column("token", sa.String(length=64), primary_key=True),
        sa.Column("run_id", sa.String(length=64), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("run_id", "step_id", "person_id", name="uq_muster_links_person"),
    )
    op.create_table(
        "muster_answers",
        sa.Column("pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(length=64), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("option", sa.String(length=64), nullable=False),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_muster_answers_current", "muster_answers", ["run_id", "step_id", "current"])
    op.create_index("ix_muster_answers_person", "muster_answers", ["run_id", "step_id", "person_id"])


def downgrade() -> None:
    op.drop_index("ix_muster_answers_person", table_name="muster_answers")
    op.drop_index("ix_muster_answers_current", table_name="muster_answers")
    op.drop_table("muster_answers")
    op.drop_table("muster_links")
