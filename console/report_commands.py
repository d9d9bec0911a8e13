"""CLI edge for after the event: `runbook report RUN` (JSON, a standalone HTML document or PDF,
in the site's language unless `--lang`) and `runbook findings` (list, `add`, `close`) → the
Engine on the local store (or the API through console/remote.py)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from .common import FORMAT, Format, engine_call, fail, print_json
from .run_commands import actor_for, engine


class ReportFormat(StrEnum):
    json = "json"
    html = "html"
    pdf = "pdf"


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        run: str = typer.Argument(..., help="the run id"),
        format: ReportFormat = typer.Option(ReportFormat.json, "--format", help="json, html or pdf"),
        lang: str | None = typer.Option(None, "--lang", help="en or zh-CN (default: the site's language)"),
        output: str | None = typer.Option(None, "-o", "--output", help="write to FILE (a PDF needs one unless piped)"),
    ) -> None:
        """The after-action report of a run: objectives met or missed with their margins, step
        durations, bottlenecks, roll call, coverage, notifications, interventions, the audit's
        verification, findings, and a drill's score against the previous drill."""
        from .report_doc import lang_for, report_html, report_pdf

        eng = engine()
        data = engine_call(lambda: eng.report(run))
        chosen = engine_call(lambda: lang_for(data, lang))
        body: bytes
        if format == ReportFormat.json:
            import json

            body = (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode()
        elif format == ReportFormat.html:
            body = report_html(data, chosen).encode()
        else:
            if output is None and sys.stdout.isatty():
                raise fail("a PDF goes to a file: -o report.pdf (or a pipe)", 2)
            body = report_pdf(data, chosen)
        if output is None:
            sys.stdout.buffer.write(body)
            sys.stdout.flush()
            return
        try:
            Path(output).write_bytes(body)
        except OSError as e:
            raise fail(f"cannot write {output}: {e.strerror}", 2) from None
        typer.echo(f"wrote {output} ({len(body)} bytes)", err=True)

    @app.command()
    def findings(
        first: str | None = typer.Argument(None, help="SITE, or: add RUN, or: close ID"),
        second: str | None = typer.Argument(None),
        observation: str | None = typer.Option(None, "--observation", help="add: what was seen"),
        discussion: str | None = typer.Option(None, "--discussion", help="add: why, context"),
        recommendation: str | None = typer.Option(None, "--recommendation", help="add: what to change"),
        owner: str | None = typer.Option(None, "--owner", help="add: team:<id>, person:<id> or role:<role>"),
        due: str | None = typer.Option(None, "--due", help="add: due in, e.g. 14d"),
        reason: str | None = typer.Option(None, "--reason", help="close: why it is closed"),
        open_only: bool = typer.Option(False, "--open", help="list: open findings only"),
        format: Format = FORMAT,
    ) -> None:
        """Findings of after-action reviews, tracked to closure on the site's audit chain:
        `runbook findings [SITE] [--open]`, `runbook findings add RUN --observation T
        --recommendation T --owner TARGET --due 14d`, `runbook findings close ID --reason R`."""
        eng = engine()
        if first in ("add", "close"):
            if not second:
                raise fail(f"runbook findings {first} {'RUN' if first == 'add' else 'ID'} …", 2)
            actor = actor_for(eng, None, None)
            if first == "add":
                found = engine_call(
                    lambda: eng.add_finding(
                        second,
                        actor,
                        observation=observation,
                        discussion=discussion,
                        recommendation=recommendation,
                        owner=owner,
                        due=due,
                    )
                )
            else:
                found = engine_call(lambda: eng.close_finding(second, actor, reason=reason))
            if format == Format.json:
                print_json(found)
            else:
                typer.echo(found["id"])
            return
        if second is not None:
            raise fail("runbook findings [SITE] [--open]: one site at most", 2)
        data = engine_call(lambda: eng.findings(first, open_only=open_only))
        print_json(data) if format == Format.json else print_findings(data["findings"])


def print_findings(rows: list[dict[str, Any]]) -> None:
    if not rows:
        typer.echo("no findings")
    for f in rows:
        late = " OVERDUE" if f["overdue"] else ""
        end = f" — closed: {f['reason']}" if f["state"] == "closed" else ""
        typer.echo(
            f"{f['id']} [{f['state']}{late}] {f['site']} run {f['run']} · {f['owner']} · due {f['due_at'][:16]}{end}"
        )
        typer.echo(f"    {f['observation']} → {f['recommendation']}")
