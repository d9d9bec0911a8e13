"""Runs, as the Engine's part that starts and ends them: lockdown, stand-down, start, cancel,
and reading runs, their audit and the outbox. Each change is one transaction with its audit
row and events."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runbooks.library import NotFound as LibraryNotFound
from runbooks.library import find_runbook, runbook_files
from runbooks.plan import Plan, load_plan, load_runbook, trigger_matches
from runbooks.sites import Site

from . import forecast, grant_ledger, idempotency, notify, pools, rules, signals
from .actors import Actor
from .audit_ops import AuditOps
from .errors import Conflict, Forbidden, Invalid, NotFound
from .runstate import RunState, plan_of
from .session import Reply, change_run, start_run
from .states import OPEN, transition, transition_run
from .store import IntegrityError, Store, Tx, utcnow
from .store.runs import drill_site
from .views import notification_json, run_json


def time_scale() -> float:
    raw = os.environ.get("RUNBOOK_TIME_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        raise Invalid(f"RUNBOOK_TIME_SCALE must be a number, got {raw!r}") from None
    if scale <= 0:
        raise Invalid("RUNBOOK_TIME_SCALE must be greater than 0")
    return scale


UPDATE_MAX = 500  # characters of a status update: a line for a chat channel, not a report


def new_run_id() -> str:
    return "r" + secrets.token_hex(4)


class RunOps:
    def __init__(self, store: Store):
        self.store = store

    # --- starting and ending ------------------------------------------------------------------

    def start(
        self,
        runbook: str | Path,
        site: str | Path | Site,
        actor: Actor,
        *,
        inputs: Mapping[str, Any] | None = None,
        drill: bool = False,
        allow_path: bool = True,
        key: str | None = None,
    ) -> dict[str, Any]:
        """Start a run; `allow_path=False` (the API) takes library ids only, never a path."""
        rules.require_manager(actor, "start a run")
        site_obj = site if isinstance(site, Site) else rules.site_named(str(site), allow_path)
        rules.require_site(actor, site_obj.id, "start a run")
        try:
            path = find_runbook(str(runbook), allow_path=allow_path)
        except LibraryNotFound as e:
            raise NotFound(str(e)) from None
        plan = load_plan(path, site_obj, inputs)
        request = {"op": "start", "runbook": str(runbook), "site": site_obj.id, "inputs": inputs, "drill": drill}
        idem = idempotency.key_for(actor.identity, key, request)
        first = idempotency.once(
            self.store,
            idem,
            lambda tx: {"run": _insert_run(tx, plan, actor, drill=drill, lockdown_id=None, started_by="start")},
        )
        signals.publish(first["run"])
        return self.run(first["run"])

    def lockdown(self, site_id: str, actor: Actor, *, drill: bool = False) -> tuple[list[dict[str, Any]], bool]:
        """Declare a lockdown: start every library runbook whose trigger matches. A repeated
        lockdown of a site in lockdown returns its active runs (False: nothing new). A drill
        lockdown and a real one are separate: a real lockdown declared during a drill starts
        the real runbooks."""
        rules.require_manager(actor, "declare a lockdown")
        site = rules.site_named(site_id, allow_path=False)
        rules.require_site(actor, site.id, "declare a lockdown")
        plans = _triggered(site, "site.lockdown")
        lockdown_id = "l" + secrets.token_hex(4)
        now = utcnow()
        try:
            with self.store.transaction() as tx:
                tx.lock_chain(f"site:{site.id}")
                active = tx.active_lockdown(site.id, drill)
                if active is None:
                    tx.insert_lockdown(
                        {
                            "id": lockdown_id,
                            "site_id": site.id,
                            "active_site": drill_site(site.id) if drill else site.id,
                            "drill": drill,
                            "declared_at": now,
                            "declared_by": actor.label,
                        }
                    )
                    tx.append_audit(
                        f"site:{site.id}",
                        actor=actor.label,
                        action="site.lockdown",
                        target=site.id,
                        detail={"lockdown": lockdown_id, "drill": drill, "runbooks": [p.runbook_id for p in plans]},
                        at=now,
                    )
                    tx.insert_event(
                        {
                            "site_id": site.id,
                            "name": "site.lockdown",
                            "at": now,
                            "data": {"lockdown": lockdown_id, "drill": drill},
                        }
                    )
                    notify.site_event(tx, site, "site.lockdown", lockdown_id, now, drill)
                    ids = [
                        _insert_run(tx, p, actor, drill=drill, lockdown_id=lockdown_id, started_by="site.lockdown")
                        for p in plans
                    ]
                    created = True
                else:
                    ids = [r["id"] for r in tx.runs(lockdown_id=active["id"], states=["running"])]
                    created = False
            for run_id in ids if created else []:
                signals.publish(run_id)
        except IntegrityError:  # another process declared it at the same moment
            with self.store.read() as r:
                active = r.active_lockdown(site.id, drill)
                ids = [x["id"] for x in r.runs(lockdown_id=active["id"], states=["running"])] if active else []
            created = False
        return [self.run(i) for i in ids], created

    def standdown(
        self, site_id: str, actor: Actor, *, key: str | None = None, drill: bool | None = None
    ) -> list[dict[str, Any]]:
        """End the site's lockdown (the real one when both are active, unless `drill` says) and
        start its stand-down runbooks; a drill's work on the drill's sandbox, which ends with them."""
        rules.require_manager(actor, "end a lockdown")
        site = rules.site_named(site_id, allow_path=False)
        rules.require_site(actor, site.id, "end a lockdown")
        plans = _triggered(site, "site.standdown")
        now = utcnow()

        def act(tx: Tx) -> dict[str, Any]:
            tx.lock_chain(f"site:{site.id}")
            active = tx.active_lockdown(site.id, drill)
            if active is None:
                what = "in lockdown" if drill is None else ("in a drill lockdown" if drill else "in a real lockdown")
                raise Conflict(f'site "{site.id}" is not {what}')
            tx.end_lockdown(active["id"], at=now, by=actor.label)
            tx.append_audit(
                f"site:{site.id}",
                actor=actor.label,
                action="site.standdown",
                target=site.id,
                detail={"lockdown": active["id"], "runbooks": [p.runbook_id for p in plans]},
                at=now,
            )
            tx.insert_event(
                {"site_id": site.id, "name": "site.standdown", "at": now, "data": {"lockdown": active["id"]}}
            )
            notify.site_event(tx, site, "site.standdown", active["id"], now, active["drill"])
            # A drill's stand-down runs share the drill lockdown's sandbox (they see its stock).
            lockdown_id = active["id"] if active["drill"] else None
            grant_ledger.revoke_site(tx, site.id, bool(active["drill"]), "stand-down", now, actor.label)
            runs = [
                _insert_run(tx, p, actor, drill=active["drill"], lockdown_id=lockdown_id, started_by="site.standdown")
                for p in plans
            ]
            if active["drill"]:
                tx.close_sandbox(active["id"], active["id"])  # nothing runs on it any more: it ends now
            return {"runs": runs}

        idem = idempotency.key_for(actor.identity, key, {"op": "standdown", "site": site.id, "drill": drill})
        ids = idempotency.once(self.store, idem, act)["runs"]
        for run_id in ids:
            signals.publish(run_id)
        return [self.run(i) for i in ids]

    def cancel(self, run_id: str, actor: Actor, *, reason: str | None, key: str | None = None) -> dict[str, Any]:
        rules.require_intervention(actor, reason, "cancel")
        idem = idempotency.key_for(actor.identity, key, {"op": "cancel", "run": run_id, "reason": reason})

        def change(rs: RunState) -> Reply:
            rules.require_site(actor, rs.run["site_id"], "cancel a run")
            open_tasks = rs.tx.tasks(rs.run_id, states=sorted(OPEN))
            for task in open_tasks:
                # Its event says `digest`: the owner hears of it in the one message below.
                transition(rs, task, "cancelled", by=actor.label, reason=f"run cancelled: {reason}", digest=True)
            notify.cancelled_digests(rs, open_tasks, reason)  # one message per owner, not one per task
            grant_ledger.revoke_run(rs, f"run cancelled: {reason}")
            rs.audit("run.cancel", rs.run_id, reason, actor=actor.label)
            transition_run(rs, "cancelled", reason=reason)
            rs.event("run.cancelled", reason=reason)
            return _run_reply

        # The run's JSON is the answer the key keeps: a repeat gets it, not `null`.
        result: dict[str, Any] = change_run(self.store, run_id, actor.label, change, idem=idem)
        return result

    def update(self, run_id: str, actor: Actor, *, text: str, key: str | None = None) -> dict[str, Any]:
        """A manager's short status update on a running run: event `run.update` (the run page's
        timeline), an audit row, and a message to the site's default channel."""
        rules.require_manager(actor, "post a status update")
        text = " ".join((text or "").split())
        if not text:
            raise Invalid("text: a status update needs some text")
        if len(text) > UPDATE_MAX:
            raise Invalid(f"text: a status update is at most {UPDATE_MAX} characters, got {len(text)}")
        idem = idempotency.key_for(actor.identity, key, {"op": "update", "run": run_id, "text": text})

        def change(rs: RunState) -> Reply:
            if rs.run["state"] != "running":
                raise Conflict(f"run {rs.run_id} is {rs.run['state']}: updates are for a running run")
            rs.audit("run.update", rs.run_id, None, actor=actor.label, text=text)
            rs.event("run.update", text=text, by=actor.label)
            notify.run_update(rs, text, actor.label)
            at = rs.now.isoformat()
            return lambda _rs: {"run": rs.run_id, "text": text, "by": actor.label, "at": at}

        result: dict[str, Any] = change_run(self.store, run_id, actor.label, change, idem=idem)
        return result

    # --- reading ------------------------------------------------------------------------------

    def run(self, run_id: str) -> dict[str, Any]:
        with self.store.read() as r:
            row = r.run_head(run_id)
            if row is None:
                raise NotFound(rules.unknown_run(r, run_id))
            plan = plan_of(row, r)
            data = run_json(r, row, plan)
            data["objectives"] = forecast.forecasts(r, row, plan, data["objectives"])
            return data

    def site_of(self, run_id: str) -> dict[str, Any]:
        """The site snapshot a run started with (its roster, teams, pools)."""
        with self.store.read() as r:
            row = r.run(run_id)
            if row is None:
                raise NotFound(rules.unknown_run(r, run_id))
            return dict(row["site_snapshot"])

    def site_teams(self, run_id: str) -> list[str]:
        """The ids of the teams of the site a run started with, sorted (from its cached plan:
        the snapshot, its whole roster, is not read)."""
        with self.store.read() as r:
            row = r.run_head(run_id)
            if row is None:
                raise NotFound(rules.unknown_run(r, run_id))
            return sorted(plan_of(row, r).site.teams)

    def runs(self, *, states: Sequence[str] | None = None) -> list[dict[str, Any]]:
        with self.store.read() as r:
            return [run_json(r, row, plan_of(row, r)) for row in r.runs(states=states)]

    def audit(self, run_id: str) -> dict[str, Any]:
        with self.store.read() as r:
            if r.run_head(run_id) is None:
                raise NotFound(rules.unknown_run(r, run_id))
            entries = r.audit(run_id)
            result = AuditOps(self.store).verify(r, run_id)
        return {
            "run": run_id,
            "entries": [_audit_json(e) for e in entries],
            "verified": result.verified,
            "problems": list(result.problems),
        }

    def outbox(
        self, *, states: Sequence[str] | None = None, run_id: str | None = None, limit: int = 1000
    ) -> dict[str, Any]:
        """Queued notifications (pending and dead by default) and counts by state."""
        with self.store.read() as r:
            rows = r.outbox(states=states or ["pending", "dead"], run_id=run_id, limit=limit)
            counts = r.outbox_counts()
        return {"counts": counts, "notifications": [notification_json(n) for n in rows]}

    def requeue(
        self, actor: Actor, *, keys: Sequence[str] | None = None, reason: str | None = None, key: str | None = None
    ) -> int:
        """Dead notifications (or the named ones) back to pending: a manager's decision, audited."""
        if not actor.manages:
            raise Forbidden("only a manager can re-queue notifications")
        now = utcnow()

        def act(tx: Tx) -> dict[str, Any]:
            tx.lock_chain("outbox")
            n = tx.requeue_outbox(now, keys)
            tx.append_audit(
                "outbox",
                actor=actor.label,
                action="outbox.retry",
                target=",".join(keys or []) or "dead",
                reason=reason,
                detail={"requeued": n},
                at=now,
            )
            return {"requeued": n}

        idem = idempotency.key_for(actor.identity, key, {"op": "requeue", "ids": list(keys or []), "reason": reason})
        return int(idempotency.once(self.store, idem, act)["requeued"])


