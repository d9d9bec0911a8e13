"""runner: Prefect flow run of the current attempt, ownership attempts, retry groups, overdue flag

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("prefect_flow_run", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("retry_group", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("overdue_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("overdue_at")
        batch.drop_column("retry_group")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("attempts")
        batch.drop_column("prefect_flow_run")
