"""Show edge: results of the core (plan reports, later runs and tasks) → rich text for people."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from flows.progress import progress
from runbooks.diagnostics import render
from runbooks.estimate import PlanReport, format_duration

from .common import in_lang


def print_plan(out: Console, report: PlanReport) -> None:
    plan = report.plan
    out.print(f"[bold]{plan.name}[/bold]  ({plan.runbook_id} v{plan.version}) at [bold]{plan.site.name}[/bold]")
    if plan.inputs:
        out.print("inputs: " + ", ".join(f"{k}={v}" for k, v in plan.inputs.items()))
    table = Table(show_edge=False, pad_edge=False)
    for col in ("step", "kind", "owner", "items", "needs", "estimate", "due", "done by"):
        table.add_column(col, no_wrap=col in ("step", "kind", "items", "estimate", "due", "done by"))
    for e in report.steps:
        s = e.step
        if e.items is not None:
            items = str(e.items)
        elif e.items_max is not None:
            items = f"≤{e.items_max}"
        else:
            items = "at run time"
        needs = [f"{n}[item]" for n in s.item_needs] + list(s.all_needs)
        if s.streams_from:
            needs.append(f"{s.streams_from}:answers")
        needs += [f"objective:{o}" for o in s.objective_needs]
        table.add_row(
            s.id,
            s.kind,
            s.owner or "-",
            items,
            ", ".join(needs) or "-",
            format_duration(s.estimate),
            format_duration(s.due),
            format_duration(e.finish),
        )
    out.print(table)
    for label, chain, n in report.pipelines:
        count = f"up to {n} items" if n is not None else "items known at run time"
        out.print(f"\n[bold]Per-item pipeline[/bold] over {label} ({count}); each item advances on its own:")
        out.print("  " + " → ".join(chain))
    if report.objectives:
        out.print("\n[bold]Critical path against objectives[/bold] (from estimates):")
    for o in report.objectives:
        mark = "[green]fits[/green]" if o.fits else "[red]at risk[/red]"
        out.print(
            f"  {o.id} ({o.name}, target {o.target:g} within {format_duration(o.within)}): "
            f"{' → '.join(o.path)} = {format_duration(o.duration)}  {mark}"
        )
    if report.warnings:
        out.print()
    for w in report.warnings:
        out.print(render(w), markup=False)


def _bar(p: dict, width: int = 24) -> str:
    """A progress object (flows/progress.py) as a bar, its percent and done of counted."""
    counted = p["done"] + p["remaining"] + p["failed"]
    filled = round(width * p["done"] / counted) if counted else 0
    percent = "  –" if p["percent"] is None else f"{p['percent']:3.0f}%"
    extra = "".join(f", {p[k]} {k}" for k in ("failed", "skipped", "cancelled") if p[k])
    return "█" * filled + "░" * (width - filled) + f" {percent} {p['done']}/{counted}{extra}"


def print_runs(out: Console, runs: list[dict]) -> None:
    runs = in_lang(runs)
    if not runs:
        out.print("no runs")
        return
    table = Table(show_edge=False, pad_edge=False)
    for col in ("run", "runbook", "site", "state", "progress", "waiting", "overdue"):
        table.add_column(col, no_wrap=True)
    for run in runs:
        table.add_row(
            run["id"],
            run["runbook"] + (" (drill)" if run["drill"] else ""),
            run["site"],
            run["state"],
            _bar(run["progress"], 16),
            str(run["counts"].get("waiting", 0)),
            str(run.get("overdue", "")),
        )
    out.print(table)


def clock(value: str | None, tz: str | None, seconds: bool = False) -> str:
    """An ISO time (UTC) for people: the site's local time with its zone's abbreviation
    (`2021-12-23 12:05 CST`), or UTC (`tz` None: `--utc`, or a site the CLI cannot see)."""
    if not value:
        return "-"
    from datetime import datetime
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    moment = datetime.fromisoformat(value)
    try:
        moment = moment.astimezone(ZoneInfo(tz or "UTC"))
    except ZoneInfoNotFoundError:
        moment = moment.astimezone(ZoneInfo("UTC"))
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def print_run(out: Console, run: dict, tz: str | None = None) -> None:
    run = in_lang(run)
    out.print(
        f"[bold]{run['name']}[/bold] ({run['runbook']} v{run['version']}) at {run['site']}"
        f"{'  [yellow]DRILL[/yellow]' if run['drill'] else ''}"
    )
    out.print(f"run {run['id']}: {run['state']}, started {clock(run['started_at'], tz)} by {run['started_by']}")
    out.print(f"overall  {_bar(run['progress'])}  " + ", ".join(f"{n} {s}" for s, n in sorted(run["counts"].items())))
    width = max((len(s) for s in run["steps"]), default=4)
    for step, counts in run["steps"].items():
        out.print(
            f"  {step:<{width}} {_bar(progress(counts))}  " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        )
    for o in run["objectives"]:
        state = o.get("state") or ("met" if o["met"] else "open")
        mark = {"met": "[green]met[/green]", "missed": "[red]missed[/red]", "at_risk": "[yellow]at risk[/yellow]"}.get(
            state, state.replace("_", " ")
        )
        out.print(
            f"objective {o['id']} ({o['name']}): {o['value']:g} / {o['target']:g}  {mark}, "
            f"deadline {clock(o['deadline'], tz)}"
        )


def print_tasks(out: Console, tasks: list[dict], tz: str | None = None) -> None:
    tasks = in_lang(tasks)
    if not tasks:
        out.print("no tasks")
        return
    table = Table(show_edge=False, pad_edge=False)
    assets = any(t.get("asset") for t in tasks)
    for col in ("task", "state", "owner", "due", "title", *(["asset"] if assets else [])):
        table.add_column(col, no_wrap=col not in ("title", "asset"))
    for t in tasks:
        state = t["state"] + (" [red]overdue[/red]" if t["overdue"] else "")
        row = [t["id"], state, t["owner"] or "-", clock(t["due_at"], tz), t["title"]]
        table.add_row(*row, *([escape(asset_line(t.get("asset")))] if assets else []))
    out.print(table)


def asset_line(asset: Mapping[str, Any] | None) -> str:
    """An allocated asset in one line: its key, then the pool's other columns."""
    if not asset:
        return "-"
    return " · ".join([str(asset["key"]), *(str(v) for v in asset["columns"].values() if v not in (None, ""))])


