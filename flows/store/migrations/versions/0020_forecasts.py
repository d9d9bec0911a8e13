"""forecasts: each running run's forecast, computed in the background by a forecaster
(flows/forecaster.py) and read by every process; the event seq it reflects and the claim of
the one simulation in flight

Revision ID: 0020
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forecasts",
        sa.Column("run_id", sa.String(length=64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("data", sa.JSON()),
        sa.Column("trials", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("computed_at", sa.DateTime()),
        sa.Column("busy_by", sa.String(length=200)),
        sa.Column("busy_until", sa.DateTime()),
    )


def downgrade() -> None:
    op.drop_table("forecasts")
