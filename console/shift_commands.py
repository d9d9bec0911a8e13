"""CLI edge for shift plans: `runbook shifts RUN` (the plan, by person) and `runbook shifts swap
RUN SHIFT --to PERSON --reason R` → the Engine on the local store, or the same calls through
the API (console/remote.py)."""

from __future__ import annotations

from typing import Any

import typer

from .common import FORMAT, Format, engine_call, fail, out, print_json
from .run_commands import AS, KEY, actor_for, engine


def register(app: typer.Typer) -> None:
    @app.command()
    def shifts(
        run: str = typer.Argument(..., help="RUN, or: swap RUN SHIFT"),
        shift: str | None = typer.Argument(None, help="swap: the run"),
        extra: str | None = typer.Argument(None, help="swap: the shift id"),
        person: str | None = typer.Option(None, "--person", help="only this person's shifts"),
        to: str | None = typer.Option(None, "--to", help="swap: the person who takes the shift"),
        reason: str | None = typer.Option(None, "--reason", help="swap: why (required)"),
        as_staff: str | None = AS,
        key: str | None = KEY,
        format: Format = FORMAT,
    ) -> None:
        """The shift plan of RUN: `[{id, person, queue, start, end, acknowledged}]`;
        `runbook shifts swap RUN SHIFT --to PERSON --reason R` gives a shift to someone else."""
        eng = engine()
        if run == "swap":
            if not shift or not extra or not to:
                raise fail("runbook shifts swap RUN SHIFT --to PERSON --reason R", 2)
            data: Any = engine_call(
                lambda: eng.swap_shift(shift, extra, actor_for(eng, shift, as_staff), to=to, reason=reason, key=key)
            )
            if format == Format.json:
                print_json(data)
            else:
                s = data["shift"]
                typer.echo(f"shift {data['swapped']} → {s['id']}: {s['person']} {s['start']} – {s['end']}", err=True)
            return
        if shift is not None:
            raise fail("runbook shifts RUN [--person P] (or: runbook shifts swap RUN SHIFT --to P --reason R)", 2)
        data = engine_call(lambda: eng.shifts(run, person=person))
        print_json(data) if format == Format.json else print_shifts(data)


def print_shifts(rows: list[dict[str, Any]]) -> None:
    people = {r["person"] for r in rows}
    acked = sum(1 for r in rows if r["acknowledged"])
    out.print(f"{len(rows)} shifts, {len(people)} people, {acked} acknowledged", markup=False)
    for r in rows:
        mark = "acknowledged" if r["acknowledged"] else r["status"]
        out.print(f"  {r['id']:<8} {r['person']:<10} {r['queue']:<12} {r['start']} – {r['end']}  {mark}", markup=False)
