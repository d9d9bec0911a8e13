"""OpenID Connect sign-in: accounts linked to a provider's subject (with the sites their groups
give), sign-ins under way (state, nonce, PKCE verifier), and the provider's tokens of a session
(for its re-checks and the provider's logout)

Revision ID: 0016
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_links",
        sa.Column("account_id", sa.String(length=64), sa.ForeignKey("accounts.id"), primary_key=True),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_oidc_links_subject", "oidc_links", ["issuer", "subject"])
    op.create_table(
        "oidc_logins",
        sa.Column("state_hash", sa.String(length=64), primary_key=True),
        sa.Column("browser_hash", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("verifier", sa.String(length=128), nullable=False),
        sa.Column("next", sa.String(length=2000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "oidc_sessions",
        sa.Column("session_hash", sa.String(length=64), primary_key=True),
        sa.Column("account_id", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("oidc_sessions")
    op.drop_table("oidc_logins")
    op.drop_index("ix_oidc_links_subject", "oidc_links")
    op.drop_table("oidc_links")
