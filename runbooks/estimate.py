"""Estimate stage: Plan → what `runbook plan` shows: item counts, per-item pipelines, the
critical path against each objective's `within`, and warnings (pool shortage, unreachable staff).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Diagnostic
from .expressions import ExpressionError, render_value
from .models import parse_duration
from .plan import Plan, PlannedStep


@dataclass(frozen=True)
class StepEstimate:
    step: PlannedStep
    items: int | None  # exact count when known before the run
    items_max: int | None  # "up to": a muster answer group is at most its audience
    finish: int  # earliest finish, seconds from the start, from estimates


@dataclass(frozen=True)
class ObjectiveEstimate:
    id: str
    name: str
    path: tuple[str, ...]
    duration: int
    within: int
    target: float
    reachable: int | None  # most items the measured step can have

    @property
    def fits(self) -> bool:
        return self.duration <= self.within and (
            self.reachable is None or self.reachable >= self.target or self.target <= 1
        )


@dataclass
class PlanReport:
    plan: Plan
    steps: list[StepEstimate] = field(default_factory=list)
    pipelines: list[tuple[str, list[str], int | None]] = field(default_factory=list)
    objectives: list[ObjectiveEstimate] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)


def format_duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out)


def _count(value: Any, plan: Plan, context: dict[str, Any]) -> int | None:
    try:
        result = render_value(value if not isinstance(value, tuple) else list(value), context)
    except ExpressionError:
        return None
    return len(result) if isinstance(result, (list, tuple)) else None


def estimate_plan(plan: Plan) -> PlanReport:
    report = PlanReport(plan)
    context = plan.context({"id": "plan", "drill": False, "started_at": None})
    audience: dict[str, int | None] = {}
    finish: dict[str, int] = {}
    best_need: dict[str, str | None] = {}
    by_id: dict[str, StepEstimate] = {}
    for step in plan.steps:
        items: int | None = 1
        items_max: int | None = 1
        if step.streams_from:
            items, items_max = None, audience.get(step.streams_from)
        elif step.for_each is not None:
            uses_steps = isinstance(step.for_each, str) and "steps." in step.for_each
            items = None if uses_steps else _count(step.for_each, plan, context)
            items_max = items
        if step.kind == "muster":
            audience[step.id] = _count(step.params["audience"], plan, context)
        preds = list(step.needs) + ([step.streams_from] if step.streams_from else [])
        start_from = max(preds, key=lambda n: finish[n], default=None)
        best_need[step.id] = start_from
        finish[step.id] = (finish[start_from] if start_from else 0) + (step.estimate or 0)
        est = StepEstimate(step, items, items_max, finish[step.id])
        by_id[step.id] = est
        report.steps.append(est)
    report.pipelines = _pipelines(plan, by_id)
    for obj in plan.objectives:
        path = []
        cursor: str | None = obj.step
        if obj.queue is not None and obj.queue in plan.site.service:  # staffed once its supply is done
            supply = [e.step for e in plan.site.service[obj.queue].supply if e.step in finish]
            cursor = max(supply, key=lambda n: finish[n], default=None)
        while cursor:
            path.append(cursor)
            cursor = best_need.get(cursor)
        measured = by_id.get(obj.step)
        reachable = measured.items_max if measured and obj.measure == "count" else None
        report.objectives.append(
            ObjectiveEstimate(
                obj.id,
                obj.name,
                tuple(reversed(path)),
                finish.get(path[0], 0) if path else 0,
                obj.within,
                obj.target,
                reachable,
            )
        )
    report.warnings = _warnings(plan, report, audience)
    return report


def _pipelines(plan: Plan, by_id: dict[str, StepEstimate]) -> list[tuple[str, list[str], int | None]]:
    """Chains of steps joined by per-item needs (laptop → setup → training → go_live)."""
    chains: list[tuple[str, list[str], int | None]] = []
    in_chain: set[str] = set()
    for step in plan.steps:
        if not step.fan_out or step.item_needs or step.id in in_chain:
            continue
        chain = [step.id]
        frontier = step.id
        while True:
            nxt = next((s for s in plan.steps if frontier in s.item_needs), None)
            if nxt is None:
                break
            chain.append(nxt.id)
            frontier = nxt.id
        if len(chain) > 1:
            in_chain.update(chain)
            label = step.for_each if isinstance(step.for_each, str) else f"{len(step.for_each or ())} items"
            chains.append((label, chain, by_id[step.id].items_max))
    return chains


def _warnings(plan: Plan, report: PlanReport, audience: dict[str, int | None]) -> list[Diagnostic]:
    out = []
    path = plan.path
    for est in report.steps:
        step = est.step
        if step.remind is not None and step.due is not None and step.remind[0] >= step.due:
            out.append(
                Diagnostic(
                    path,
                    step.line,
                    1,
                    "RB604",
                    f'step "{step.id}" reminds every {format_duration(step.remind[0])} but is due in '
                    f"{format_duration(step.due)}: no reminder comes before it is overdue",
                    "remind more often than the due time, e.g. remind: {every: 30m} with due: 2h",
                    severity="warning",
                )
            )
        if step.kind == "grant" and step.params.get("expires") and step.params.get("review"):
            expires, review = parse_duration(step.params["expires"]), parse_duration(step.params["review"])
            if expires < review:
                out.append(
                    Diagnostic(
                        path,
                        step.line,
                        1,
                        "RB551",
                        f'grant step "{step.id}" expires after {format_duration(expires)}, before its first '
                        f"review ({format_duration(review)}): no review ever happens",
                        "review more often than the grant lasts, e.g. expires: 30d with review: 7d",
                        severity="warning",
                    )
                )
        if step.kind == "allocate":
            pool = plan.site.pools.get(step.params["pool"])
            free = len(pool.available()) if pool else 0
            need = est.items_max
            if need is not None and need > free:
                out.append(
                    Diagnostic(
                        path,
                        step.line,
                        1,
                        "RB601",
                        f"pool {step.params['pool']} has {free} available, up to {need} may be needed "
                        f'by step "{step.id}"',
                        "add stock to the pool's CSV, or plan a transfer from the backup site",
                        severity="warning",
                    )
                )
        if step.kind == "muster":
            try:
                people = render_value(step.params["audience"], plan.context({"id": "plan"}))
            except ExpressionError:
                people = []
            if isinstance(people, list):
                rows = [p if isinstance(p, dict) else (plan.site.person(str(p)) or {}) for p in people]
                silent = [r for r in rows if not r.get("phone") and not r.get("chat_id")]
                if silent:
                    out.append(
                        Diagnostic(
                            path,
                            step.line,
                            1,
                            "RB602",
                            f'{len(silent)} staff in the audience of "{step.id}" have no phone or chat id',
                            "they get only their personal link by email, or a call from their team lead",
                            severity="warning",
                        )
                    )
    for obj in report.objectives:
        if obj.duration > obj.within:
            step = plan.step(obj.path[-1])
            out.append(
                Diagnostic(
                    path,
                    step.line,
                    1,
                    "RB603",
                    f'objective "{obj.id}": the critical path takes {format_duration(obj.duration)}, '
                    f"more than its {format_duration(obj.within)}",
                    severity="warning",
                )
            )
        elif obj.reachable is not None and obj.target > obj.reachable:
            step = plan.step(obj.path[-1])
            out.append(
                Diagnostic(
                    path,
                    step.line,
                    1,
                    "RB603",
                    f'objective "{obj.id}" targets {obj.target:g} but "{step.id}" has at most {obj.reachable} items',
                    severity="warning",
                )
            )
    return out


def report_json(report: PlanReport) -> dict[str, Any]:
    plan = report.plan
    return {
        "runbook": plan.runbook_id,
        "name": plan.name,
        "version": plan.version,
        "site": plan.site.id,
        "inputs": dict(plan.inputs),
        "steps": [
            {
                "id": e.step.id,
                "kind": e.step.kind,
                "name": e.step.name,
                "phase": e.step.phase,
                "needs": list(e.step.needs),
                "per_item_needs": list(e.step.item_needs),
                "objective_needs": list(e.step.objective_needs),
                "owner": e.step.owner,
                "for_each": e.step.for_each if isinstance(e.step.for_each, str) else None,
                "streams_from": e.step.streams_from,
                "items": e.items,
                "items_max": e.items_max,
                "estimate": e.step.estimate,
                "due": e.step.due,
                "finish": e.finish,
            }
            for e in report.steps
        ],
        "pipelines": [{"for_each": label, "steps": chain, "items_max": n} for label, chain, n in report.pipelines],
        "objectives": [
            {
                "id": o.id,
                "name": o.name,
                "target": o.target,
                "within": o.within,
                "critical_path": list(o.path),
                "duration": o.duration,
                "fits": o.fits,
            }
            for o in report.objectives
        ],
        "warnings": [w.to_json() for w in report.warnings],
    }
