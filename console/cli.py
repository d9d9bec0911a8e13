"""CLI edge: `runbook …` commands → calls into runbooks/ (and flows/) → text or JSON, and exit codes.

Only this module exits the process. Commands that need no Prefect never import it, so
`runbook validate` starts in well under a second.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from runbooks.diagnostics import Diagnostic, RunbookError, render_all
from runbooks.library import NotFound, find_runbook, find_site

from . import (
    audit_commands,
    coverage_commands,
    grant_commands,
    loan_commands,
    report_commands,
    roll_call_commands,
    run_commands,
    scale,
    shift_commands,
    user_commands,
)
from .common import FORMAT, Format, fail, out, parse_pairs, print_json, read_lines, reported

if TYPE_CHECKING:
    from runbooks.sites import Site

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Emergency continuity runbooks: validate, plan and run them.",
)


@app.callback()
def witness_at_exit(
    ctx: typer.Context,
    utc: bool = typer.Option(False, "--utc", help="times in UTC instead of the site's local time (JSON is UTC)"),
    lang: str | None = typer.Option(
        None, "--lang", help="runbook and site texts in en or zh-CN (default: RUNBOOK_LANG, else en)"
    ),
) -> None:
    """Emergency continuity runbooks: validate, plan and run them."""
    from .common import CLOCK, set_lang

    CLOCK["utc"] = utc
    set_lang(lang)
    ctx.call_on_close(run_commands.witness_local_writes)


def load_site_arg(name: str) -> Site:
    from runbooks.sites import load_site

    with reported():
        return load_site(find_site(name))


@app.command()
def validate(
    paths: list[str] = typer.Argument(..., help="runbook files, directories of runbooks, or site directories"),
    site: str | None = typer.Option(None, "--site", help="also check teams, pools, channels and people"),
    format: Format = FORMAT,
) -> None:
    """Check runbooks (and site directories); report every problem at once. Exit 0 valid, 1 invalid."""
    from runbooks.plan import validate_file
    from runbooks.sites import load_site

    diagnostics: list[Diagnostic] = []
    site_obj = None
    if site is not None:
        try:
            site_obj = load_site(find_site(site))
        except NotFound as e:
            raise fail(str(e), 2) from None
        except RunbookError as e:
            diagnostics += e.diagnostics
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and (p / "site.yaml").is_file():
            try:
                load_site(p)
            except RunbookError as e:
                diagnostics += e.diagnostics
        elif p.is_dir():
            files += sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
        elif p.exists():
            files.append(p)
        else:
            try:
                files.append(find_runbook(raw, allow_path=False))
            except NotFound:
                raise fail(f'"{raw}" is neither a file, a directory nor a runbook id', 2) from None
    for f in files:
        diagnostics += validate_file(f, site_obj)
    errors = [d for d in diagnostics if d.severity == "error"]
    if format == Format.json:
        print_json({"valid": not errors, "diagnostics": [d.to_json() for d in sorted(diagnostics)]})
    elif diagnostics:
        typer.echo(render_all(diagnostics, read_lines))
        typer.echo(f"\n{len(errors)} error(s) in {len({d.path for d in errors})} file(s)")
    else:
        typer.echo(f"{len(files)} runbook(s) valid" + (f" against site {site_obj.id}" if site_obj else ""))
    raise typer.Exit(1 if errors else 0)


@app.command()
def plan(
    runbook: str = typer.Argument(..., help="runbook file or id"),
    site: str = typer.Option(..., "--site", help="site directory or id"),
    input: list[str] | None = typer.Option(None, "--input", help="k=v, repeatable"),
    simulate: bool = typer.Option(False, "--simulate", help="forecast each objective (Monte-Carlo)"),
    trials: int = typer.Option(1000, "--trials", min=10, max=100_000, help="trials of --simulate"),
    assume: list[str] | None = typer.Option(
        None, "--assume", help="what-if of --simulate: team.X=leads, pool.X=items, answers.OPTION=share"
    ),
    format: Format = FORMAT,
) -> None:
    """Show the expanded plan: steps, item counts, per-item pipelines, critical path vs objectives;
    with --simulate, each objective's forecast (P50, P90, probability within its time)."""
    from runbooks.estimate import estimate_plan, report_json
    from runbooks.plan import load_plan

    inputs = parse_pairs(input, "--input")
    what_if = parse_pairs(assume, "--assume")
    if what_if and not simulate:
        raise fail("--assume needs --simulate", 2)
    with reported():
        path = find_runbook(runbook)
        site_obj = load_site_arg(site)
        loaded = load_plan(path, site_obj, inputs)
        report = None if simulate else estimate_plan(loaded)
    if report is None:
        from runbooks.simulate_plan import AssumptionError, parse_assumptions, simulate_plan

        try:
            result = simulate_plan(loaded, parse_assumptions(what_if, loaded), trials)
        except AssumptionError as e:
            raise fail(str(e), 2) from None
        if format == Format.json:
            print_json(result)
        else:
            from console.show import print_simulation

            print_simulation(out, result)
        return
    if format == Format.json:
        print_json(report_json(report))
    else:
        from console.show import print_plan

        print_plan(out, report)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the runbook format (for editors; see README)."""
    from runbooks.models import Runbook

    data = Runbook.model_json_schema(by_alias=True)
    data = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://runbook.invalid/schema/runbook.json",
        **data,
    }
    print_json(data)


run_commands.register(app)
audit_commands.register(app)
roll_call_commands.register(app)
coverage_commands.register(app)
shift_commands.register(app)
loan_commands.register(app)
grant_commands.register(app)
report_commands.register(app)
user_commands.register(app)
scale.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
