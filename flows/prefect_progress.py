"""Progress in Prefect: a run's task states → progress artifacts of the attempt's flow run, one
per phase (`<run>-phase-<phase>`, steps without a phase in `<run>-phase-steps`), or one per step
(`<run>-<step>`) when the run is too large to mirror task by task; and a markdown summary of the
objectives (`<run>-objectives`). Each is written only when what it shows changed. Percentages
follow flows/progress.py, the one definition every view uses."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .progress import progress


def artifact_key(*parts: str) -> str:
    """Prefect keys: lowercase letters, digits and dashes."""
    return "-".join(parts).lower().replace("_", "-").replace(":", "-")


def counts_by(rows: Iterable[Mapping[str, Any]], group: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Task rows → counts by state per group (`group`: step id → its group)."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        name = group.get(str(row["step_id"]), "steps")
        states = out.setdefault(name, {})
        states[row["state"]] = states.get(row["state"], 0) + 1
    return out


def describe(name: str, counts: Mapping[str, int]) -> tuple[float, str]:
    p = progress(counts)
    counted = p["done"] + p["remaining"] + p["failed"]
    value = 100.0 if p["percent"] is None else float(p["percent"])
    text = f"{name}: {p['done']} of {counted} done"
    extra = [f"{p[k]} {k}" for k in ("failed", "skipped", "cancelled") if p[k]]
    return value, text + (f" ({', '.join(extra)})" if extra else "")


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "–" if value is None else str(value)


def objectives_markdown(run: Mapping[str, Any]) -> str:
    lines = ["| objective | value | target | met | deadline |", "|---|---|---|---|---|"]
    for o in run.get("objectives") or []:
        met = f"yes, {o['met_at']}" if o["met"] else "no"
        lines.append(f"| {o['name']} | {_number(o['value'])} | {_number(o['target'])} | {met} | {o['deadline']} |")
    p = (run.get("progress") or {}).get("percent")
    return (
        f"**{run['runbook']} at {run['site']}** — {run['state']}, {p if p is not None else '–'}% done\n\n"
        + "\n".join(lines)
    )


class ProgressArtifacts:
    """The artifacts of one attempt's flow run (created at first write, updated after)."""

    def __init__(self, run_id: str, flow_run_id: str | None):
        self.run_id, self.flow_run_id = run_id, flow_run_id
        self.ids: dict[str, Any] = {}
        self.last: dict[str, tuple[Any, str]] = {}

    def write_progress(self, client: Any, groups: Mapping[str, Mapping[str, int]], prefix: str = "") -> None:
        for name, counts in groups.items():
            value, text = describe(name, counts)
            key = artifact_key(self.run_id, *((prefix,) if prefix else ()), name)
            self._put(client, key, "progress", value, text)

    def write_objectives(self, client: Any, run: Mapping[str, Any]) -> None:
        if run.get("objectives"):
            text = objectives_markdown(run)
            self._put(client, artifact_key(self.run_id, "objectives"), "markdown", text, "Objectives of the run")

    def _put(self, client: Any, key: str, kind: str, data: Any, description: str) -> None:
        from prefect.client.schemas.actions import ArtifactCreate, ArtifactUpdate

        if self.last.get(key) == (data, description):
            return
        if key in self.ids:
            client.update_artifact(self.ids[key], ArtifactUpdate(data=data, description=description))
        else:
            flow_run = uuid.UUID(self.flow_run_id) if self.flow_run_id else None
            created = client.create_artifact(
                ArtifactCreate(key=key, type=kind, data=data, description=description, flow_run_id=flow_run)
            )
            self.ids[key] = created.id
        self.last[key] = (data, description)


def phase_of(steps: Iterable[Any]) -> dict[str, str]:
    return {s.id: (s.phase or "steps") for s in steps}
