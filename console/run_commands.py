"""CLI edge for runs and tasks: lockdown, start, status, tasks, done, approve, reject, skip, retry,
reassign, add, cancel, outbox → the Engine on the local store, or the same calls through
the API (console/remote.py) when RUNBOOK_URL and RUNBOOK_TOKEN are set (accounts: user_commands.py;
the audit: audit_commands.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from flows.errors import EngineError

from .common import FORMAT, Format, engine_call, fail, out, parse_pairs, print_json, reported, site_zone

AS = typer.Option(None, "--as", help="act as this roster member (local store only), e.g. X0087")
KEY = typer.Option(None, "--idempotency-key", help="repeat a request safely: the same key gets the first answer")


def engine(reading: bool = False):
    """The local store's Engine, or the API server's when RUNBOOK_URL is set (same interface).
    `reading`: a command that only reads never creates a store — where there is none, it says
    so and names RUNBOOK_HOME (a store elsewhere, such as the demo's, is found through it)."""
    from .remote import Remote, configured

    if configured():
        return engine_call(Remote)
    from flows.lifecycle import Engine
    from flows.store import Store

    if reading:
        require_store()

    store = Store()
    LOCAL_STORES.append(store)
    return Engine(store)


def require_store() -> None:
    import os

    from flows.store.engine import runbook_home

    if os.environ.get("RUNBOOK_DATABASE_URL"):
        return
    home = runbook_home()
    if not (home / "runbook.db").is_file():
        home_var = os.environ.get("RUNBOOK_HOME", ".runbook")
        raise fail(
            f"no store in {home.resolve()} (RUNBOOK_HOME={home_var}): nothing has run here. Point RUNBOOK_HOME "
            "at the store's directory (`runbook demo` prints its `export RUNBOOK_HOME=…` line), or set "
            "RUNBOOK_URL and RUNBOOK_TOKEN to ask a server",
            1,
        )


LOCAL_STORES: list = []  # this command's local stores, whose audit heads go to the witness at its end


def witness_local_writes() -> None:
    """A local command's audit rows are witnessed when it ends (`runbook serve` checkpoints every
    few seconds); console/cli.py calls this when the command's context closes."""
    from flows.witness import Checkpointer

    while LOCAL_STORES:
        Checkpointer(LOCAL_STORES.pop()).checkpoint()


def actor_for(eng, run_id: str | None, as_staff: str | None):
    from flows.actors import local_operator

    from .remote import Remote

    if isinstance(eng, Remote):
        if as_staff is not None:
            raise fail("--as works on the local store only; with RUNBOOK_URL the token says who you are", 2)
        return None
    if as_staff is None:
        return local_operator()
    if run_id is None:
        raise fail("--as needs a run, to find the person on its roster", 2)
    return engine_call(lambda: local_operator(as_staff, eng.site_of(run_id)))


def _print_runs(runs: list[dict[str, Any]], format: Format, note: str | None = None) -> None:
    if format == Format.json:
        print_json({"runs": runs})
        return
    if note:
        typer.echo(note, err=True)
    for run in runs:
        typer.echo(run["id"])


def register(app: typer.Typer) -> None:
    @app.command()
    def lockdown(
        site: str = typer.Argument(..., help="site id"),
        drill: bool = typer.Option(False, "--drill", help="a drill: side effects recorded, not sent"),
        format: Format = FORMAT,
    ) -> None:
        """Declare a lockdown of SITE: start every runbook whose trigger matches; print the run ids."""
        eng = engine()
        runs, created = engine_call(lambda: eng.lockdown(site, actor_for(eng, None, None), drill=drill))
        note = (
            f"site {site} in lockdown{' (drill)' if drill else ''}: started {len(runs)} run(s)"
            if created
            else f"site {site} is already in lockdown: its active run(s)"
        )
        _print_runs(runs, format, note)

    @app.command()
    def standdown(
        site: str = typer.Argument(..., help="site id"),
        drill: bool | None = typer.Option(
            None, "--drill/--real", help="which lockdown ends when a drill and a real one are both active"
        ),
        format: Format = FORMAT,
    ) -> None:
        """End the lockdown of SITE (the real one first): start runbooks triggered by site.standdown."""
        eng = engine()
        runs = engine_call(lambda: eng.standdown(site, actor_for(eng, None, None), drill=drill))
        _print_runs(runs, format, f"site {site} stood down: started {len(runs)} run(s)")

    @app.command()
    def start(
        runbook: str = typer.Argument(..., help="runbook file or id"),
        site: str = typer.Option(..., "--site", help="site directory or id"),
        input: list[str] | None = typer.Option(None, "--input", help="k=v, repeatable"),
        drill: bool = typer.Option(False, "--drill"),
        format: Format = FORMAT,
    ) -> None:
        """Start RUNBOOK at SITE; print the run id."""
        eng = engine()
        inputs = parse_pairs(input, "--input")
        run = engine_call(lambda: eng.start(runbook, site, actor_for(eng, None, None), inputs=inputs, drill=drill))
        _print_runs([run], format)

    @app.command()
    def demo(
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8080, "--port"),
        home: Path = typer.Option(Path(".runbook/demo"), "--home", help="the demo's own store (wiped at each start)"),
        speed: float = typer.Option(
            30, "--speed", min=1, help="time scale: 30 (the default) makes an hour pass in 2 min"
        ),
    ) -> None:
        """serve + the Xi'an call-center lockdown (a drill) with 110 simulated staff and their leads."""
        from .demo import demo as demo_

        demo_(host, port, home, speed)

    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8080, "--port"),
        no_runner: bool = typer.Option(False, "--no-runner", help="API only (a replica behind a balancer)"),
    ) -> None:
        """API + runner (+ a Prefect server of its own unless PREFECT_API_URL is set)."""
        from .serve import serve as serve_

        serve_(host, port, no_runner)

    @app.command()
    def run(
        runbook: str = typer.Argument(..., help="runbook file or id"),
        site: str = typer.Option(..., "--site"),
        input: list[str] | None = typer.Option(None, "--input", help="k=v, repeatable"),
        drill: bool = typer.Option(False, "--drill"),
    ) -> None:
        """Start RUNBOOK at SITE and execute it in the foreground with live progress."""
        from .serve import run_foreground

        run_foreground(runbook, site, parse_pairs(input, "--input"), drill)

    @app.command()
    def status(
        run: str | None = typer.Argument(None, help="a run id; all runs when left out"), format: Format = FORMAT
    ) -> None:
        """Progress of one run (per step, objectives) or of every run."""
        from .show import print_run, print_runs

        eng = engine(reading=True)
        if run is None:
            runs = engine_call(lambda: eng.runs())
            print_json({"runs": runs}) if format == Format.json else print_runs(out, runs)
        else:
            data = engine_call(lambda: eng.run(run))
            print_json(data) if format == Format.json else print_run(out, data, site_zone(eng, run))

    @app.command()
    def tasks(
        run: str = typer.Argument(...),
        team: str | None = typer.Option(None, "--team", help="a team id, case ignored"),
        state: str | None = typer.Option(None, "--state", help="a state, or overdue"),
        step: str | None = typer.Option(None, "--step"),
        all_: bool = typer.Option(False, "--all", help="ended tasks too (done, skipped, cancelled…)"),
        format: Format = FORMAT,
    ) -> None:
        """Open tasks of RUN (every task with --all or a --state), filtered by team, state or step."""
        from flows.states import TERMINAL

        from .show import print_tasks

        eng = engine(reading=True)
        rows = engine_call(lambda: eng.tasks(run, team=team, state=state, step=step))
        if not all_ and state is None:
            rows = [t for t in rows if t["state"] not in TERMINAL]
        print_json({"tasks": rows}) if format == Format.json else print_tasks(out, rows, site_zone(eng, run))

    def _each(run: str, task_ids: list[str], format: Format, act: Callable[[str], dict[str, Any]]) -> None:
        results, failed = [], False
        for task_id in task_ids:
            try:
                with reported():
                    result = act(task_id)
                results.append({"task": task_id, "ok": True, "state": result["task"]["state"]})
            except EngineError as e:
                failed = True
                results.append({"task": task_id, "ok": False, "error": {"code": e.code, "message": e.cli}})
        if format == Format.json:
            print_json({"results": results})
        else:
            for r in results:
                if r["ok"]:
                    typer.echo(f"{r['task']}: {r['state']}")
                else:
                    typer.echo(f"{r['task']}: {r['error']['code']}: {r['error']['message']}", err=True)
        if failed:
            raise typer.Exit(1)

    @app.command()
    def done(
        run: str = typer.Argument(...),
        task: list[str] = typer.Argument(..., help="one or more task ids"),
        note: str | None = typer.Option(None, "--note"),
        field: list[str] | None = typer.Option(None, "--field", help="k=v, repeatable"),
        reason: str | None = typer.Option(None, "--reason", help="needed to act on a task you do not own"),
        as_: str | None = AS,
        key: str | None = KEY,
        format: Format = FORMAT,
    ) -> None:
        """Check off one or more tasks of RUN."""
        eng = engine()
        fields = parse_pairs(field, "--field")
        actor = actor_for(eng, run, as_)
        _each(
            run,
            task,
            format,
            lambda t: eng.complete(
                run, t, actor, note=note, fields=fields, reason=reason, key=f"{key}:{t}" if key else None
            ),
        )

    @app.command()
    def approve(
        run: str = typer.Argument(...),
        task: list[str] = typer.Argument(...),
        note: str | None = typer.Option(None, "--note"),
        reason: str | None = typer.Option(None, "--reason", help="needed to approve for another owner"),
        as_: str | None = AS,
        key: str | None = KEY,
        format: Format = FORMAT,
    ) -> None:
        """Approve one or more approval tasks of RUN."""
        eng = engine()
        actor = actor_for(eng, run, as_)
        _each(
            run,
            task,
            format,
            lambda t: eng.approve(run, t, actor, note=note, reason=reason, key=f"{key}:{t}" if key else None),
        )

    @app.command()
    def reject(
        run: str = typer.Argument(...),
        task: list[str] = typer.Argument(...),
        reason: str | None = typer.Option(None, "--reason"),
        as_: str | None = AS,
        format: Format = FORMAT,
    ) -> None:
        """Reject approval tasks of RUN (a reason is required)."""
        eng = engine()
        actor = actor_for(eng, run, as_)
        _each(run, task, format, lambda t: eng.reject(run, t, actor, reason=reason))

    def _intervention(name: str, doc: str) -> None:
        def command(
            run: str = typer.Argument(...),
            task: str = typer.Argument(...),
            reason: str | None = typer.Option(None, "--reason"),
            to: str | None = typer.Option(None, "--to", help="reassign: team:<id>, person:<id>, role:<role>"),
            format: Format = FORMAT,
        ) -> None:
            eng = engine()
            actor = actor_for(eng, run, None)
            kwargs = {"reason": reason, **({"to": to} if name == "reassign" else {})}
            _each(run, [task], format, lambda t: getattr(eng, name)(run, t, actor, **kwargs))

        command.__doc__ = doc
        app.command(name)(command)

    _intervention("skip", "Skip a task (manager; with a reason). Its dependents are skipped too.")
    _intervention("retry", "Retry a failed task (manager; with a reason).")
    _intervention("reassign", "Give a task to another team, person or role (manager; with a reason and --to).")

    @app.command()
    def add(
        run: str = typer.Argument(...),
        title: str = typer.Option(..., "--title"),
        owner: str = typer.Option(..., "--owner", help="team:<id>, person:<id> or role:<role>"),
        reason: str | None = typer.Option(None, "--reason"),
        due: str | None = typer.Option(None, "--due"),
        format: Format = FORMAT,
    ) -> None:
        """Add an ad-hoc task to RUN (manager; with a reason)."""
        eng = engine()
        result = engine_call(
            lambda: eng.add(run, actor_for(eng, run, None), reason=reason, title=title, owner=owner, due=due)
        )
        print_json(result) if format == Format.json else typer.echo(result["task"]["id"])

    @app.command()
    def cancel(
        run: str = typer.Argument(...), reason: str | None = typer.Option(None, "--reason"), format: Format = FORMAT
    ) -> None:
        """Cancel RUN (manager; with a reason): every open task is cancelled."""
        eng = engine()
        data = engine_call(lambda: eng.cancel(run, actor_for(eng, run, None), reason=reason))
        print_json(data) if format == Format.json else typer.echo(f"{data['id']}: {data['state']}")

    @app.command()
    def outbox(
        state: list[str] | None = typer.Option(
            None, "--state", help="pending, dead, sent (repeatable); default pending and dead"
        ),
        run: str | None = typer.Option(None, "--run", help="only this run's notifications"),
        retry: bool = typer.Option(False, "--retry", help="re-queue the dead notifications (manager)"),
        key: list[str] | None = typer.Option(None, "--id", help="with --retry: only these (dedup keys)"),
        reason: str | None = typer.Option(None, "--reason"),
        format: Format = FORMAT,
    ) -> None:
        """Notifications not delivered yet (pending) or given up (dead); --retry re-queues them."""
        from .show import print_outbox

        eng = engine(reading=not retry)
        if retry:
            n = engine_call(lambda: eng.requeue(actor_for(eng, None, None), keys=key, reason=reason))
            typer.echo(f"re-queued {n} notification(s)", err=True)
        data = engine_call(lambda: eng.outbox(states=state, run_id=run))
        print_json(data) if format == Format.json else print_outbox(out, data)

    @app.command()
    def pools(
        site: str = typer.Argument(..., help="SITE, or: restock SITE POOL"),
        pool: str | None = typer.Argument(None),
        extra: str | None = typer.Argument(None),
        source: str | None = typer.Option(None, "--from", help="restock: the site the stock comes from"),
        count: int | None = typer.Option(None, "--count", help="restock: how many items"),
        csv_file: str | None = typer.Option(None, "--csv", help="restock: a CSV of new items"),
        reason: str | None = typer.Option(None, "--reason", help="restock: why (required)"),
        drill: bool | None = typer.Option(
            None, "--drill/--real", help="the drill's sandbox copy or the real stock (restock: inferred)"
        ),
        format: Format = FORMAT,
    ) -> None:
        """Stock per pool of SITE (--drill: its copy in the site's drill); `runbook pools restock
        SITE POOL --from SITE2 --count N --reason R` (or --csv FILE) moves or adds stock mid-run,
        and items waiting for it are served (in a drill: in the drill's sandbox only)."""
        eng = engine()
        if site == "restock":
            if not pool or not extra:
                raise fail("runbook pools restock SITE POOL --from SITE2 --count N (or --csv FILE)", 2)
            rows = None
            if csv_file:
                import csv as csv_module

                with open(csv_file, encoding="utf-8", newline="") as f:
                    rows = list(csv_module.DictReader(f))
            data = engine_call(
                lambda: eng.restock(
                    pool,
                    extra,
                    actor_for(eng, None, None),
                    from_site=source,
                    count=count,
                    rows=rows,
                    reason=reason,
                    drill=drill,
                )
            )
        else:
            data = engine_call(lambda: eng.pools(site, drill=bool(drill)))
        if format == Format.json:
            print_json(data)
            return
        for pool_id, stock in data["pools"].items():
            if "levels" in stock:  # a consumable pool: the level of each item kind
                shown = ", ".join(
                    f"{item} {v['quantity']}"
                    + (
                        f" (min {v['min']}{', LOW' if v['quantity'] < v['min'] else ''})"
                        if v["min"] is not None
                        else ""
                    )
                    for item, v in stock["levels"].items()
                )
                typer.echo(f"{pool_id}: {shown}")
                continue
            typer.echo(
                f"{pool_id}: {stock['available']} available, {stock['allocated']} allocated, "
                f"{stock['handed_over']} handed over, {stock['total']} in all"
            )
        if "served" in data:
            typer.echo(f"added {data['added']}; {data['served']} waiting item(s) served", err=True)

    @app.command()
    def dispatch(once: bool = typer.Option(False, "--once", help="send what is due, then exit")) -> None:
        """Deliver queued notifications (runbook serve does this too); runs until stopped."""
        from .serve import dispatch as dispatch_

        dispatch_(once)
