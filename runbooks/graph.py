"""The step graph of a runbook: ids and `needs` read even from a document whose shape is
invalid (so a typo'd key and a broken `needs:` are reported together), duplicate ids, unknown
needs, cycles with their path; each step's transitive upstream; the roll call a step's
`for_each` streams from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .diagnostics import Diagnostic, did_you_mean
from .expressions import single_expression
from .models import OBJECTIVE_NEED, Runbook
from .source import Document


def graph_of(data: Any) -> list[tuple[int, str, list[str]]]:
    """(index, id, needs) of every step whose id and needs are readable, from raw YAML data."""
    out = []
    steps = data.get("steps") if isinstance(data, dict) else None
    for i, step in enumerate(steps if isinstance(steps, list) else []):
        if isinstance(step, dict) and isinstance(step.get("id"), str):
            needs = step.get("needs", [])
            out.append((i, step["id"], [n for n in needs if isinstance(n, str)] if isinstance(needs, list) else []))
    return out


def check_graph(doc: Document, graph: list[tuple[int, str, list[str]]]) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    first: dict[str, int] = {}
    for i, step_id, _ in graph:
        if step_id in first:
            line = doc.mark(("steps", first[step_id], "id")).line
            problems.append(
                doc.diagnostic(
                    ("steps", i, "id"),
                    "RB301",
                    f'duplicate step id "{step_id}" (first at line {line})',
                    "step ids must be unique; rename one of them",
                )
            )
        else:
            first[step_id] = i
    ids = list(first)
    listed = doc.data.get("objectives")  # an invalid shape (`objectives: true`) is the shape stage's to report
    objectives = [o.get("id") for o in listed if isinstance(o, dict)] if isinstance(listed, list) else []
    for i, step_id, needs in graph:
        for j, need in enumerate(needs):
            if need.startswith(OBJECTIVE_NEED):
                oid = need[len(OBJECTIVE_NEED) :]
                if oid not in objectives:
                    problems.append(
                        doc.diagnostic(
                            ("steps", i, "needs", j),
                            "RB302",
                            f'step "{step_id}" needs objective "{oid}", which does not exist',
                            did_you_mean(oid, [o for o in objectives if isinstance(o, str)])
                            or f"objectives: {', '.join(str(o) for o in objectives) or 'none'}",
                        )
                    )
            elif need not in first:
                problems.append(
                    doc.diagnostic(
                        ("steps", i, "needs", j),
                        "RB302",
                        f'step "{step_id}" needs step "{need}", which does not exist',
                        did_you_mean(need, ids) or f"steps: {', '.join(ids)}",
                    )
                )
    problems += _check_cycles(doc, graph, first)
    return problems


def _check_cycles(doc: Document, graph: list[tuple[int, str, list[str]]], first: dict[str, int]) -> list[Diagnostic]:
    needs_of = {step_id: [n for n in needs if n in first] for i, step_id, needs in graph if first[step_id] == i}
    state: dict[str, int] = {}  # 1 visiting, 2 done
    problems = []
    reported: set[frozenset] = set()
    for start in needs_of:
        if state.get(start):
            continue
        stack = [(start, iter(needs_of[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    text = " -> ".join(f'"{s}"' for s in cycle)
                    j = needs_of[node].index(nxt)
                    problems.append(
                        doc.diagnostic(
                            ("steps", first[node], "needs", j),
                            "RB303",
                            f"dependency cycle: {text}",
                            "a step cannot wait, directly or not, for itself",
                        )
                    )
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(needs_of[nxt])))
                path.append(nxt)
    return problems


def upstream_of(runbook: Runbook) -> dict[str, frozenset[str]]:
    """Each step's transitive needs (the graph is acyclic when this is called)."""
    needs = {s.id: s.step_needs for s in runbook.steps}
    memo: dict[str, frozenset[str]] = {}

    def up(step_id: str) -> frozenset[str]:
        if step_id not in memo:
            memo[step_id] = frozenset()  # guards against a cycle reaching here
            acc: set[str] = set()
            for n in needs.get(step_id, []):
                acc.add(n)
                acc |= up(n)
            memo[step_id] = frozenset(acc)
        return memo[step_id]

    for s in runbook.steps:
        up(s.id)
    return memo


def streaming_source(step: Any, kinds: Mapping[str, str]) -> str | None:
    """The muster whose answer group `for_each` reads: its items appear as people answer,
    so the step depends on the muster without waiting for it to close (docs/language.md)."""
    if not isinstance(step.for_each, str):
        return None
    inner = single_expression(step.for_each)
    if inner is None:
        return None
    parts = inner.strip().split(".")
    if len(parts) == 4 and parts[0] == "steps" and parts[2] == "answers" and kinds.get(parts[1]) == "muster":
        return parts[1]
    if (
        len(parts) == 5
        and parts[0] == "steps"
        and parts[2] == "outputs"
        and parts[3] == "answers"
        and kinds.get(parts[1]) == "muster"
    ):
        return parts[1]
    return None
