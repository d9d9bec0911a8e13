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
    loan_commands,
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
def witness_at_exit(ctx: typer.Context) -> None:
    """Emergency continuity runbooks: validate, plan and run them."""
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
    format: Format = FORMAT,
) -> None:
    """Show the expanded plan: steps, item counts, per-item pipelines, critical path vs objectives."""
    from runbooks.estimate import estimate_plan, report_json
    from runbooks.plan import load_plan

    inputs = parse_pairs(input, "--input")
    with reported():
        path = find_runbook(runbook)
        site_obj = load_site_arg(site)
        report = estimate_plan(load_plan(path, site_obj, inputs))
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
user_commands.register(app)
scale.register(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
