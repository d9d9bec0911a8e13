"""CLI edge for roll calls: `runbook answer` (a lead records the answer of someone they reached),
`runbook close-muster` (a manager closes a roll call to answers), `runbook headcount` → the
Engine on the local store, or the same calls through the API (console/remote.py)."""

from __future__ import annotations

from typing import Any

import typer

from .common import FORMAT, Format, engine_call, out, print_json
from .run_commands import AS, KEY, actor_for, engine


def register(app: typer.Typer) -> None:
    @app.command()
    def answer(
        run: str = typer.Argument(...),
        step: str = typer.Argument(..., help="the roll call's step id"),
        person: str = typer.Argument(..., help="roster id of the person answered for"),
        option: str = typer.Argument(..., help="the answer: its key, number or label"),
        note: str | None = typer.Option(None, "--note", help='how you reached them, e.g. "by phone"'),
        as_staff: str | None = AS,
        key: str | None = KEY,
    ) -> None:
        """Record PERSON's answer to roll call STEP of RUN for them (a lead of their team, or a manager)."""
        eng = engine()
        result = engine_call(
            lambda: eng.answer(run, step, person, option, actor_for(eng, run, as_staff), note=note, key=key)
        )
        counts = ", ".join(f"{k} {v}" for k, v in (result.get("counts") or {}).items())
        typer.echo(f"{person}: recorded ({counts}; accounted {result.get('accounted')})", err=True)

    @app.command("close-muster")
    def close_muster(
        run: str = typer.Argument(...),
        step: str = typer.Argument(..., help="the roll call's step id"),
        reason: str | None = typer.Option(None, "--reason", help="why it closes (required)"),
        key: str | None = KEY,
    ) -> None:
        """Close roll call STEP of RUN to answers (a manager): those still missing are told by their link."""
        eng = engine()
        result = engine_call(lambda: eng.close_muster(run, step, actor_for(eng, run, None), reason=reason, key=key))
        typer.echo(f"roll call {step} closed; {result['unaccounted']} people unaccounted", err=True)

    @app.command()
    def headcount(
        run: str = typer.Argument(...),
        step: str | None = typer.Argument(None, help="the roll call's step id (default: the run's first)"),
        format: Format = FORMAT,
    ) -> None:
        """On site / home / cannot work / no answer, by team, with the names of the unaccounted."""
        eng = engine(reading=True)
        data = engine_call(lambda: eng.headcount(run, step))
        print_json(data) if format == Format.json else print_headcount(data)


def print_headcount(data: dict[str, Any]) -> None:
    options = list(data["options"])
    closed = data.get("closed")
    state = f"closed by {closed['by']}: {closed['reason']}" if closed else data["state"]
    out.print(
        f"{data['step']} ({state}): {data['answered']} of {data['asked']} answered, {data['late']} late, "
        f"{data['unanswered']} no answer",
        markup=False,
    )
    out.print("  ".join(f"{k} {data['options'][k]}" for k in options), markup=False)
    for team, row in data["by_team"].items():
        cells = "  ".join(f"{k} {row['options'].get(k, 0)}" for k in options)
        out.print(f"  {team:<16} asked {row['asked']:>4}  {cells}  no answer {row['unanswered']}", markup=False)
    if data["unaccounted"]:
        out.print("unaccounted:", markup=False)
        for p in data["unaccounted"]:
            out.print(f"  {p['id']}  {p['name']}  ({p['team']})", markup=False)
