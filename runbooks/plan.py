"""Plan stage: runbook file (+ site, + inputs) → the resolved, frozen `Plan` that flows/ consumes.

`load_runbook` runs source → shape → validate and raises `RunbookError` with every problem;
`build_plan` resolves inputs, durations, per-item pipelines and objective targets. A run
stores the runbook text and the site snapshot and rebuilds its Plan from them
(`plan_from_text`), so a run stays pinned to the runbook it started with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checker import step_shapes
from .clean import control_character, to_integer, to_number
from .diagnostics import Diagnostic, RunbookError
from .expressions import ExpressionError, render_value
from .graph import check_graph, graph_of, streaming_source
from .models import HUMAN_KINDS, InputSpec, Runbook, parse_duration
from .shape import validate_model
from .sites import Site
from .source import Document, load_document, parse_yaml
from .validate import check_runbook

# The kind-specific keys each step kind keeps in PlannedStep.params.
_PARAMS = {
    "manual": ("fields", "returns", "draws"),
    "approval": ("required", "allow_self"),
    "muster": ("audience", "question", "options", "quorum"),
    "allocate": ("pool", "handover"),
    "http": ("with_",),
    "checkin": ("every", "rounds", "window", "questions", "flag"),
    "grant": ("with_", "revoke", "verify", "system", "profile", "scope", "expires", "review"),
    "notify": ("to", "template", "message"),
    "wait": ("for_", "until"),
    "loan": ("from_", "queue", "agents", "start", "end", "reason"),
    "shifts": (
        "queue",
        "days",
        "patterns",
        "rest",
        "max_per_week",
        "max_consecutive_nights",
        "from_",
        "time_limit",
    ),
}


@dataclass(frozen=True)
class PlannedStep:
    id: str
    kind: str
    name: str
    needs: tuple[str, ...]
    item_needs: tuple[str, ...]  # needs with the same for_each: item k waits for item k only
    all_needs: tuple[str, ...]  # needs that wait for every item
    if_: bool | str | None
    for_each: str | tuple | None
    as_: str
    key: str  # expression text giving an item's key
    owner: str | None
    due: int | None  # seconds
    estimate: int | None
    remind: tuple[int, int] | None  # (every seconds, max)
    escalate: tuple[int, str] | None  # (after seconds, target)
    on_timeout: str
    phase: str | None
    retries: int
    drill: str
    params: Mapping[str, Any]
    outputs: frozenset[str] | None
    streams_from: str | None  # a muster whose answer group feeds for_each: items appear as people answer
    line: int
    objective_needs: tuple[str, ...] = ()  # `needs: [objective:<id>]`: actionable once the objective is met

    @property
    def human(self) -> bool:
        return self.kind in HUMAN_KINDS

    @property
    def fan_out(self) -> bool:
        return self.for_each is not None


@dataclass(frozen=True)
class PlannedObjective:
    id: str
    name: str
    measure: str  # "count" or "ratio"
    step: str
    target: float
    within: int  # seconds
    options: tuple[str, ...] | None = None  # a roll call's answers that count (None: any answer)
    horizon: int = 72 * 3600  # a coverage objective's rolling window, seconds
    queue: str | None = None  # the site queue a coverage objective measures (its step is "")


@dataclass(frozen=True)
class Plan:
    runbook_id: str
    name: str
    version: int
    description: str | None
    path: str
    source: str
    source_hash: str
    trigger_event: str | None
    trigger_if: bool | str | None
    inputs: Mapping[str, Any]
    objectives: tuple[PlannedObjective, ...]
    notify: tuple[Mapping[str, Any], ...]
    steps: tuple[PlannedStep, ...]  # in dependency order
    site: Site
    templates: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # id → lang → text
    _by_id: Mapping[str, PlannedStep] = field(default_factory=dict, repr=False, compare=False)

    def step(self, step_id: str) -> PlannedStep:
        return self._by_id[step_id]

    def find(self, step_id: str) -> PlannedStep | None:
        """The step with this id, or None (an ad-hoc task's `adhoc`, a mistyped id)."""
        return self._by_id.get(step_id)

    def dependents(self, step_id: str) -> list[PlannedStep]:
        return [s for s in self.steps if step_id in s.needs]

    def context(self, run: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Expression context before any step ran: inputs, site, run."""
        return {"inputs": dict(self.inputs), "site": self.site.context(), "run": dict(run or {}), "steps": {}}


def load_runbook(path: str | Path, site: Site | None = None, text: str | None = None) -> tuple[Document, Runbook]:
    """Read, shape and validate one runbook; raise RunbookError with every problem found."""
    doc = parse_yaml(text, str(path)) if text is not None else load_document(path)
    if text is not None and not isinstance(doc.data, dict):
        doc = load_document(path)  # same error as a file
    runbook, problems = validate_model(doc, Runbook)
    problems += check_graph(doc, graph_of(doc.data))
    if runbook is not None and not problems:
        problems += check_runbook(doc, runbook, site)
    if problems:
        raise RunbookError(set(problems))
    return doc, runbook  # type: ignore[return-value]


def validate_file(path: str | Path, site: Site | None = None) -> list[Diagnostic]:
    try:
        load_runbook(path, site)
    except RunbookError as e:
        return e.diagnostics
    return []


def resolve_inputs(specs: Mapping[str, InputSpec], given: Mapping[str, Any]) -> dict[str, Any]:
    """Typed input values from defaults and `given` (strings from the CLI are converted)."""
    problems = []
    values: dict[str, Any] = {}
    for name in given:
        if name not in specs:
            from .diagnostics import did_you_mean

            problems.append(
                Diagnostic(
                    "--input",
                    1,
                    1,
                    "RB306",
                    f'unknown input "{name}"',
                    did_you_mean(name, specs) or f"inputs: {', '.join(specs) or 'none'}",
                )
            )
    for name, spec in specs.items():
        if name in given:
            try:
                values[name] = _convert(spec, given[name])
            except ValueError as e:
                problems.append(Diagnostic("--input", 1, 1, "RB306", f'input "{name}": {e}'))
        elif spec.default is not None:
            values[name] = spec.default
        elif spec.required:
            problems.append(
                Diagnostic(
                    "--input", 1, 1, "RB306", f'input "{name}" is required', f"pass --input {name}=<{spec.type}>"
                )
            )
        else:
            values[name] = None
    if problems:
        raise RunbookError(problems)
    return values


def _convert(spec: InputSpec, value: Any) -> Any:
    if spec.type in ("integer", "number"):
        convert = to_integer if spec.type == "integer" else to_number
        try:
            return convert(value, spec.minimum, spec.maximum)
        except ValueError as e:
            raise ValueError(f"{e}, got {value!r}") from None
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1", "yes"):
            return True
        if str(value).lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    value = str(value)
    bad = control_character(value)
    if bad:
        raise ValueError(f"{bad}, got {value!r}")
    if spec.type == "choice" and value not in (spec.options or []):
        raise ValueError(f"expected one of {', '.join(spec.options or [])}, got {value!r}")
    return value


def _order(runbook: Runbook) -> list[Any]:
    """Steps in dependency order, keeping the written order among peers."""
    done: set[str] = set()
    ordered: list[Any] = []
    pending = list(runbook.steps)
    while pending:
        ready = [s for s in pending if all(n in done for n in s.step_needs)]
        for s in ready:
            done.add(s.id)
            ordered.append(s)
        pending = [s for s in pending if s.id not in done]
    return ordered


def build_plan(doc: Document, runbook: Runbook, site: Site, inputs: Mapping[str, Any] | None = None) -> Plan:
    values = resolve_inputs(runbook.inputs, inputs or {})
    shapes = step_shapes(runbook, site)
    kinds = {s.id: s.kind for s in runbook.steps}
    for_each_text = {s.id: s.for_each if isinstance(s.for_each, str) else None for s in runbook.steps}
    steps = []
    for step in _order(runbook):
        index = next(i for i, s in enumerate(runbook.steps) if s is step)
        same = tuple(
            n for n in step.step_needs if for_each_text[n] is not None and for_each_text[n] == for_each_text[step.id]
        )
        params = {}
        for key in _PARAMS[step.kind]:
            value = getattr(step, key)
            params[key.rstrip("_")] = (
                value.model_dump(by_alias=True)
                if hasattr(value, "model_dump")
                else (
                    {k: v.model_dump() for k, v in value.items()} if key in ("fields", "questions") else _dumped(value)
                )
            )
        steps.append(
            PlannedStep(
                id=step.id,
                kind=step.kind,
                name=step.name or step.id.replace("_", " ").capitalize(),
                needs=tuple(step.step_needs),
                item_needs=same,
                all_needs=tuple(n for n in step.step_needs if n not in same),
                objective_needs=step.objective_needs,
                if_=step.if_,
                for_each=tuple(step.for_each) if isinstance(step.for_each, list) else step.for_each,
                as_=step.as_,
                key=step.key or f"${{{{ {step.as_}.id if {step.as_} is mapping else {step.as_} }}}}",
                owner=step.owner,
                due=parse_duration(step.due) if step.due else None,
                estimate=parse_duration(step.estimate) if step.estimate else None,
                remind=(parse_duration(step.remind.every), step.remind.max) if step.remind else None,
                escalate=(parse_duration(step.escalate.after), step.escalate.to) if step.escalate else None,
                on_timeout=step.on_timeout,
                phase=step.phase,
                retries=step.retries,
                drill=step.drill,
                params=params,
                outputs=shapes[step.id].outputs,
                streams_from=streaming_source(step, kinds),
                line=doc.mark(("steps", index)).line,
            )
        )
    context = {"inputs": values, "site": site.context()}
    objectives = []
    for i, o in enumerate(runbook.objectives):
        try:
            target = render_value(o.target, context)
            target = float(target)
        except (ExpressionError, TypeError, ValueError) as e:
            raise RunbookError(
                [
                    doc.diagnostic(
                        ("objectives", i, "target"), "RB107", f'objective "{o.id}" target is not a number: {e}'
                    )
                ]
            ) from None
        objectives.append(
            PlannedObjective(
                o.id,
                o.name,
                "count" if o.count else "ratio" if o.ratio else "coverage",
                o.count or o.ratio or "",
                target,
                parse_duration(o.within),
                tuple(o.options) if o.options else None,
                parse_duration(o.horizon) if o.horizon else 72 * 3600,
                o.coverage,
            )
        )
    source = doc.text
    by_id = {s.id: s for s in steps}
    return Plan(
        runbook.id,
        runbook.name,
        runbook.version,
        runbook.description,
        doc.path,
        source,
        hashlib.sha256(source.encode()).hexdigest(),
        runbook.trigger.event if runbook.trigger else None,
        runbook.trigger.if_ if runbook.trigger else None,
        values,
        tuple(objectives),
        tuple(r.model_dump(by_alias=True, exclude_none=True) for r in runbook.notify),
        tuple(steps),
        site,
        _by_id=by_id,
        templates={tid: (t if isinstance(t, dict) else {"en": t}) for tid, t in runbook.templates.items()},
    )


def load_plan(path: str | Path, site: Site, inputs: Mapping[str, Any] | None = None) -> Plan:
    doc, runbook = load_runbook(path, site)
    return build_plan(doc, runbook, site, inputs)


def plan_from_text(text: str, path: str, site: Site, inputs: Mapping[str, Any] | None = None) -> Plan:
    """Rebuild a run's Plan from the runbook text and site snapshot stored with it."""
    doc, runbook = load_runbook(path, site, text=text)
    return build_plan(doc, runbook, site, inputs)


def trigger_matches(runbook: Runbook, site: Site, event: str) -> bool:
    """Does this runbook start on `event` at `site`? Its trigger `if` sees the site and the
    inputs' defaults. Checked before the runbook is validated against the site, so runbooks
    written for other kinds of site are never loaded against this one."""
    if runbook.trigger is None or runbook.trigger.event != event:
        return False
    cond = runbook.trigger.if_
    if cond is None or isinstance(cond, bool):
        return cond is not False
    inputs = {name: spec.default for name, spec in runbook.inputs.items()}
    return bool(render_value(cond, {"inputs": inputs, "site": site.context()}))


def _dumped(value: Any) -> Any:
    """A list of models (a shifts step's patterns) → plain values; anything else as it is."""
    if isinstance(value, list):
        return [v.model_dump(by_alias=True) if hasattr(v, "model_dump") else v for v in value]
    return value
