"""The store's tables of what runs use and keep beside their tasks: pool stock, settings, shift
plans, loans between sites, grants, check-ins, the Prefect mirror's cursor, findings and
forecasts (gathered by flows/store/schema.py)."""

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
)

from .columns import TS, Id, metadata

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
