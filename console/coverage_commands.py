"""CLI edge for 7x24 coverage: `runbook coverage SITE` → the Engine on the local store (or the
API through console/remote.py) → per interval the calls, required and staffed agents, the gap."""

from __future__ import annotations

from typing import Any

import typer

from .common import FORMAT, Format, engine_call, out, print_json
from .run_commands import engine


def register(app: typer.Typer) -> None:
    @app.command()
    def coverage(
        site: str = typer.Argument(..., help="site id or site directory"),
        queue: str | None = typer.Option(None, "--queue", help="the queue of the site's service: (default: its first)"),
        hours: int = typer.Option(72, "--hours", help="the window from now, in hours (1 to 336)"),
        format: Format = FORMAT,
    ) -> None:
        """Required (Erlang C) vs staffed agents per interval of a site's queue, from now."""
        eng = engine()
        data = engine_call(lambda: eng.coverage(site, queue=queue, hours=hours))
        print_json(data) if format == Format.json else print_coverage(data)


def print_coverage(data: dict[str, Any]) -> None:
    source = f"run {data['run']}" if data["run"] else "baseline (no running run)"
    short = sum(1 for r in data["intervals"] if r["gap"])
    out.print(
        f"{data['site']} / {data['queue']} ({data['timezone']}): {source}; "
        f"{data['covered'] * 100:.0f}% of {len(data['intervals'])} intervals covered, {short} short",
        markup=False,
    )
    out.print(
        f"  {'local start':<17} {'calls':>7} {'required':>8} {'staffed':>7} {'gap':>4} {'level':>6}", markup=False
    )
    for r in data["intervals"]:
        local = r["local"][:16].replace("T", " ")
        mark = "  SHORT" if r["gap"] else ""
        out.print(
            f"  {local:<17} {r['calls']:>7g} {r['required']:>8} {r['staffed']['total']:>7} {r['gap']:>4} "
            f"{r['service_level']:>6.3f}{mark}",
            markup=False,
        )
