"""Store schema: the tables of the engine's source of truth (SQLAlchemy Core metadata), every one
importable from here: the runs' own tables (lockdowns, runs, tasks and their outlines, audit, events, counts,
outbox) below, people's in schema_people.py, the rest in schema_work.py, their shared metadata
and column types in columns.py.

Alembic migrations in `migrations/` create exactly these; `tests/flows/test_store_schema.py`
checks the two agree. Timestamps are UTC, stored as timezone-aware values.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from .columns import TS, Id, UTCDateTime, metadata
from .schema_people import accounts, muster_answers, muster_links, oidc_links, oidc_logins, oidc_sessions, sessions
from .schema_work import checkins, findings, forecasts, grants, loans, pool_items, prefect_mirror, settings, shifts

__all__ = [
    "metadata",
    "TS",
    "Id",
    "UTCDateTime",
    "lockdowns",
    "runs",
    "run_steps",
    "tasks",
    "checkoffs",
    "idempotency",
    "audit_heads",
    "audit",
    "audit_legacy",
    "events",
    "task_counts",
    "task_done_minutes",
    "objectives",
    "outbox",
    "accounts",
    "sessions",
    "oidc_links",
    "oidc_logins",
    "oidc_sessions",
    "muster_links",
    "muster_answers",
    "pool_items",
    "settings",
    "shifts",
    "loans",
    "grants",
    "checkins",
    "prefect_mirror",
    "findings",
    "forecasts",
]

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
    # The title in every language it was written in ({en, zh-CN}), when the step's name is bilingual.
    Column("titles", JSON),
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
    # The board's reads of the active tasks, from the index alone (migration 0021): the overdue
    # count (state, due time) and the earliest actionable time per step and state.
    Index("ix_tasks_run_state_due", "run_id", "state", "due_at"),
    Index("ix_tasks_run_state_step_actionable", "run_id", "state", "step_id", "actionable_at"),
)

# A task's small outputs (a roll call's counts and closing; store/outlines.py), written with its
# outputs: read without the answer groups beside them (migration 0024).
task_outlines = Table(
    "task_outlines",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("task_id", String(300), primary_key=True),
    Column("outline", JSON, nullable=False),
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
    Index("ix_events_run_name", "run_id", "name", "seq"),  # the run page's timeline (migration 0021)
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

# Tasks done per run, step and minute of run time (floor(epoch seconds × time_scale / 60)),
# kept with the counts in the same transaction: an objective's burn-up is drawn from these
# rows (a few hundred at most), not from every done task's end time.
task_done_minutes = Table(
    "task_done_minutes",
    metadata,
    Column("run_id", Id, ForeignKey("runs.id"), primary_key=True),
    Column("step_id", Id, primary_key=True),
    Column("minute", BigInteger, primary_key=True, autoincrement=False),
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
