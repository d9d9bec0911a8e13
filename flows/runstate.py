"""One run inside one transaction (`RunState`): its row, its Plan, the clock, who acts, what
changed; its expression context (`steps.<id>` read from the store on demand); new task rows
built from the Plan. Everything that changes a run works on a RunState (flows/session.py
opens one)."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runbooks.expressions import EXPR_RE, ExpressionError, render_value
from runbooks.plan import Plan, PlannedStep, plan_from_text
from runbooks.sites import Site
from runbooks.texts import Texts, text_in

from . import notify
from .kinds import kind_of
from .states import TERMINAL, task_id_of
from .store import Tx

_PLANS: dict[tuple[str, str], Plan] = {}
_PLANS_LOCK = threading.Lock()


def plan_of(run: Mapping[str, Any], reader: Any = None) -> Plan:
    """The run's Plan, rebuilt from the runbook text and site snapshot stored with it. Cached
    per run: a run's source, site and inputs never change. `run` may be a `run_head` row
    without the source, if `reader` can fetch it on a cache miss."""
    key = (run["id"], run["source_hash"])
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
    if plan is None:
        full = run if "source" in run else reader.run(run["id"])
        plan = plan_from_text(
            full["source"], full["runbook_path"], Site.from_snapshot(full["site_snapshot"]), full["inputs"]
        )
        with _PLANS_LOCK:
            if len(_PLANS) >= 256:
                _PLANS.pop(next(iter(_PLANS)))
            _PLANS[key] = plan
    return plan


@dataclass
class RunState:
    """One run inside one transaction: its row, Plan, and what changed (for the settle step)."""

    tx: Tx
    run: dict[str, Any]
    plan: Plan
    now: datetime
    actor: str
    changed: set[tuple[str, str | None]] = field(default_factory=set)  # (step, item key) of changed tasks
    created: list[dict[str, Any]] = field(default_factory=list)  # new pending rows, to evaluate
    ended: list[dict[str, Any]] = field(default_factory=list)  # tasks that ended without success
    idem: tuple[str, str] | None = None  # (key, request fingerprint) of an Idempotency-Key
    timed: bool = False  # the runner's look at the clock: objectives at risk are checked too
    _site_context: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        return str(self.run["id"])

    @property
    def changed_steps(self) -> set[str]:
        return {step for step, _ in self.changed}

    def site_context(self) -> dict[str, Any]:
        if self._site_context is None:
            self._site_context = self.plan.site.context()
        return self._site_context

    def scaled(self, seconds: int | float) -> timedelta:
        return timedelta(seconds=seconds / float(self.run["time_scale"] or 1))

    def event(self, event: str, task_id: str | None = None, /, **data: Any) -> None:
        self.tx.insert_event(
            {
                "run_id": self.run_id,
                "site_id": self.run["site_id"],
                "name": event,
                "task_id": task_id,
                "at": self.now,
                "data": data or None,
            }
        )
        notify.announce(self, event, task_id, data)

    def audit(
        self,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
        **detail: Any,
    ) -> None:
        self.tx.append_audit(
            self.run_id,
            actor=actor or self.actor,
            action=action,
            target=target,
            reason=reason,
            detail=detail or None,
            at=self.now,
        )

    def context(self, step: PlannedStep | None, task: Mapping[str, Any] | None = None) -> dict[str, Any]:
        ctx = {
            "inputs": dict(self.plan.inputs),
            "site": self.site_context(),
            "run": {"id": self.run_id, "drill": self.run["drill"], "started_at": self.run["started_at"].isoformat()},
            "steps": StepsView(self, step, task["item_key"] if task else None),
        }
        if step is not None and step.fan_out and task is not None:
            ctx[step.as_] = task["item"]
        return ctx

    def render_or(self, step: PlannedStep, task: Mapping[str, Any] | None, value: Any, fallback: Any) -> Any:
        """A value rendered in the task's context, or `fallback` when it cannot be yet."""
        try:
            return render_value(value, self.context(step, task))
        except ExpressionError:
            return fallback

    def titles_of(self, step: PlannedStep, task: Mapping[str, Any]) -> dict[str, Any]:
        """A task's `title` rendered in its context, in each language its step's name was written
        in (`titles`, and a Texts `title`; None when the name is a plain string). Until its upstream
        is done a title may not render: the task's title so far, or the text with "…" in place."""
        before = task.get("title")

        def one(lang: str, text: str) -> str:
            fallback = text_in(before, lang) if before and "${{" not in str(before) else EXPR_RE.sub("…", text)
            try:
                ctx = self.context(step, task)
                site = ctx["site"]
                # `${{ site.name }}` in the Chinese text gives the site's Chinese name.
                ctx["site"] = {**site, "name": text_in(site.get("name"), lang)}
                return str(render_value(text, ctx))
            except ExpressionError:
                return fallback

        if isinstance(step.name, Texts):
            titles = {lang: one(lang, text) for lang, text in step.name.by_lang.items()}
            return {"title": Texts(titles), "titles": titles}
        return {"title": one("en", step.name), "titles": None}

    # --- new tasks -------------------------------------------------------------------------------

    def item_key_of(self, step: PlannedStep, item: Any) -> str:
        ctx = {"inputs": dict(self.plan.inputs), "site": self.site_context(), step.as_: item}
        return str(render_value(step.key, ctx)).replace("/", "_")

    def new_task(self, step: PlannedStep, item_key: str | None = None, item: Any = None) -> dict[str, Any]:
        row: dict[str, Any] = {
            "run_id": self.run_id,
            "id": task_id_of(step.id, item_key),
            "step_id": step.id,
            "item_key": item_key,
            "item": item,
            "title": step.name,
            "titles": None,
            "kind": step.kind,
            "state": "pending",
            "owner": None,
            "adhoc": False,
            "late": False,
            "created_at": self.now,
            "attempt": 0,
        }
        row.update(self.titles_of(step, row))
        row["owner"] = self.owner_of(step, row)
        return row

    def owner_of(self, step: PlannedStep, task: Mapping[str, Any]) -> str | None:
        owner = step.owner
        if owner is None or "${{" not in owner:
            return owner
        value = self.render_or(step, task, owner, None)
        if isinstance(value, Mapping):
            value = value.get("id")
        if value is None:
            return None
        value = str(value)
        return value if ":" in value else f"person:{value}"


