"""shift plans: one row per person and shift of a `shifts` step, with the person's link token;
loans of agents between sites; managers tied to sites (accounts.sites)

Revision ID: 0012
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shifts",
        sa.Column("run_id", sa.String(length=64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_shifts_token", "shifts", ["token"])
    op.create_index("ix_shifts_person", "shifts", ["run_id", "person_id"])
    op.create_table(
        "loans",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("from_site", sa.String(length=64), nullable=False),
        sa.Column("to_site", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("agents", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(), nullable=False),
        sa.Column("end_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_loans_sites", "loans", ["from_site", "to_site", "state"])
    op.add_column("accounts", sa.Column("sites", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "sites")
    op.drop_index("ix_loans_sites", "loans")
    op.drop_table("loans")
    op.drop_index("ix_shifts_person", "shifts")
    op.drop_index("ix_shifts_token", "shifts")
    op.drop_table("shifts")
