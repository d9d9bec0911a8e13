"""Store schema: the tables of the engine's source of truth (SQLAlchemy Core metadata).

Alembic migrations in `migrations/` create exactly these; `tests/flows/test_store_schema.py`
checks the two agree. Timestamps are UTC, stored as timezone-aware values.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)

metadata = MetaData()


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC on every backend
    (SQLite keeps no zone, and one rule for both keeps comparisons honest)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - SQLite without type detection
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


Id = String(64)
TS = UTCDateTime()

# A declared lockdown (or stand-down) of a site. `active_site` is the site id while the
# lockdown is active and NULL after: a unique column, so two concurrent declarations of the
# same site cannot both win.
lockdowns = Table(
    "lockdowns",
    metadata,
    Column("id", Id, primary_key=True),
    Column("site_id", Id, nullable=False),
    Column("active_site", Id, unique=True),
    Column("drill", Boolean, nullable=False),
    Column("declared_at", TS, nullable=False),
    Column("declared_by", String(200), nullable=False),
    Column("ended_at", TS),
    Column("ended_by", String(200)),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("runbook_id", Id, nullable=False),
    Column("runbook_version", Integer, nullable=False),
    Column("runbook_path", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("source_hash", String(64), nullable=False),
    Column("site_id", Id, nullable=False),
    Column("site_snapshot", JSON, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("drill", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    Column("lockdown_id", Id, ForeignKey("lockdowns.id")),
    Column("time_scale", Float, nullable=False),
    Column("started_at", TS, nullable=False),
    Column("started_by", String(200), nullable=False),
    Column("ended_at", TS),
    Column("reason", Text),
    # Ownership by one runner at a time (the runner issue uses these).
    Column("lease_owner", String(200)),
    Column("lease_expires", TS),
    Column("prefect_flow_run", String(64)),  # the Prefect flow run of the current attempt
    Column("attempts", Integer, nullable=False, server_default="0"),  # ownership attempts (leases won)
    Column("takeovers", Integer, nullable=False, server_default="0"),  # leases won from an expired owner
    Index("ix_runs_state", "state"),
    Index("ix_runs_site", "site_id", "state"),
)

# Step-level state of a run: whether a fan-out's items are known, and whether more can come.
run_steps = Table(
    "run_steps",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("step_id", Id, primary_key=True),
    Column("expanded", Boolean, nullable=False),  # items created (or none expected yet for a streaming step)
    Column("closed", Boolean, nullable=False),  # no more items will be added
)

tasks = Table(
    "tasks",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("runs.id"), nullable=False),
    Column("id", String(300), nullable=False),  # step id, or step_id:item_key
    Column("step_id", Id, nullable=False),
    Column("item_key", String(200)),
    Column("item", JSON),
    Column("title", Text, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("owner", String(300)),
    Column("adhoc", Boolean, nullable=False, default=False),
    # Created by a roll-call answer after the gate closed: a step needing all items does not wait for it.
    Column("late", Boolean, nullable=False, default=False, server_default=false()),
    Column("created_at", TS, nullable=False),
    Column("actionable_at", TS),
    Column("due_at", TS),
    Column("ended_at", TS),
    Column("ended_by", String(200)),
    Column("outputs", JSON),
    Column("note", Text),
    Column("reason", Text),  # why skipped/failed/rejected/cancelled
    Column("attempt", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS),
    # Bumped by a manager's retry: the side effect's Idempotency-Key is <run>:<task>:<retry_group>,
    # the same across automatic retries and runner restarts.
    Column("retry_group", Integer, nullable=False, server_default="0"),
    Column("overdue_at", TS),  # when task.overdue was emitted (once per task)
    # Human timers of a waiting task: the next reminder or escalation is due at `timer_at`.
    Column("timer_at", TS),
    Column("reminders", Integer, nullable=False, server_default="0"),
    Column("escalated_at", TS),  # once per stall: a task is escalated at most once
    UniqueConstraint("run_id", "id", name="uq_tasks_run_id"),
    Index("ix_tasks_run_step", "run_id", "step_id", "state"),
    Index("ix_tasks_run_state", "run_id", "state"),
    Index("ix_tasks_state_next", "state", "next_attempt_at"),
    Index("ix_tasks_run_timer", "run_id", "timer_at"),
)

# Every human decision on a task: check-offs, approvals (several for required > 1), rejections.
checkoffs = Table(
    "checkoffs",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", Id, nullable=False),
    Column("task_id", String(300), nullable=False),
    Column("action", String(16), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("fields", JSON),
    Column("note", Text),
    Column("reason", Text),
    Column("at", TS, nullable=False),
    Index("ix_checkoffs_task", "run_id", "task_id"),
)

# Answers kept for a retried request with the same Idempotency-Key.
idempotency = Table(
    "idempotency",
    metadata,
    Column("key", String(300), primary_key=True),  # actor identity + client key
    Column("fingerprint", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    Column("at", TS, nullable=False),
)

# Append-only audit log, HMAC-chained per chain (a run id, or "site:<id>"). The head row of a
# chain is locked by each transition, which also serialises writes to one run.
audit_heads = Table(
    "audit_heads",
    metadata,
    Column("chain", String(100), primary_key=True),
    Column("n", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

audit = Table(
    "audit",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("chain", String(100), nullable=False),
    Column("n", BigInteger, nullable=False),
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("target", String(300)),
    Column("reason", Text),
    Column("detail", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(16)),  # the audit key that signed it (flows/audit_keys.py); null: unkeyed
    UniqueConstraint("chain", "n", name="uq_audit_chain_n"),
)

# Chains with rows written before the audit key, to re-sign at the store's next open.
audit_legacy = Table("audit_legacy", metadata, Column("chain", String(100), primary_key=True))

# The event stream (one vocabulary: docs/lifecycle.md); SSE and notifications read it.
events = Table(
    "events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", Id),
    Column("site_id", Id),
    Column("name", String(40), nullable=False),
    Column("task_id", String(300)),
    Column("at", TS, nullable=False),
    Column("data", JSON),
    Index("ix_events_run", "run_id", "seq"),
)

# When an objective was first met.
# Tasks per run, step and state, kept by the store's task writes in the same transaction
# (flows/store/runs.py, counts.py): the run's counts and /metrics read these rows, not task rows.
task_counts = Table(
    "task_counts",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("step_id", Id, primary_key=True),
    Column("state", String(16), primary_key=True),
    Column("n", Integer, nullable=False),
)

objectives = Table(
    "objectives",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("objective_id", Id, primary_key=True),
    Column("met_at", TS, nullable=False),
)


# Notifications waiting to be delivered, written in the transaction of the event that caused
# them (docs/lifecycle.md: never lost). `key` is the dedup key `<run>:<task>:<event>:<recipient>:<n>`
# sent with the message; `thread` is the key without `:<n>` (n counts repeats, like reminders).
# `channel_spec` is the site channel as declared (`${{ env.X }}` unrendered: no secret stored).
outbox = Table(
    "outbox",
    metadata,
    Column("pk", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key", String(500), nullable=False, unique=True),
    Column("thread", String(500), nullable=False),
    Column("run_id", Id),
    Column("site_id", Id, nullable=False),
    Column("task_id", String(300)),
    Column("event", String(40), nullable=False),
    Column("recipient", String(300), nullable=False),  # person:<id>, channel:<id>
    Column("channel", Id, nullable=False),  # the site channel it goes through
    Column("channel_spec", JSON, nullable=False),
    Column("address", String(300)),  # the person's email, phone or chat id on that channel
    Column("lang", String(8), nullable=False),
    Column("message", JSON, nullable=False),  # subject, text, link, drill
    Column("state", String(8), nullable=False),  # pending, sent, dead
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", TS, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("sent_at", TS),
    Column("last_error", Text),
    Index("ix_outbox_due", "state", "next_attempt_at"),
    Index("ix_outbox_thread", "thread"),
)


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
)


# Stock of a site's pools (laptops…), seeded from the pool CSV the first time a run draws from
# it; one row per item. An item is held by one task at a time (status `allocated`, then
# `handed_over` once the owner confirmed the hand-over), never two.
pool_items = Table(
    "pool_items",
    metadata,
    Column("site_id", Id, primary_key=True),
    Column("pool_id", Id, primary_key=True),
    Column("item_key", String(200), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # available, allocated, handed_over, or the CSV's own
    Column("run_id", Id),
    Column("task_id", String(300)),
    Column("at", TS),
    Index("ix_pool_items_free", "site_id", "pool_id", "status"),
)


# Values every process of the deployment shares: `public_url`, kept by `runbook serve` at its start.
settings = Table(
    "settings",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", TS, nullable=False),
)


# A `shifts` step's plan (flows/kinds/shifts.py): one row per person and shift. A re-plan marks
# the shifts it no longer keeps `replaced`; `token` is the person's link (`/s/{token}`), one per
# person and run, the same on each of their rows.
shifts = Table(
    "shifts",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("id", String(32), primary_key=True),
    Column("step_id", Id, nullable=False),
    Column("person_id", String(64), nullable=False),
    Column("queue", Id, nullable=False),
    Column("start_at", TS, nullable=False),
    Column("end_at", TS, nullable=False),
    Column("status", String(16), nullable=False),  # planned, acknowledged, declined, replaced
    Column("token", String(64), nullable=False),
    Column("by", String(200)),
    Column("note", Text),
    Column("updated_at", TS, nullable=False),
    Index("ix_shifts_token", "token"),
    Index("ix_shifts_person", "run_id", "person_id"),
)


# Agents lent between sites (flows/loan_ops.py): requested by the borrowing site's manager,
# accepted or refused by the lending site's; active from acceptance until recalled. A drill
# loan never changes the lender's real coverage.
loans = Table(
    "loans",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("from_site", Id, nullable=False),
    Column("to_site", Id, nullable=False),
    Column("queue", Id, nullable=False),
    Column("agents", Integer, nullable=False),
    Column("start_at", TS, nullable=False),
    Column("end_at", TS, nullable=False),
    Column("reason", Text, nullable=False),
    Column("state", String(16), nullable=False),  # requested, active, refused, recalled
    Column("drill", Boolean, nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("decided_by", String(200)),
    Column("note", Text),  # why refused, forced or recalled
    Column("forced", Boolean, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Index("ix_loans_sites", "from_site", "to_site", "state"),
)


# The grant ledger: access a `grant` step gave a person on a system, until it is revoked and
# the revocation verified. `state`: active, revoking (queued or retrying), revoked, expired
# (revoked at its expiry), revoke_failed (retries used up: told, and still retried until it
# succeeds). A drill's grants are recorded (`drill` true), never sent, never mixed with real ones.
grants = Table(
    "grants",
    metadata,
    Column("id", String(400), primary_key=True),  # <run>:<task>
    Column("run_id", Id, nullable=False),
    Column("site_id", Id, nullable=False),
    Column("drill", Boolean, nullable=False),
    Column("step_id", Id, nullable=False),
    Column("task_id", String(300), nullable=False),
    Column("person_id", String(100)),
    Column("system", String(100), nullable=False),
    Column("profile", String(200), nullable=False),
    Column("scope", JSON),
    Column("asset", String(200)),
    Column("iam_id", String(200)),  # the IAM's id for the grant, from its answer
    Column("owner", String(200)),
    Column("granted_at", TS, nullable=False),
    Column("expires_at", TS),
    Column("review_at", TS),  # the next re-certification
    Column("review_task", String(300)),  # the open review's task id
    Column("reviewed_at", TS),
    Column("state", String(16), nullable=False),
    Column("reason", Text),  # why it is being (or was) revoked
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS),
    Column("last_error", Text),
    Column("revoked_at", TS),
    Column("verified_at", TS),
    Index("ix_grants_site", "site_id", "state"),
    Index("ix_grants_due", "state", "next_attempt_at"),
)


# Welfare check-ins: one row per round of a `checkin` step's item (a person), with the personal
# link's token, when the round opened and closes, its reminder, its miss and the answers.
checkins = Table(
    "checkins",
    metadata,
    Column("token", String(64), primary_key=True),
    Column("run_id", Id, nullable=False),
    Column("step_id", Id, nullable=False),
    Column("task_id", String(300), nullable=False),
    Column("person_id", String(100), nullable=False),
    Column("round", Integer, nullable=False),
    Column("opened_at", TS, nullable=False),
    Column("closes_at", TS, nullable=False),
    Column("reminded_at", TS),
    Column("missed_at", TS),
    Column("answered_at", TS),
    Column("answers", JSON),
    UniqueConstraint("run_id", "task_id", "round", name="uq_checkins_round"),
)


# Prefect's mirror of a run (flows/prefect_mirror.py): the flow run of the attempt that mirrors
# it, and how far the run's events have been sent to Prefect's event stream (a cursor on
# events.seq that survives restarts and takeovers, so no event is sent twice or skipped).
prefect_mirror = Table(
    "prefect_mirror",
    metadata,
    Column("run_id", Id, primary_key=True),
    Column("flow_run_id", String(40)),
    Column("event_seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("updated_at", TS, nullable=False),
)


# Findings of an after-action review (issue 22): about a run, kept on the site's audit chain (not
# the run's), so they outlive it; open until closed with a reason. The owner (a target:
# team:<id>, person:<id>, role:<role>) hears `finding.due` from its due time on, every day
# (scaled by `time_scale`, as runs are) until it is closed; `remind_at` is the next one.
findings = Table(
    "findings",
    metadata,
    Column("id", Id, primary_key=True),
    Column("site_id", Id, nullable=False),
    Column("run_id", Id, ForeignKey("runs.id"), nullable=False),
    Column("runbook_id", Id, nullable=False),
    Column("observation", Text, nullable=False),
    Column("discussion", Text),
    Column("recommendation", Text, nullable=False),
    Column("owner", String(300), nullable=False),
    Column("due_at", TS, nullable=False),
    Column("state", String(8), nullable=False),  # open, closed
    Column("created_at", TS, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("closed_at", TS),
    Column("closed_by", String(200)),
    Column("close_reason", Text),
    Column("time_scale", Float, nullable=False),
    Column("remind_at", TS),
    Column("reminders", Integer, nullable=False, server_default="0"),
    Index("ix_findings_site", "site_id", "state"),
    Index("ix_findings_remind", "state", "remind_at"),
)


# The forecast of each running run (flows/forecaster.py writes it, flows/forecast.py reads it):
# per objective `{p50, p90, probability, possible}` as simulated from the run read at event
# `seq` (-1: none yet), with `trials`; `busy_by`/`busy_until` claim the one simulation in flight
# across every process sharing the store (a claim past `busy_until` is free again).
forecasts = Table(
    "forecasts",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("data", JSON),
    Column("trials", Integer, nullable=False, server_default="0"),
    Column("computed_at", TS),
    Column("busy_by", String(200)),
    Column("busy_until", TS),
)