class StepsView(Mapping[str, Any]):
    """`steps.<id>` for expressions, read from the store on demand. Inside an item's pipeline a
    fan-out step with the same `for_each` means the same item's task."""

    # Private names only: expressions must not reach the run state or the transaction.
    def __init__(self, rs: RunState, step: PlannedStep | None, item_key: str | None):
        self._rs, self._item_key = rs, item_key
        self._same_items = {
            s.id for s in rs.plan.steps if step is not None and step.fan_out and s.for_each == step.for_each
        }
        self._cache: dict[str, Any] = {}

    def __getitem__(self, step_id: str) -> Any:
        if step_id not in self._cache:
            self._cache[step_id] = self._load(step_id)
        return self._cache[step_id]

    def _load(self, step_id: str) -> Any:
        rs = self._rs
        step = rs.plan.find(step_id)
        if step is None:
            raise KeyError(step_id)
        if not step.fan_out or (self._item_key is not None and step_id in self._same_items):
            task = rs.tx.task(rs.run_id, task_id_of(step_id, self._item_key if step.fan_out else None))
            if task is None:
                raise KeyError(step_id)
            outputs = kind_of(step.kind).live_outputs(rs.tx, rs.run_id, step, task, rs.plan.site)
            return {**outputs, "state": task["state"], "outputs": outputs}
        rows = rs.tx.tasks(rs.run_id, steps=[step_id])
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["state"]] = counts.get(r["state"], 0) + 1
        return {
            "state": "done" if rows and set(counts) <= TERMINAL else "pending",
            "outputs": {},
            "items": {r["item_key"]: {"state": r["state"], "outputs": r["outputs"] or {}} for r in rows},
            "counts": counts,
        }

    def __contains__(self, step_id: object) -> bool:
        return isinstance(step_id, str) and self._rs.plan.find(step_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(s.id for s in self._rs.plan.steps)

    def __len__(self) -> int:
        return len(self._rs.plan.steps)
