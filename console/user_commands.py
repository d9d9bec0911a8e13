"""CLI edge for API accounts: `runbook users add` (prints the new token, once), `list`,
`revoke` → console/auth.py on the local store (never through the API)."""

from __future__ import annotations

import typer

from .common import FORMAT, Format, engine_call, print_json


def register(app: typer.Typer) -> None:
    users = typer.Typer(
        help="API accounts: add (prints the new token, once), list, revoke. Local store only.", no_args_is_help=True
    )
    app.add_typer(users, name="users")

    @users.command("add")
    def users_add(
        name: str = typer.Argument(...),
        role: str = typer.Option(..., "--role", help="viewer, team_lead, manager, admin or gateway"),
        team: list[str] | None = typer.Option(None, "--team", help="SITE/TEAM a team lead leads; repeatable"),
        staff: str | None = typer.Option(None, "--staff", help="the roster id of this person"),
        site: list[str] | None = typer.Option(
            None, "--site", help="a manager tied to this site (repeatable); none: a global manager"
        ),
    ) -> None:
        """Create an account and print its API token (alone, once: it is stored only hashed)."""
        from flows.actors import local_operator
        from flows.store import Store

        from . import auth

        token = engine_call(
            lambda: auth.add_account(
                Store(), name, role, team or [], staff, by=local_operator().label, sites=site or []
            )
        )
        typer.echo(token)

    @users.command("list")
    def users_list(format: Format = FORMAT) -> None:
        """Accounts: name, role, teams, when created and by whom, revoked or not (never tokens)."""
        from flows.store import Store

        from . import auth

        accounts = auth.list_accounts(Store())
        if format == Format.json:
            print_json({"accounts": accounts})
            return
        for a in accounts:
            teams = f" {','.join(a['teams'])}" if a["teams"] else ""
            typer.echo(
                f"{a['name']}\t{a['role']}{teams}\t{'revoked ' + a['revoked_at'] if a['revoked_at'] else 'active'}"
            )

    @users.command("revoke")
    def users_revoke(name: str = typer.Argument(...)) -> None:
        """Revoke an account: its token and sessions stop working at once."""
        from flows.actors import local_operator
        from flows.store import Store

        from . import auth

        engine_call(lambda: auth.revoke_account(Store(), name, by=local_operator().label))
        typer.echo(f"revoked {name}", err=True)
