"""Show edge: results of the core (plan reports, later runs and tasks) → rich text for people."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from runbooks.estimate import PlanReport, format_duration
from runbooks.diagnostics import render


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
        table.add_row(s.id, s.kind, s.owner or "-", items, ", ".join(needs) or "-",
                      format_duration(s.estimate), format_duration(s.due), format_duration(e.finish))
    out.print(table)
    for label, chain, n in report.pipelines:
        count = f"up to {n} items" if n is not None else "items known at run time"
        out.print(f"\n[bold]Per-item pipeline[/bold] over {label} ({count}); each item advances on its own:")
        out.print("  " + " → ".join(chain))
    if report.objectives:
        out.print("\n[bold]Critical path against objectives[/bold] (from estimates):")
    for o in report.objectives:
        mark = "[green]fits[/green]" if o.fits else "[red]at risk[/red]"
        out.print(f"  {o.id} ({o.name}, target {o.target:g} within {format_duration(o.within)}): "
                  f"{' → '.join(o.path)} = {format_duration(o.duration)}  {mark}")
    if report.warnings:
        out.print()
    for w in report.warnings:
        out.print(render(w), markup=False)
