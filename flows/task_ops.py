"""Tasks, as the Engine's part that people act on: list them, check them off, approve or reject,
and a manager's interventions (skip, retry, reassign, add), each with a reason. Each is one
change of its run (flows/session.change_run) with its audit row; an Idempotency-Key gets the
first answer again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runbooks.models import DURATION_RE, MAX_DURATION_DAYS, parse_duration

from . import idempotency, rules
from .actors import Actor
from .errors import Conflict, Invalid, NotFound
from .fields import check_fields
from .kinds import kind_of
from .runstate import RunState, plan_of
from .session import Reply, change_run
from .states import STATES, TERMINAL, create, transition
from .store import Store, utcnow
from .views import task_json


def _reply(task_id: str) -> Reply:
    def build(rs: RunState) -> dict[str, Any]:
        task = rs.tx.task(rs.run_id, task_id)
        assert task is not None  # it was acted on in this transaction
        return {"task": task_json(task, rs.now, rs.plan), "run": {"id": rs.run_id, "state": rs.run["state"]}}

    return build


class TaskOps:
    def __init__(self, store: Store):
        self.store = store

    def tasks(
        self, run_id: str, *, team: str | None = None, state: str | None = None, step: str | None = None
    ) -> list[dict[str, Any]]:
        with self.store.read() as r:
            row = r.run_head(run_id)
            if row is None:
                raise NotFound(rules.unknown_run(r, run_id))
            if state is not None and state not in STATES and state != "overdue":
                raise Invalid(f'unknown state "{state}" (states: {", ".join(STATES)}, overdue)')
            now = utcnow()
            rows = r.tasks(
                run_id, steps=[step] if step else None, states=[state] if state and state != "overdue" else None
            )
            plan = plan_of(row, r)
            out = []
            for t in rows:
                found = plan.find(t["step_id"])
                if found is not None and t["state"] not in TERMINAL:
                    t = {**t, "outputs": kind_of(t["kind"]).live_outputs(r, run_id, found, t, plan.site)}
                out.append(task_json(t, now, plan))
            teams = {name.casefold(): name for name in plan.site.teams}
        if team is not None:
            # a team by its id, case ignored (`--team IT`); an unknown one is an error naming them
            named = teams.get(team.casefold())
            if named is None:
                known = ", ".join(sorted(teams.values()))
                raise Invalid(f'unknown team "{team}" (teams of site {row["site_id"]}: {known})')
            out = [t for t in out if t["owner"] == f"team:{named}"]
        if state == "overdue":
            out = [t for t in out if t["overdue"]]
        return out

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

        def change(rs: RunState) -> Reply:
            task, step = rules.waiting_task(rs, task_id)
            override = rules.check_owner(rs, actor, task, reason)  # first: others learn nothing more
            kind = kind_of(task["kind"])
            refusal = kind.refuse_check_off(task)
            if refusal:
                raise Invalid(refusal)
            if step is None:  # an ad-hoc task: no fields
                values = check_fields({}, fields or {}, task_id)
                outputs = {**values, "by": actor.identity, "note": note}
            else:
                values, outputs = kind.check_off(rs, step, task, actor, fields or {}, note)
            transition(rs, task, "done", by=actor.label, outputs=outputs, note=note, expect=["waiting"])
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
            return _reply(task_id)

        return self._act(run_id, task_id, actor, key, request, change)

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
        return self._act(run_id, task_id, actor, key, request, self._decision(task_id, actor, True, note, reason))

    def reject(
        self, run_id: str, task_id: str, actor: Actor, *, reason: str | None, key: str | None = None
    ) -> dict[str, Any]:
        if not reason:
            raise Invalid("a rejection needs a reason (--reason)")
        request = {"op": "reject", "run": run_id, "task": task_id, "reason": reason}
        return self._act(run_id, task_id, actor, key, request, self._decision(task_id, actor, False, None, reason))

    def _decision(
        self, task_id: str, actor: Actor, approved: bool, note: str | None, reason: str | None
    ) -> Callable[[RunState], Reply]:
        def change(rs: RunState) -> Reply:
            task, step = rules.waiting_task(rs, task_id)
            override = rules.check_owner(rs, actor, task, reason)  # first: others learn nothing more
            kind = kind_of(step.kind if step is not None else task["kind"])  # a grant review has no step
            if not kind.decides:
                raise Invalid(f"task {task_id} is not an approval: use done")
            if step is not None and not step.params.get("allow_self"):
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
            required = int(step.params.get("required", 1)) if step is not None else 1
            outputs: dict[str, Any]
            if not approved:
                outputs = {"decision": "rejected", "by": actor.identity, "reason": reason}
                transition(rs, task, "rejected", by=actor.label, reason=reason, expect=["waiting"], outputs=outputs)
            elif len(approvers) >= required:
                by = actor.identity if required == 1 else approvers
                outputs = {"decision": "approved", "by": by, "reason": reason}
                transition(rs, task, "done", by=actor.label, note=note, expect=["waiting"], outputs=outputs)
            if not approved or len(approvers) >= required:
                kind.on_decided(rs, task, approved, actor, reason)
            rs.audit(
                f"task.{action}",
                task_id,
                reason,
                actor=actor.label,
                override=override,
                note=note,
                approvals=f"{len(approvers)} of {required}" if approved else None,
            )
            return _reply(task_id)

        return change

    # --- manager interventions ----------------------------------------------------------------

    def skip(
        self, run_id: str, task_id: str, actor: Actor, *, reason: str | None, key: str | None = None
    ) -> dict[str, Any]:
        def change(rs: RunState) -> Reply:
            task = rules.find_task(rs, task_id)
            if task["state"] in TERMINAL and task["state"] != "failed":
                raise Conflict(f"task {task_id} is {task['state']}; only open or failed tasks can be skipped")
            transition(rs, task, "skipped", by=actor.label, reason=f"skipped by {actor.label}: {reason}")
            rs.audit("task.skip", task_id, reason, actor=actor.label, was=task["state"])
            return _reply(task_id)

        return self._intervene("skip", run_id, task_id, actor, reason, key, change)

    def retry(
        self, run_id: str, task_id: str, actor: Actor, *, reason: str | None, key: str | None = None
    ) -> dict[str, Any]:
        def change(rs: RunState) -> Reply:
            task = rules.find_task(rs, task_id)
            if task["state"] != "failed":
                raise Conflict(f"task {task_id} is {task['state']}; only a failed task can be retried")
            # A new retry group: the side effect gets a new Idempotency-Key, so a server that
            # remembers the failed attempt does not answer with the old failure.
            values = {"attempt": 0, "next_attempt_at": None, "retry_group": task["retry_group"] + 1}
            transition(rs, task, "pending", expect=["failed"], event=False, **values)
            rules.revive_dependents(rs, task_id)
            rs.audit("task.retry", task_id, reason, actor=actor.label)
            rs.created.append({**task, **values, "state": "pending"})  # evaluated by the settle step
            return _reply(task_id)

        return self._intervene("retry", run_id, task_id, actor, reason, key, change, reopen=True)

    def reassign(
        self, run_id: str, task_id: str, actor: Actor, *, reason: str | None, to: str | None, key: str | None = None
    ) -> dict[str, Any]:
        def change(rs: RunState) -> Reply:
            task = rules.find_task(rs, task_id)
            if task["state"] in TERMINAL:
                raise Conflict(f"task {task_id} is {task['state']}; it cannot be reassigned")
            target = rules.check_target(rs.plan.site, to)
            rs.tx.update_task(rs.run_id, task_id, expect=[task["state"]], owner=target)
            rs.audit("task.reassign", task_id, reason, actor=actor.label, was=task["owner"], to=target)
            rs.event("task.assigned", task_id, owner=target, title=task["title"])
            return _reply(task_id)

        return self._intervene("reassign", run_id, task_id, actor, reason, key, change, extra={"to": to})

    def add(
        self,
        run_id: str,
        actor: Actor,
        *,
        reason: str | None,
        title: str,
        owner: str,
        due: str | None = None,
        key: str | None = None,
    ) -> dict[str, Any]:
        """An ad-hoc task, waiting at once (something the runbook did not foresee)."""
        if not title.strip():
            raise Invalid("an ad-hoc task needs a title")
        if due is not None and not DURATION_RE.match(due):
            raise Invalid(f'bad duration "{due}" (use 30m, 4h, 1h30m)')
        if due is not None and parse_duration(due) > MAX_DURATION_DAYS * 86400:
            raise Invalid(f'due "{due}" is over {MAX_DURATION_DAYS} days')

        def change(rs: RunState) -> Reply:
            target = rules.check_target(rs.plan.site, owner)
            n = len(rs.tx.tasks(rs.run_id, steps=["adhoc"])) + 1
            task_id = f"adhoc:{n}"
            row = {
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
            create(rs, [row])
            rs.audit("task.add", task_id, reason, actor=actor.label, title=title, owner=target)
            rs.event("task.assigned", task_id, owner=target, title=title)
            return _reply(task_id)

        extra = {"title": title, "owner": owner, "due": due}
        return self._intervene("add a task to", run_id, None, actor, reason, key, change, extra=extra)

    # --- plumbing -----------------------------------------------------------------------------

    def _act(
        self,
        run_id: str,
        task_id: str,
        actor: Actor,
        key: str | None,
        request: Mapping[str, Any],
        change: Callable[[RunState], Reply],
        *,
        reopen: bool = False,
    ) -> dict[str, Any]:
        idem = idempotency.key_for(actor.identity, key, request)
        if idem is None:
            self._settled(run_id, task_id)
        result: dict[str, Any] = change_run(self.store, run_id, actor.label, change, idem=idem, reopen=reopen)
        return result

    def _intervene(
        self,
        what: str,
        run_id: str,
        task_id: str | None,
        actor: Actor,
        reason: str | None,
        key: str | None,
        change: Callable[[RunState], Reply],
        *,
        reopen: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        rules.require_intervention(actor, reason, what)
        request = {"op": what, "run": run_id, "task": task_id, "reason": reason, **(extra or {})}
        idem = idempotency.key_for(actor.identity, key, request)

        def on_its_site(rs: RunState) -> Reply:
            rules.require_site(actor, rs.run["site_id"], what)
            return change(rs)

        result: dict[str, Any] = change_run(self.store, run_id, actor.label, on_its_site, idem=idem, reopen=reopen)
        return result

    def _settled(self, run_id: str, task_id: str) -> None:
        """A done task never changes again: refuse without taking the run's write lock, so the
        losers of a race do not queue behind the winners."""
        with self.store.read() as r:
            task = r.task(run_id, task_id)
        if task is not None and task["state"] == "done":
            raise Conflict(rules.not_waiting(task))
