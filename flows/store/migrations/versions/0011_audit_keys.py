"""audit keys: each audit row names the key that signed it (HMAC-SHA256); rows written before
are listed, by chain, in audit_legacy until the store re-signs them at its next open

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit", sa.Column("key_id", sa.String(length=16), nullable=True))
    op.create_table("audit_legacy", sa.Column("chain", sa.String(length=100), primary_key=True))
    op.execute("INSERT INTO audit_legacy (chain) SELECT DISTINCT chain FROM audit")


def downgrade() -> None:
    op.drop_table("audit_legacy")
    op.drop_column("audit", "key_id")