def audit_detail(detail: Mapping[str, Any] | None) -> str:
    """An audit entry's detail in one line (an answer: person, option, note, via), for the CLI and
    the audit page; empty values left out."""
    return " ".join(f"{k}={v}" for k, v in (detail or {}).items() if v not in (None, "", [], {}))


def print_audit(out: Console, data: dict, tz: str | None = None) -> None:
    for e in data["entries"]:
        line = f"{e['n']:>4} {clock(e['at'], tz, seconds=True)} {e['actor']}: {e['action']} {e['target'] or ''}"
        if e["reason"]:
            line += f" — {e['reason']}"
        detail = audit_detail(e.get("detail"))
        if detail:
            line += f" [{detail}]"
        out.print(line, markup=False)
    if data["verified"]:
        out.print(f"[green]chain verified[/green] ({len(data['entries'])} entries)")
    else:
        out.print("[red]chain does NOT verify:[/red] " + "; ".join(data["problems"]))


def print_outbox(out: Console, data: dict) -> None:
    counts = data["counts"]
    out.print("outbox: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("pending", "sent", "dead")))
    rows = data["notifications"]
    if not rows:
        return
    table = Table(box=None, show_edge=False)
    for col in ("state", "attempts", "channel", "recipient", "event", "task", "error"):
        table.add_column(col)
    for n in rows:
        table.add_row(
            n["state"],
            str(n["attempts"]),
            n["channel"],
            n["recipient"],
            n["event"],
            n["task"] or "-",
            escape(n["error"] or ""),
        )
    out.print(table)


def print_simulation(out: Console, result: dict[str, Any]) -> None:
    """`runbook plan --simulate`: one line per objective — "P50 31h, P90 44h, 97% within 72h"."""
    out.print(f"[bold]{result['runbook']}[/bold] at [bold]{result['site']}[/bold]: {result['trials']} trials")
    if result["assume"]:
        out.print("assuming " + ", ".join(f"{k}={v:g}" for k, v in result["assume"].items()))
    for step, shares in result["answers"].items():
        out.print(f"{step} answers: " + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()))
    for o in result["objectives"]:
        f = o["forecast"]

        def at(seconds: float | None) -> str:
            return "never" if seconds is None else format_duration(int(round(seconds / 60)) * 60)

        out.print(
            f"{o['id']} ({o['name']}, {o['target']:g}): P50 {at(f['p50'])}, P90 {at(f['p90'])}, "
            f"{f['probability']:.0%} within {format_duration(o['within'])}",
            highlight=False,
        )
