"""CLI edge for the grant ledger: `runbook grants SITE` → the Engine on the local store (or the
API through console/remote.py) → who holds which access on which system, its state, expiry
and review; `--format json` the API's JSON, `--format csv` the page's export."""

from __future__ import annotations

from typing import Any

import typer

from .common import FORMAT, Format, engine_call, out, print_json
from .exports import grants_csv
from .run_commands import engine


def register(app: typer.Typer) -> None:
    @app.command()
    def grants(
        site: str = typer.Argument(..., help="site id"),
        state: str | None = typer.Option(
            None, "--state", help="active, revoking, revoked, expired or revoke_failed (default: every state)"
        ),
        system: str | None = typer.Option(None, "--system", help="only grants on this system"),
        person: str | None = typer.Option(None, "--person", help="only this person's grants (staff id)"),
        drill: bool = typer.Option(False, "--drill", help="the drills' ledger instead of the real one"),
        format: Format = FORMAT,
        csv: bool = typer.Option(False, "--csv", help="print the ledger as CSV (the grants page's export)"),
    ) -> None:
        """The grant ledger of SITE: each grant's person, system, profile, scope, state, expiry, review."""
        eng = engine()
        data = engine_call(lambda: eng.grants(site, state=state, system=system, person=person, drill=drill))
        if csv:
            typer.echo(grants_csv(data["grants"]), nl=False)
        elif format == Format.json:
            print_json(data)
        else:
            print_grants(data)


def print_grants(data: dict[str, Any]) -> None:
    counts = ", ".join(f"{n} {state.replace('_', ' ')}" for state, n in data["counts"].items())
    mark = " (drill ledger)" if data["drill"] else ""
    out.print(f"{data['site']}{mark}: {counts}", markup=False)
    for g in data["grants"]:
        review = " REVIEW OVERDUE" if g["review_overdue"] else ""
        verified = " verified" if g["verified_at"] else ""
        out.print(
            f"  {g['person'] or '-':<8} {g['system']:<10} {g['profile']:<24} {g['state'].replace('_', ' '):<13} "
            f"expires {(g['expires_at'] or '-')[:16]}  [{', '.join(g['scope'])}]{review}{verified}"
            + (f"  ({g['reason']})" if g["reason"] else ""),
            markup=False,
        )
