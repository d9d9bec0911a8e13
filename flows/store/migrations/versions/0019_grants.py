"""grants and check-ins: the grant ledger (access a grant step gave, its expiry, review and verified
revocation); the rounds of welfare check-ins

Revision ID: 0019
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grants",
        sa.Column("id", sa.String(length=400), primary_key=True),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("drill", sa.Boolean(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=300), nullable=False),
        sa.Column("person_id", sa.String(length=100)),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("profile", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.JSON()),
        sa.Column("asset", sa.String(length=200)),
        sa.Column("iam_id", sa.String(length=200)),
        sa.Column("owner", sa.String(length=200)),
        sa.Column("granted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime()),
        sa.Column("review_at", sa.DateTime()),
        sa.Column("review_task", sa.String(length=300)),
        sa.Column("reviewed_at", sa.DateTime()),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("revoked_at", sa.DateTime()),
        sa.Column("verified_at", sa.DateTime()),
    )
    op.create_index("ix_grants_site", "grants", ["site_id", "state"])
    op.create_index("ix_grants_due", "grants", ["state", "next_attempt_at"])
    op.create_table(
        "checkins",
        sa.Column("token", sa.String(length=64), primary_key=True),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("task_id", sa.String(length=300), nullable=False),
        sa.Column("person_id", sa.String(length=100), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("closes_at", sa.DateTime(), nullable=False),
        sa.Column("reminded_at", sa.DateTime()),
        sa.Column("missed_at", sa.DateTime()),
        sa.Column("answered_at", sa.DateTime()),
        sa.Column("answers", sa.JSON()),
        sa.UniqueConstraint("run_id", "task_id", "round", name="uq_checkins_round"),
    )


def downgrade() -> None:
    op.drop_table("checkins")
    op.drop_index("ix_grants_due", "grants")
    op.drop_index("ix_grants_site", "grants")
    op.drop_table("grants")
