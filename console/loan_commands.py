"""CLI edge for loans of agents between sites: `runbook lend request FROM TO …`, `lend accept
LOAN [--force --reason R]`, `lend refuse|recall LOAN --reason R`, `lend list [--site S]` → the
Engine on the local store, or the same calls through the API (console/remote.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer

from .common import FORMAT, Format, engine_call, fail, out, print_json
from .run_commands import actor_for, engine


def register(app: typer.Typer) -> None:
    lend = typer.Typer(help="Agents lent between sites: request, accept, refuse, recall, list.", no_args_is_help=True)
    app.add_typer(lend, name="lend")

    @lend.command("request")
    def request(
        from_site: str = typer.Argument(..., help="the lending site"),
        to_site: str = typer.Argument(..., help="the borrowing site (in lockdown)"),
        queue: str = typer.Option(..., "--queue", help="the queue of both sites' service:"),
        agents: int = typer.Option(..., "--agents", help="how many agents"),
        start: str = typer.Option(..., "--start", help="ISO 8601, e.g. 2026-12-24T08:00+08:00 (no offset: UTC)"),
        end: str = typer.Option(..., "--end", help="ISO 8601 (no offset: UTC)"),
        reason: str | None = typer.Option(None, "--reason", help="why (required)"),
        format: Format = FORMAT,
    ) -> None:
        """The borrowing site's manager asks FROM for agents on QUEUE in [start, end)."""
        eng = engine()
        data = engine_call(
            lambda: eng.request_loan(
                actor_for(eng, None, None),
                from_site=from_site,
                to_site=to_site,
                queue=queue,
                agents=agents,
                start=_moment(start, "--start"),
                end=_moment(end, "--end"),
                reason=reason,
            )
        )
        show(data, format)

    @lend.command("accept")
    def accept(
        loan: str = typer.Argument(...),
        force: bool = typer.Option(False, "--force", help="even if it leaves the lender short (with --reason)"),
        reason: str | None = typer.Option(None, "--reason"),
        format: Format = FORMAT,
    ) -> None:
        """The lending site's manager accepts LOAN (refused when it would leave the lender short)."""
        eng = engine()
        show(engine_call(lambda: eng.accept_loan(loan, actor_for(eng, None, None), force=force, reason=reason)), format)

    @lend.command("refuse")
    def refuse(
        loan: str = typer.Argument(...), reason: str | None = typer.Option(None, "--reason"), format: Format = FORMAT
    ) -> None:
        """The lending site's manager refuses LOAN, with a reason."""
        eng = engine()
        show(engine_call(lambda: eng.refuse_loan(loan, actor_for(eng, None, None), reason=reason)), format)

    @lend.command("recall")
    def recall(
        loan: str = typer.Argument(...), reason: str | None = typer.Option(None, "--reason"), format: Format = FORMAT
    ) -> None:
        """Either site's manager ends an active LOAN early, with a reason."""
        eng = engine()
        show(engine_call(lambda: eng.recall_loan(loan, actor_for(eng, None, None), reason=reason)), format)

    @lend.command("list")
    def list_(site: str | None = typer.Option(None, "--site"), format: Format = FORMAT) -> None:
        """Every loan (of SITE, lent in or out): state, agents, window, drill."""
        eng = engine()
        data = engine_call(lambda: eng.loans(site=site))
        if format == Format.json:
            print_json(data)
            return
        for x in data:
            out.print(line(x), markup=False)


def show(data: dict[str, Any], format: Format) -> None:
    print_json(data) if format == Format.json else out.print(line(data), markup=False)


def line(x: dict[str, Any]) -> str:
    drill = " DRILL" if x["drill"] else ""
    forced = " (forced)" if x.get("forced") else ""
    return (
        f"{x['id']}: {x['from_site']} → {x['to_site']} {x['queue']} {x['agents']} agents "
        f"{x['start']} – {x['end']} {x['state']}{forced}{drill}"
    )


def _moment(text: str, option: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} {text!r}: not an ISO 8601 time (2026-12-24T08:00+08:00)", 2) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
