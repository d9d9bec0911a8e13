"""prefect mirror: per run, the flow run mirroring it and the cursor of its events sent to
Prefect's event stream

Revision ID: 0013
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prefect_mirror",
        sa.Column("run_id", sa.String(length=64), primary_key=True),
        sa.Column("flow_run_id", sa.String(length=40), nullable=True),
        sa.Column("event_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("prefect_mirror")
