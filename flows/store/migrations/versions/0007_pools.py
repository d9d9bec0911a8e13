"""pool stock: one row per item, held by at most one task

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pool_items",
        sa.Column("site_id", sa.String(length=64), primary_key=True),
        sa.Column("pool_id", sa.String(length=64), primary_key=True),
        sa.Column("item_key", sa.String(length=200), primary_key=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=300), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_pool_items_free", "pool_items", ["site_id", "pool_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_pool_items_free", table_name="pool_items")
    op.drop_table("pool_items")