def _run_reply(rs: RunState) -> dict[str, Any]:
    """A run's JSON after its change, read in the change's transaction."""
    row = rs.tx.run_head(rs.run_id)
    assert row is not None  # it was changed in this transaction
    return run_json(rs.tx, row, plan_of(row, rs.tx))


def _insert_run(tx: Tx, plan: Plan, actor: Actor, *, drill: bool, lockdown_id: str | None, started_by: str) -> str:
    now = utcnow()
    run_id = new_run_id()
    sandbox = (lockdown_id or run_id) if drill else None
    plan = pools.with_live_stock(tx, plan, pools.stock_id(plan.site.id, sandbox))
    run = {
        "id": run_id,
        "runbook_id": plan.runbook_id,
        "runbook_version": plan.version,
        "runbook_path": plan.path,
        "source": plan.source,
        "source_hash": plan.source_hash,
        "site_id": plan.site.id,
        "site_snapshot": plan.site.snapshot(),
        "inputs": dict(plan.inputs),
        "drill": drill,
        "state": "running",
        "lockdown_id": lockdown_id,
        "time_scale": time_scale(),
        "started_at": now,
        "started_by": actor.label,
    }
    audit = {
        "runbook": plan.runbook_id,
        "version": plan.version,
        "source_hash": plan.source_hash,
        "site": plan.site.id,
        "drill": drill,
        "inputs": dict(plan.inputs),
        "trigger": started_by,
    }
    start_run(tx, run, plan, actor.label, audit)
    return str(run["id"])


def _triggered(site: Site, event: str) -> list[Plan]:
    """The library runbooks that `event` starts at `site`, planned against it. A runbook that
    matches but does not validate against the site stops the declaration with its diagnostics:
    better a clear error now than a half-started response."""
    plans = []
    for path in runbook_files().values():
        _, runbook = load_runbook(path)
        if trigger_matches(runbook, site, event):
            plans.append(load_plan(path, site))
    return plans


def _audit_json(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "n": e["n"],
        "at": e["at"].isoformat(),
        "actor": e["actor"],
        "action": e["action"],
        "target": e["target"],
        "reason": e["reason"],
        "detail": e["detail"],
        "hash": e["hash"],
    }
