"""The store's tables of people: API accounts, sign-in sessions and their OpenID Connect links,
and the roll calls' personal links and answers (gathered by flows/store/schema.py)."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from .columns import TS, Id, metadata

# API accounts (docs/api.md). A token is shown once and stored only as its SHA-256 (tokens are
# 192 random bits: a fast hash is enough, and lookups stay one indexed read).
accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False),  # unique among active accounts (index below)
    Column("role", String(16), nullable=False),
    Column("teams", JSON, nullable=False),  # [[site, team], ...] a team lead leads
    Column("staff_id", String(64)),  # the roster member this account is, if any
    Column("sites", JSON),  # a manager tied to sites acts on those only; null or []: global
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked_at", TS),
)
Index(
    "uq_accounts_active_name",
    accounts.c.name,
    unique=True,
    sqlite_where=accounts.c.revoked_at.is_(None),
    postgresql_where=accounts.c.revoked_at.is_(None),
)

# Dashboard sessions: the cookie holds a random id; only its SHA-256 is stored.
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("last_seen", TS, nullable=False),
    Column("expires_at", TS, nullable=False),  # absolute end, whatever the activity
)

# OpenID Connect (console/oidc.py): an account signed in through the provider, linked to its
# subject there, with the sites its groups give; a sign-in under way (only hashes of its state
# and of the browser's cookie are kept); the provider's tokens of a session, for its re-checks.
oidc_links = Table(
    "oidc_links",
    metadata,
    Column("account_id", Id, ForeignKey("accounts.id"), primary_key=True),
    Column("issuer", String(500), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("sites", JSON, nullable=False),  # [site, ...] the groups tie the account to
    Column("groups", JSON, nullable=False),  # the provider's groups that mapped, at the last check
    Column("updated_at", TS, nullable=False),
    Index("ix_oidc_links_subject", "issuer", "subject"),
)
oidc_logins = Table(
    "oidc_logins",
    metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("browser_hash", String(64), nullable=False),
    Column("nonce", String(128), nullable=False),
    Column("verifier", String(128), nullable=False),
    Column("next", String(2000), nullable=False),
    Column("created_at", TS, nullable=False),
)
oidc_sessions = Table(
    "oidc_sessions",
    metadata,
    Column("session_hash", String(64), primary_key=True),  # sessions.id_hash
    Column("account_id", Id, nullable=False),
    Column("tokens", JSON, nullable=False),  # the provider's refresh, access and ID tokens
    Column("checked_at", TS, nullable=False),
)


# A roll call's personal answer links (docs/api.md `/r/{token}`): one per person and muster,
# valid while the run runs; the token is kept so a manager can print call lists with links.
muster_links = Table(
    "muster_links",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("run_id", Id, ForeignKey("runs.id"), nullable=False),
    Column("step_id", Id, nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("run_id", "step_id", "person_id", name="uq_muster_links_person"),
)

# Every answer, with its history: a changed answer keeps the old row (current = false).
muster_answers = Table(
    "muster_answers",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("runs.id"), nullable=False),
    Column("step_id", Id, nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("option", String(64), nullable=False),
    Column("via", String(16), nullable=False),  # link, sms, lead
    Column("by", String(200), nullable=False),
    Column("at", TS, nullable=False),
    Column("current", Boolean, nullable=False),
    Index("ix_muster_answers_current", "run_id", "step_id", "current"),
    Index("ix_muster_answers_person", "run_id", "step_id", "person_id"),
    Index("ix_muster_answers_step_pk", "run_id", "step_id", "pk"),  # the newest answer, one probe (migration 0024)
)
