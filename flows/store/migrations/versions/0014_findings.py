"""findings: an after-action review's findings about a run, on the site's audit chain, open
until closed with a reason; `remind_at` is the owner's next `finding.due` reminder

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "findings",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=64), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("runbook_id", sa.String(length=64), nullable=False),
        sa.Column("observation", sa.Text(), nullable=False),
        sa.Column("discussion", sa.Text()),
        sa.Column("recommendation", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=300), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("closed_at", sa.DateTime()),
        sa.Column("closed_by", sa.String(length=200)),
        sa.Column("close_reason", sa.Text()),
        sa.Column("time_scale", sa.Float(), nullable=False),
        sa.Column("remind_at", sa.DateTime()),
        sa.Column("reminders", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_findings_site", "findings", ["site_id", "state"])
    op.create_index("ix_findings_remind", "findings", ["state", "remind_at"])


def downgrade() -> None:
    op.drop_index("ix_findings_remind", "findings")
    op.drop_index("ix_findings_site", "findings")
    op.drop_table("findings")
