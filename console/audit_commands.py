"""CLI edge for the audit: `runbook audit RUN [--verify]` (local or through the API), and on the
local store only (they need the audit key and the witness file) `runbook audit --verify-all`,
`runbook audit reanchor --reason R` and `runbook audit rotate-key --reason R`."""

from __future__ import annotations

import sys
from enum import StrEnum

import typer

from .common import Format, engine_call, fail, out, print_json, site_zone


class AuditFormat(StrEnum):
    text = "text"
    json = "json"
    csv = "csv"


LOCAL = ("reanchor", "rotate-key")


def register(app: typer.Typer) -> None:
    @app.command()
    def audit(
        run: str = typer.Argument(None, help="RUN, or `reanchor` / `rotate-key` (with --reason)"),
        verify: bool = typer.Option(False, "--verify", help="exit 1 unless the chain verifies"),
        verify_all: bool = typer.Option(
            False, "--verify-all", help="every run and site chain against the key and the witness; exit 1 if any fails"
        ),
        reason: str = typer.Option(None, "--reason", help="why (reanchor, rotate-key)"),
        format: AuditFormat = typer.Option(
            AuditFormat.text, "--format", help="text for people, json for programs, csv for spreadsheets"
        ),
    ) -> None:
        """The audit trail of RUN: who decided what, when (UTC) and why; HMAC-chained and witnessed."""
        from .run_commands import engine

        if verify_all or run in LOCAL:
            local_audit(run, verify_all, reason, Format.json if format == AuditFormat.json else Format.text)
            return
        if run is None:
            raise fail("name a RUN, or use --verify-all, reanchor or rotate-key", 2)
        from .exports import audit_csv
        from .show import print_audit

        eng = engine(reading=True)
        data = engine_call(lambda: eng.audit(run))
        if format == AuditFormat.csv:
            sys.stdout.write(audit_csv(data))
        elif format == AuditFormat.json:
            print_json(data)
        else:
            print_audit(out, data, site_zone(eng, run))
        if verify and not data["verified"]:
            raise typer.Exit(1)


def local_audit(command: str | None, verify_all: bool, reason: str | None, format: Format) -> None:
    from flows.actors import local_operator

    from .remote import configured
    from .run_commands import engine

    if configured():
        raise fail("the audit's checks work on the local store only (they need the audit key and the witness)", 2)
    if verify_all:
        data = engine_call(lambda: engine().verify_all())
        if format == Format.json:
            print_json(data)
        else:
            for c in data["chains"]:
                mark = "[green]verified[/green]" if c["verified"] else "[red]does NOT verify[/red]"
                line = f"{c['chain']}: {c['entries']} entries, {mark}"
                out.print(line + (f": {c['problem']}" if c["problem"] else ""), highlight=False)
        if not data["verified"]:
            raise typer.Exit(1)
        return
    if not reason:
        raise fail(f"audit {command} needs --reason", 2)
    if command == "reanchor":
        data = engine_call(lambda: engine().reanchor(local_operator(), reason))
        behind = len(data["were_not_verifying"])
        typer.echo(f"re-anchored {data['reanchored']} chain(s); {behind} did not verify before", err=True)
    else:
        data = rotate_key(reason)
        typer.echo(f"audit key {data['key']} in use (was {data['old'] or 'unknown'}); restart every replica", err=True)
    if format == Format.json:
        print_json(data)


def rotate_key(reason: str) -> dict:
    """A new key file (the old one retired, still verifying older rows), or, with RUNBOOK_AUDIT_KEY
    set, the environment's new key recorded; either way a row of the chain `audit`."""
    import os

    from flows.actors import local_operator
    from flows.audit_keys import AuditKeyError, rotate_key_file
    from flows.lifecycle import Engine
    from flows.store import Store, runbook_home

    old = None
    if not os.environ.get("RUNBOOK_AUDIT_KEY"):
        try:
            old, _new = rotate_key_file(runbook_home())
        except AuditKeyError as e:
            raise fail(str(e)) from None
    return engine_call(lambda: Engine(Store()).record_key_rotation(local_operator(), reason, old))
