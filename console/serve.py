"""Serve edge: `runbook serve` and `runbook run` — the store, the runner, the Prefect API they
own, the audit witness's checkpoints and the HTTP app, started and stopped together."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import typer

from .common import fail, out, reported

if TYPE_CHECKING:
    from flows.prefect_api import PrefectServer
    from flows.store import Store
    from notifications.outbox import Dispatcher


@contextlib.contextmanager
def dispatching(store: Store, echo: bool = True) -> Iterator[Dispatcher]:
    """The notification dispatcher in a thread, woken when a run changes; stopped on exit."""
    from flows import signals
    from flows.store import runbook_home
    from notifications.outbox import Dispatcher

    dispatcher = Dispatcher(store, runbook_home(), echo=echo)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), name="dispatcher", daemon=True)
    signals.subscribe(dispatcher.wake)
    thread.start()
    try:
        yield dispatcher
    finally:
        signals.unsubscribe(dispatcher.wake)
        stop.set()
        dispatcher.wake()
        thread.join(timeout=30)


@contextlib.contextmanager
def checkpointing(store: Store) -> Iterator[None]:
    """The audit chains' heads checkpointed to the witness every few seconds (flows/witness.py),
    in a thread, and once more when the process stops."""
    from flows.witness import Checkpointer

    checkpointer = Checkpointer(store)
    stop = threading.Event()
    thread = threading.Thread(target=checkpointer.run, args=(stop,), name="audit-witness", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def proxy_settings() -> dict[str, Any]:
    """`X-Forwarded-For`/`-Proto` are believed only from `RUNBOOK_TRUSTED_PROXIES` (addresses or
    networks, comma-separated; default none): otherwise any client could choose the address the
    audit records and the login limits count (uvicorn trusts 127.0.0.1 by default)."""
    trusted = ",".join(p.strip() for p in os.environ.get("RUNBOOK_TRUSTED_PROXIES", "").split(",") if p.strip())
    if not trusted:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": trusted}


def dispatch(once: bool) -> None:
    """`runbook dispatch`: deliver queued notifications until stopped (or, --once, until none is due)."""
    from flows.store import Store, runbook_home
    from notifications.outbox import Dispatcher

    store = Store()
    try:
        if once:
            typer.echo(f"dispatched {Dispatcher(store, runbook_home()).drain()} notification(s)", err=True)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        typer.echo("runbook dispatch: delivering queued notifications (Ctrl-C stops)", err=True)
        try:
            Dispatcher(store, runbook_home()).run(stop)
        except KeyboardInterrupt:
            pass
    finally:
        store.dispose()


def public_base(host: str, port: int) -> str:
    """RUNBOOK_PUBLIC_URL, else the served address, a wildcard host named by the machine's name."""
    given = os.environ.get("RUNBOOK_PUBLIC_URL", "").strip()
    if given:
        return given.rstrip("/")
    name = socket.getfqdn() if host in ("", "0.0.0.0", "::", "*") else host
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"


def keep_public_url(store: Store, host: str, port: int) -> str:
    """Kept in the store: messages rendered by any process (CLI, worker, replica) link to it."""
    from flows.notify import PUBLIC_URL_SETTING
    from flows.store import utcnow

    url = public_base(host, port)
    with store.transaction() as tx:
        tx.put_setting(PUBLIC_URL_SETTING, url, utcnow())
    return url


def check_prefect_control() -> None:
    """RUNBOOK_PREFECT_CONTROL is read when Prefect asks: a wrong value stops the start, not a cancel."""
    from flows.errors import Invalid
    from flows.prefect_control import control_mode

    try:
        control_mode()
    except Invalid as e:
        raise fail(e.message, 2) from None


def own_prefect() -> PrefectServer | None:
    """This process's Prefect API (PREFECT_API_URL, or a server of its own); a clear exit if none."""
    from flows.prefect_api import PrefectUnavailable, ensure_prefect_api
    from flows.store import runbook_home

    check_prefect_control()
    try:
        return ensure_prefect_api(runbook_home())
    except PrefectUnavailable as e:
        raise fail(e.message, 2) from None


def serve(
    host: str,
    port: int,
    no_runner: bool,
    companion: Callable[[threading.Event], None] | None = None,
    echo_console: bool = True,
) -> None:
    """`runbook serve`; `companion` (the demo's players) runs in a thread until the server stops;
    `echo_console=False` (the demo): console notifications go to console.jsonl only."""
    import uvicorn

    from flows.runner import Runner
    from flows.store import Store, runbook_home

    from .api import create_app
    from .auth import ensure_admin
    from .oidc import OidcSettings

    with reported():  # a bad sign-in setting or map: its diagnostics, before anything starts
        OidcSettings.from_env()
    store = Store()
    token = ensure_admin(store, runbook_home())
    if token:  # docs/api.md: printed once, on the first start
        typer.echo(
            f"first start: the admin token (also in {runbook_home() / 'admin.token'}, mode 600): {token}", err=True
        )
    public = keep_public_url(store, host, port)
    prefect = None if no_runner else own_prefect()
    store.listen_for_wakes()  # PostgreSQL: other replicas' check-offs reach this one's runner and SSE feeds
    runner = None if no_runner else Runner(store).start()
    app = create_app(store, runner, os.environ.get("PREFECT_API_URL"))
    typer.echo(
        f"runbook serve: http://{host}:{port}, links to {public} (store: {store.dialect}, runner: "
        f"{'off' if runner is None else runner.name}, Prefect API: {os.environ.get('PREFECT_API_URL', '-')})",
        err=True,
    )
    stop = threading.Event()
    helper = threading.Thread(target=companion, args=(stop,), name="companion", daemon=True) if companion else None
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: turned into an
    # exception here, so the shutdown below (the last audit checkpoint among it) still runs.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with dispatching(store, echo_console), checkpointing(store):
            if helper is not None:
                helper.start()
            uvicorn.run(app, host=host, port=port, log_level="warning", **proxy_settings())
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if helper is not None:
            helper.join(timeout=10)
        if runner is not None:
            runner.stop()
        if prefect is not None:
            prefect.stop()
        store.dispose()


def run_foreground(runbook: str, site: str, inputs: dict, drill: bool) -> None:
    from flows.actors import local_operator
    from flows.errors import EngineError
    from flows.forecaster import Forecaster
    from flows.lifecycle import Engine
    from flows.runner import Runner
    from flows.store import Store

    from .show import print_run

    store = Store()
    engine = Engine(store)
    try:
        run_id = engine.start(runbook, site, local_operator(), inputs=inputs, drill=drill)["id"]
    except EngineError as e:
        raise fail(e.message) from None
    typer.echo(run_id)
    try:
        prefect = own_prefect()
    except BaseException:
        store.dispose()
        raise
    runner = Runner(store).start()
    forecaster = Forecaster(store).start()  # the objectives printed below carry its forecasts
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    shown = None
    try:
        with dispatching(store) as dispatcher, checkpointing(store):
            while True:
                data = engine.run(run_id)
                summary = (data["state"], tuple(sorted(data["counts"].items())))
                if summary != shown:
                    shown = summary
                    print_run(out, data)
                if data["state"] != "running":
                    break
                time.sleep(0.5)
            dispatcher.drain(timeout=30)  # the run's last messages (run.completed) go out before we exit
    except KeyboardInterrupt:
        typer.echo("stopped; the run goes on and any runner (runbook serve) picks it up", err=True)
    finally:
        forecaster.stop()
        runner.stop()
        if prefect is not None:
            prefect.stop()
        store.dispose()
    if data["state"] == "failed":
        raise typer.Exit(1)
