"""Lifecycle: what people do to runs and tasks (lockdown, start, check off, approve, intervene,
cancel) → one transaction each, with its audit row and events. The CLI and API call these.

Every operation locks the run's audit chain first, so operations on one run are serialised:
a task is completed at most once, and the loser of a race gets a Conflict that changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbooks.library import find_runbook, runbook_files
from runbooks.plan import Plan, load_plan, load_runbook, trigger_matches
from runbooks.sites import Site

from . import machine, muster, notify, pools, rules, signals
from .actors import Actor
from .board import BoardOps
from .errors import Conflict, Forbidden, Invalid, NotFound
from .fields import check_fields
from .machine import ACTIVE, TERMINAL, RunState
from .roll_call_ops import RollCallOps
from .stock_ops import StockOps
from .store import IntegrityError, Store, utcnow
from .views import notification_json, run_json, task_json


def time_scale() -> float:
    raw = os.environ.get("RUNBOOK_TIME_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        raise Invalid(f"RUNBOOK_TIME_SCALE must be a number, got {raw!r}") from None
    if scale <= 0:
        raise Invalid("RUNBOOK_TIME_SCALE must be greater than 0")
    return scale


def new_run_id() -> str:
    return "r" + secrets.token_hex(4)


@dataclass
class Engine(RollCallOps, StockOps, BoardOps):
    store: Store

    # --- starting -----------------------------------------------------------------------------

    def start(
        self,
        runbook: str | Path,
        site: str | Path | Site,
        actor: Actor,
        *,
        inputs: Mapping[str, Any] | None = None,
        drill: bool = False,
        allow_path: bool = True,
    ) -> dict[str, Any]:
        """Start a run; `allow_path=False` (the API) takes library ids only, never a path."""
        rules.require_manager(actor, "start a run")
        from runbooks.library import NotFound as LibraryNotFound

        site_obj = site if isinstance(site, Site) else rules.site_named(str(site), allow_path)
        try:
            path = find_runbook(str(runbook), allow_path=allow_path)
        except LibraryNotFound as e:
            raise NotFound(str(e)) from None
        plan = load_plan(path, site_obj, inputs)
        with self.store.transaction() as tx:
            run = _insert_run(tx, plan, actor, drill=drill, lockdown_id=None, started_by="start")
        signals.publish(run["id"])
        return self.run(run["id"])

    def lockdown(self, site_id: str, actor: Actor, *, drill: bool = False) -> tuple[list[dict[str, Any]], bool]:
        """Declare a lockdown: start every library runbook whose trigger matches. A repeated
        lockdown of a site in lockdown returns its active runs (False: nothing new)."""
        rules.require_manager(actor, "declare a lockdown")
        site = rules.site_named(site_id, allow_path=False)
        plans = _triggered(site, "site.lockdown")
        lockdown_id = "l" + secrets.token_hex(4)
        now = utcnow()
        try:
            with self.store.transaction() as tx:
                tx.lock_chain(f"site:{site.id}")
                active = tx.active_lockdown(site.id)
                if active is None:
                    tx.insert_lockdown(
                        {
                            "id": lockdown_id,
                            "site_id": site.id,
                            "active_site": site.id,
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
                        _insert_run(tx, p, actor, drill=drill, lockdown_id=lockdown_id, started_by="site.lockdown")[
                            "id"
                        ]
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
                active = r.active_lockdown(site.id)
                ids = [x["id"] for x in r.runs(lockdown_id=active["id"], states=["running"])] if active else []
            created = False
        return [self.run(i) for i in ids], created

    def standdown(self, site_id: str, actor: Actor) -> list[dict[str, Any]]:
        rules.require_manager(actor, "end a lockdown")
        site = rules.site_named(site_id, allow_path=False)
        plans = _triggered(site, "site.standdown")
        now = utcnow()
        with self.store.transaction() as tx:
            tx.lock_chain(f"site:{site.id}")
            active = tx.active_lockdown(site.id)
            if active is None:
                raise Conflict(f'site "{site.id}" is not in lockdown')
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
            ids = [
                _insert_run(tx, p, actor, drill=active["drill"], lockdown_id=None, started_by="site.standdown")["id"]
                for p in plans
            ]
        for run_id in ids:
            signals.publish(run_id)
        return [self.run(i) for i in ids]

    # --- reading ------------------------------------------------------------------------------

    def run(self, run_id: str) -> dict[str, Any]:
        with self.store.read() as r:
            row = r.run_head(run_id)
            if row is None:
                raise NotFound(rules.unknown_run(r, run_id))
            return run_json(r, row, machine.plan_of(row, r))

    def site_of(self, run_id: str) -> dict[str, Any]:
        """The site snapshot a run started with (its roster, teams, pools)."""
        with self.store.read() as r:
            row = r.run(run_id)
            if row is None:
                raise NotFound(rules.unknown_run(r, run_id))
            return row["site_snapshot"]

    def runs(self, *, states: Sequence[str] | None = None) -> list[dict[str, Any]]:
        with self.store.read() as r:
            return [run_json(r, row, machine.plan_of(row, r)) for row in r.runs(states=states)]

    def tasks(
        self, run_id: str, *, team: str | None = None, state: str | None = None, step: str | None = None
    ) -> list[dict[str, Any]]:
        with self.store.read() as r:
            row = r.run_head(run_id)
            if row is None:
                raise NotFound(rules.unknown_run(r, run_id))
            if state is not None and state not in machine.STATES and state != "overdue":
                raise Invalid(f'unknown state "{state}" (states: {", ".join(machine.STATES)}, overdue)')
            now = utcnow()
            rows = r.tasks(
                run_id, steps=[step] if step else None, states=[state] if state and state != "overdue" else None
            )
            if any(t["kind"] == "muster" and t["state"] == "waiting" for t in rows):
                plan = machine.plan_of(row, r)
                rows = [
                    {**t, "outputs": muster.full_outputs(r, run_id, plan.step(t["step_id"]), plan.site)}
                    if t["kind"] == "muster" and t["state"] == "waiting"
                    else t
                    for t in rows
                ]
            out = [task_json(t, now) for t in rows]
        if team is not None:
            out = [t for t in out if t["owner"] == f"team:{team}"]
        if state == "overdue":
            out = [t for t in out if t["overdue"]]
        return out

    def outbox(
        self, *, states: Sequence[str] | None = None, run_id: str | None = None, limit: int = 1000
    ) -> dict[str, Any]:
        """Queued notifications (pending and dead by default) and counts by state."""
        with self.store.read() as r:
            rows = r.outbox(states=states or ["pending", "dead"], run_id=run_id, limit=limit)
            counts = r.outbox_counts()
        return {"counts": counts, "notifications": [notification_json(n) for n in rows]}

    def requeue(self, actor: Actor, *, keys: Sequence[str] | None = None, reason: str | None = None) -> int:
        """Dead notifications (or the named ones) back to pending: a manager's decision, audited."""
        rules.require_manager(actor, "re-queue notifications")
        now = utcnow()
        with self.store.transaction() as tx:
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
        return n

    def audit(self, run_id: str) -> dict[str, Any]:
        from .audit import verify_chain

        with self.store.read() as r:
            if r.run_head(run_id) is None:
                raise NotFound(rules.unknown_run(r, run_id))
            entries = r.audit(run_id)
            result = verify_chain(entries, r.audit_head(run_id))
        return {
            "run": run_id,
            "entries": [_audit_json(e) for e in entries],
            "verified": result.verified,
            "problems": list(result.problems),
        }

    # --- acting on tasks ----------------------------------------------------------------------

    def complete(
        self,
        run_id: str,
        task_id: str,
        actor: Actor,
        *,
        note: str | None = None,
        fields: Mapping[str, Any] | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        request = {"op": "complete", "run": run_id, "task": task_id, "note": note, "fields": fields, "reason": reason}
        return self._idempotent(
            actor, key, request, lambda idem: self._complete(run_id, task_id, actor, note, fields or {}, reason, idem)
        )

    def _settled(self, run_id: str, task_id: str) -> None:
        """A done task never changes again: refuse without taking the run's write lock, so the
        losers of a race do not queue behind the winners."""
        with self.store.read() as r:
            task = r.task(run_id, task_id)
        if task is not None and task["state"] == "done":
            raise Conflict(rules.not_waiting(task))

    def _complete(self, run_id, task_id, actor, note, fields, reason, idem) -> dict[str, Any]:
        if idem is None:
            self._settled(run_id, task_id)
        with self._acting(run_id, actor, idem) as rs:
            task, step = rules.waiting_task(rs, task_id)
            override = rules.check_owner(rs, actor, task, reason)  # first: others learn nothing more
            if step is not None and step.kind in ("approval", "muster"):
                raise Invalid(
                    f"task {task_id} is {'an approval: use approve or reject' if step.kind == 'approval' else 'a roll call: staff answer it'}"
                )
            if step is not None and step.kind == "allocate":  # the hand-over, confirmed with the item's key
                values = {"asset": str((fields or {}).get("asset", ""))}
                outputs = {
                    **pools.confirm_handover(rs, step, task, fields),
                    "handed_over_by": actor.identity,
                    "note": note,
                }
            else:
                values = check_fields(step.params.get("fields", {}) if step else {}, fields, task_id)
                outputs = {**values, "by": actor.identity, "note": note}
                if step is not None and step.params.get("returns") and task["item_key"] is not None:
                    pools.give_back(rs, step.params["returns"], task, values.get("condition"))
            machine.set_state(rs, task, "done", by=actor.label, outputs=outputs, note=note, expect=["waiting"])
            rs.tx.insert_checkoff(
                {
                    "run_id": rs.run_id,
                    "task_id": task_id,
                    "action": "complete",
                    "actor": actor.label,
                    "fields": values,
                    "note": note,
                    "reason": reason,
                    "at": rs.now,
                }
            )
            rs.audit("task.complete", task_id, reason, actor=actor.label, override=override, fields=values, note=note)
            return self._after(rs, task_id)

    def approve(
        self,
        run_id: str,
        task_id: str,
        actor: Actor,
        *,
        note: str | None = None,
        reason: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        request = {"op": "approve", "run": run_id, "task": task_id, "note": note, "reason": reason}
        return self._idempotent(
            actor, key, request, lambda idem: self._decide(run_id, task_id, actor, True, note, reason, idem)
        )

    def reject(
        self, run_id: str, task_id: str, actor: Actor, *, reason: str | None, key: str | None = None
    ) -> dict[str, Any]:
        if not reason:
            raise Invalid("a rejection needs a reason (--reason)")
        request = {"op": "reject", "run": run_id, "task": task_id, "reason": reason}
        return self._idempotent(
            actor, key, request, lambda idem: self._decide(run_id, task_id, actor, False, None, reason, idem)
        )

    def _decide(self, run_id, task_id, actor, approved, note, reason, idem) -> dict[str, Any]:
        if idem is None:
            self._settled(run_id, task_id)
        with self._acting(run_id, actor, idem) as rs:
            task, step = rules.waiting_task(rs, task_id)
            override = rules.check_owner(rs, actor, task, reason)  # first: others learn nothing more
            if step is None or step.kind != "approval":
                raise Invalid(f"task {task_id} is not an approval: use done")
            if not step.params.get("allow_self"):
                rules.check_four_eyes(rs, step, task, actor)
            earlier = [c for c in rs.tx.checkoffs(rs.run_id, task_id) if c["action"] == "approve"]
            # People, not accounts: two accounts of one person are one approver.
            if any((c["fields"] or {}).get("identity") == actor.identity for c in earlier):
                raise Conflict(f"{actor.identity} already approved {task_id}; it needs another approver")
            action = "approve" if approved else "reject"
            rs.tx.insert_checkoff(
                {
                    "run_id": rs.run_id,
                    "task_id": task_id,
                    "action": action,
                    "actor": actor.label,
                    "fields": {"identity": actor.identity},
                    "note": note,
                    "reason": reason,
                    "at": rs.now,
                }
            )
            approvers = [c["actor"] for c in earlier] + [actor.label]
            required = int(step.params.get("required", 1))
            if not approved:
                machine.set_state(
                    rs,
                    task,
                    "rejected",
                    by=actor.label,
                    reason=reason,
                    expect=["waiting"],
                    outputs={"decision": "rejected", "by": actor.identity, "reason": reason},
                )
            elif len(approvers) >= required:
                machine.set_state(
                    rs,
                    task,
                    "done",
                    by=actor.label,
                    note=note,
                    expect=["waiting"],
                    outputs={
                        "decision": "approved",
                        "by": actor.identity if required == 1 else approvers,
                        "reason": reason,
                    },
                )
            rs.audit(
                f"task.{action}",
                task_id,
                reason,
                actor=actor.label,
                override=override,
                note=note,
                approvals=f"{len(approvers)} of {required}" if approved else None,
            )
            return self._after(rs, task_id)

    # --- manager interventions ----------------------------------------------------------------

    def skip(self, run_id: str, task_id: str, actor: Actor, *, reason: str | None) -> dict[str, Any]:
        with self._intervening(run_id, actor, reason, "skip") as rs:
            task = rules.find_task(rs, task_id)
            if task["state"] in TERMINAL and task["state"] != "failed":
                raise Conflict(f"task {task_id} is {task['state']}; only open or failed tasks can be skipped")
            machine.set_state(rs, task, "skipped", by=actor.label, reason=f"skipped by {actor.label}: {reason}")
            rs.audit("task.skip", task_id, reason, actor=actor.label, was=task["state"])
            return self._after(rs, task_id)

    def retry(self, run_id: str, task_id: str, actor: Actor, *, reason: str | None) -> dict[str, Any]:
        with self._intervening(run_id, actor, reason, "retry", reopen=True) as rs:
            task = rules.find_task(rs, task_id)
            if task["state"] != "failed":
                raise Conflict(f"task {task_id} is {task['state']}; only a failed task can be retried")
            # A new retry group: the side effect gets a new Idempotency-Key, so a server that
            # remembers the failed attempt does not answer with the old failure.
            rs.tx.update_task(
                rs.run_id,
                task_id,
                expect=["failed"],
                state="pending",
                reason=None,
                ended_at=None,
                ended_by=None,
                attempt=0,
                next_attempt_at=None,
                retry_group=task["retry_group"] + 1,
            )
            rules.revive_dependents(rs, task_id)
            rs.audit("task.retry", task_id, reason, actor=actor.label)
            rs.changed.add((task["step_id"], task["item_key"]))
            step = rs.plan._by_id.get(task["step_id"])
            if step is not None:
                machine._evaluate(rs, step, {**task, "state": "pending"}, rs.tx.run_steps(rs.run_id))
            return self._after(rs, task_id)

    def reassign(
        self, run_id: str, task_id: str, actor: Actor, *, reason: str | None, to: str | None
    ) -> dict[str, Any]:
        with self._intervening(run_id, actor, reason, "reassign") as rs:
            task = rules.find_task(rs, task_id)
            if task["state"] in TERMINAL:
                raise Conflict(f"task {task_id} is {task['state']}; it cannot be reassigned")
            target = rules.check_target(rs.plan.site, to)
            rs.tx.update_task(rs.run_id, task_id, expect=[task["state"]], owner=target)
            rs.audit("task.reassign", task_id, reason, actor=actor.label, was=task["owner"], to=target)
            rs.event("task.assigned", task_id, owner=target, title=task["title"])
            return self._after(rs, task_id)

    def add(
        self, run_id: str, actor: Actor, *, reason: str | None, title: str, owner: str, due: str | None = None
    ) -> dict[str, Any]:
        """An ad-hoc task, waiting at once (something the runbook did not foresee)."""
        from runbooks.models import DURATION_RE, parse_duration

        if not title.strip():
            raise Invalid("an ad-hoc task needs a title")
        if due is not None and not DURATION_RE.match(due):
            raise Invalid(f'bad duration "{due}" (use 30m, 4h, 1h30m)')
        with self._intervening(run_id, actor, reason, "add a task to") as rs:
            target = rules.check_target(rs.plan.site, owner)
            n = len([t for t in rs.tx.tasks(rs.run_id, steps=["adhoc"])]) + 1
            task_id = f"adhoc:{n}"
            rs.tx.insert_tasks(
                [
                    {
                        "run_id": rs.run_id,
                        "id": task_id,
                        "step_id": "adhoc",
                        "item_key": str(n),
                        "item": None,
                        "title": title,
                        "kind": "manual",
                        "state": "waiting",
                        "owner": target,
                        "adhoc": True,
                        "created_at": rs.now,
                        "actionable_at": rs.now,
                        "due_at": rs.now + rs.scaled(parse_duration(due)) if due else None,
                        "attempt": 0,
                    }
                ]
            )
            rs.audit("task.add", task_id, reason, actor=actor.label, title=title, owner=target)
            rs.event("task.assigned", task_id, owner=target, title=title)
            return self._after(rs, task_id)

    def cancel(self, run_id: str, actor: Actor, *, reason: str | None) -> dict[str, Any]:
        with self._intervening(run_id, actor, reason, "cancel") as rs:
            for task in rs.tx.tasks(rs.run_id, states=["pending", *ACTIVE]):
                machine.set_state(rs, task, "cancelled", by=actor.label, reason=f"run cancelled: {reason}")
            rs.tx.update_run(rs.run_id, state="cancelled", ended_at=rs.now, reason=reason)
            rs.audit("run.cancel", rs.run_id, reason, actor=actor.label)
            rs.event("run.cancelled", reason=reason)
        return self.run(run_id)

    # --- plumbing -----------------------------------------------------------------------------

    def _after(self, rs: RunState, task_id: str) -> dict[str, Any]:
        machine.advance(rs, rs.changed)
        machine.check_objectives(rs)
        machine.finish_if_done(rs)
        task = rs.tx.task(rs.run_id, task_id)
        result = {"task": task_json(task, rs.now), "run": {"id": rs.run_id, "state": rs.run["state"]}}
        if rs.idem is not None:
            rs.tx.save_idempotent(rs.idem[0], rs.idem[1], result)
        return result

    def _acting(self, run_id: str, actor: Actor, idem: tuple[str, str] | None = None):
        return _RunTransaction(self.store, run_id, actor, idem=idem)

    def _intervening(self, run_id: str, actor: Actor, reason: str | None, what: str, *, reopen: bool = False):
        if not actor.manages:
            raise Forbidden(f"only a manager can {what} a task or run")
        if not reason or not reason.strip():
            raise Invalid(f"to {what} needs a reason (--reason)")
        return _RunTransaction(self.store, run_id, actor, reopen=reopen)

    def _idempotent(
        self,
        actor: Actor,
        key: str | None,
        request: Mapping[str, Any],
        act: Callable[[tuple[str, str] | None], dict[str, Any]],
    ) -> dict[str, Any]:
        """Run `act`; with a key, the first answer is stored in the same transaction as the
        change, and a repeat of the same request gets it again (under the run's lock, so two
        concurrent repeats cannot both act)."""
        if not key:
            return act(None)
        full = f"{actor.identity}:{key}"
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        try:
            return act((full, fingerprint))
        except _Replay as replay:
            if replay.row["fingerprint"] != fingerprint:
                raise Conflict("this Idempotency-Key was used for a different request") from None
            return replay.row["response"]


class _Replay(Exception):
    """The request was made before with the same Idempotency-Key: answer as then."""

    def __init__(self, row: Mapping[str, Any]):
        super().__init__("replay")
        self.row = row


class _RunTransaction:
    """`with`: a transaction holding the run's chain lock, with the run loaded and running."""

    def __init__(
        self, store: Store, run_id: str, actor: Actor, *, idem: tuple[str, str] | None = None, reopen: bool = False
    ):
        self.store, self.run_id, self.actor = store, run_id, actor
        self.idem, self.reopen = idem, reopen

    def __enter__(self) -> RunState:
        self._cm = self.store.transaction(serial=self.run_id)
        tx = self._cm.__enter__()
        try:
            tx.lock_chain(self.run_id)
            tx.notify_run(self.run_id)  # other processes' runners: on commit, never on a rollback
            if self.idem is not None:
                seen = tx.idempotent(self.idem[0])
                if seen is not None:
                    raise _Replay(seen)
            run = tx.run_head(self.run_id)
            if run is None:
                raise NotFound(rules.unknown_run(tx, self.run_id))
            rs = RunState(tx, run, machine.plan_of(run, tx), utcnow(), self.actor.label, idem=self.idem)
            if run["state"] == "failed" and self.reopen:  # a manager retries: the run goes on
                tx.update_run(self.run_id, state="running", ended_at=None)
                run["state"] = "running"
                rs.audit("run.reopen", self.run_id, "a failed task is retried")
            if run["state"] != "running":
                raise Conflict(f"run {self.run_id} is {run['state']}; nothing can change in it")
            return rs
        except BaseException as e:
            self._cm.__exit__(type(e), e, e.__traceback__)
            raise

    def __exit__(self, *exc) -> bool | None:
        result = self._cm.__exit__(*exc)
        if exc[0] is None:
            signals.publish(self.run_id)  # committed: wake this process's runner
        return result


def _insert_run(
    tx, plan: Plan, actor: Actor, *, drill: bool, lockdown_id: str | None, started_by: str
) -> dict[str, Any]:
    now = utcnow()
    plan = pools.with_live_stock(tx, plan)
    run = {
        "id": new_run_id(),
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
    tx.insert_run(run)
    tx.lock_chain(run["id"])
    tx.notify_run(run["id"])
    rs = RunState(tx, run, plan, now, actor.label)
    rs.audit(
        "run.start",
        run["id"],
        runbook=plan.runbook_id,
        version=plan.version,
        source_hash=plan.source_hash,
        site=plan.site.id,
        drill=drill,
        inputs=dict(plan.inputs),
        trigger=started_by,
    )
    rs.event("run.started", runbook=plan.runbook_id, site=plan.site.id, drill=drill)
    machine.create_tasks(rs)
    machine.advance(rs)
    machine.finish_if_done(rs)
    return run


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
