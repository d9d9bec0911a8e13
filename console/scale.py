"""Scale-out edge: `runbook deploy` (work pool, deployments, the site.lockdown trigger) and
`runbook worker` (the pool's attempts in its own process, or a Prefect worker of another type,
+ the lease watcher + optional /metrics). Both need the cluster's Prefect server
(PREFECT_API_URL); nothing else imports this."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .common import fail

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

    from flows.store import Store

POOL_HELP = "the Prefect work pool (created by deploy if missing)"
INLINE = "inline"  # `runbook worker --type`: attempts run in the worker's own process


def _need_prefect_api(command: str) -> None:
    if not os.environ.get("PREFECT_API_URL"):
        raise fail(
            f"runbook {command} needs PREFECT_API_URL: the URL of the cluster's Prefect server "
            "(e.g. http://prefect.bank.internal:4200/api)",
            2,
        )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    try:  # stay in our process group (a group kill stops both), and stop if we are SIGKILLed alone
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def register(app: typer.Typer) -> None:
    @app.command()
    def deploy(
        pool: str = typer.Option("runbook", "--pool", help=POOL_HELP),
        source: Path | None = typer.Option(
            None, "--source", help="directory workers load the code from (default: this installation)"
        ),
    ) -> None:
        """Register the scale-out deployments on Prefect: execute-run, site-lockdown and its trigger,
        and one start-runbook deployment per library runbook (its inputs as the run form)."""
        _need_prefect_api("deploy")
        if source is not None and not source.is_dir():
            raise fail(f"--source {source}: not a directory", 2)
        from flows.prefect_api import QUIET

        for key, value in QUIET.items():
            os.environ.setdefault(key, value)
        from flows.starter import register_all

        try:
            ids = register_all(pool, source)
        except Exception as e:  # the API is unreachable or refuses: say so, no traceback
            raise fail(
                f"could not register the deployments on {os.environ['PREFECT_API_URL']}: {type(e).__name__}: {e}"
            ) from None
        for name, deployment_id in ids.items():
            typer.echo(f"{name}\t{deployment_id}")
        typer.echo(
            f"work pool {pool!r}: start workers with `runbook worker --pool {pool}`; a site.lockdown event "
            "on resource runbook.site.<site> starts that site's runbooks",
            err=True,
        )

    @app.command()
    def worker(
        pool: str = typer.Option("runbook", "--pool", help=POOL_HELP),
        name: str | None = typer.Option(None, "--name", help="worker name (default: host-pid)"),
        limit: int | None = typer.Option(None, "--limit", min=1, help="flow runs at once (one per run)"),
        worker_type: str = typer.Option(
            INLINE,
            "--type",
            help="inline: attempts run in this process (no process start per flow run); else a Prefect "
            "worker of that type (process, kubernetes with prefect-kubernetes installed, …)",
        ),
        metrics_port: int | None = typer.Option(None, "--metrics-port", help="serve /metrics on 127.0.0.1:PORT"),
    ) -> None:
        """Runs the pool's flow runs (in this process, or through a Prefect worker of --type), plus
        the lease watcher that submits an attempt for every run whose lease is free or expired
        (runs of a dead worker are taken over)."""
        _need_prefect_api("worker")
        from flows.prefect_api import QUIET

        from .serve import check_prefect_control, checkpointing

        check_prefect_control()

        for key, value in QUIET.items():
            os.environ.setdefault(key, value)
        from flows.store import Store

        name = name or f"{socket.gethostname()}-{os.getpid()}"
        store = Store()
        with checkpointing(store):  # the audit chains' heads to the witness, as serve does
            if worker_type == INLINE:
                _run_inline(store, pool, name, limit, metrics_port)
            else:
                _run_prefect_worker(store, pool, name, limit, metrics_port, worker_type)


def _run_prefect_worker(
    store: Store, pool: str, name: str, limit: int | None, metrics_port: int | None, worker_type: str
) -> None:
    """A Prefect worker of that type as a child process, beside the lease watcher, until SIGTERM."""
    from flows.deploy import LeaseWatcher

    env = {
        **os.environ,
        "RUNBOOK_WORKER_NAME": name,
        # our lease decides takeovers in seconds; the worker should notice new flow runs as fast
        "PREFECT_WORKER_QUERY_SECONDS": os.environ.get("PREFECT_WORKER_QUERY_SECONDS", "1"),
    }
    prefect = Path(sys.executable).with_name("prefect")
    command = [
        str(prefect) if prefect.exists() else sys.executable,
        *([] if prefect.exists() else ["-m", "prefect"]),
        "worker",
        "start",
        "--pool",
        pool,
        "--type",
        worker_type,
        "--name",
        name,
    ]
    if limit:
        command += ["--limit", str(limit)]
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    stop, metrics = _started(store, f"runbook worker {name}: pool {pool!r}", metrics_port)
    watcher = LeaseWatcher(store, name)
    thread = threading.Thread(target=watcher.run, args=(stop,), name="lease-watcher", daemon=True)
    thread.start()
    try:
        while not stop.wait(1.0):
            if process.poll() is not None:
                raise fail(f"the Prefect worker exited with {process.returncode}")
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(30)
        if metrics is not None:
            metrics.shutdown()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        store.dispose()


def _run_inline(store: Store, pool: str, name: str, limit: int | None, metrics_port: int | None) -> None:
    """The pool's attempts in threads of this process, beside the lease watcher, until SIGTERM."""
    os.environ["RUNBOOK_WORKER_NAME"] = name  # the attempts' lease owners name this worker
    from flows.attempts import AttemptWorker
    from flows.deploy import LeaseWatcher

    stop, metrics = _started(store, f"runbook worker {name}: pool {pool!r} (attempts in this process)", metrics_port)
    attempts = AttemptWorker(pool, name, limit=limit)
    # Half-second rounds: a dead worker's runs are found within TTL + 0.5 s and run at once here.
    watcher = LeaseWatcher(store, name, every=0.5, on_submit=attempts.wake)
    threads = [
        threading.Thread(target=watcher.run, args=(stop,), name="lease-watcher", daemon=True),
        threading.Thread(target=attempts.run, args=(stop,), name="attempts", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        attempts.wake()
        for thread in threads:
            thread.join(60)
        if metrics is not None:
            metrics.shutdown()
        store.dispose()


def _started(store: Store, banner: str, metrics_port: int | None) -> tuple[threading.Event, ThreadingHTTPServer | None]:
    """A worker under way: the event SIGTERM sets, its `/metrics` when asked for, and what it is
    said on stderr (`banner`, then the store, the Prefect API and the metrics' address)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    metrics = _serve_metrics(store, metrics_port) if metrics_port else None
    typer.echo(
        f"{banner}, store {store.dialect}, Prefect API "
        f"{os.environ['PREFECT_API_URL']}" + (f", metrics on 127.0.0.1:{metrics_port}" if metrics else ""),
        err=True,
    )
    return stop, metrics


def _serve_metrics(store: Store, port: int) -> ThreadingHTTPServer:
    """/metrics for a worker, on loopback only (a worker has no accounts to check a token)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from .metrics import CONTENT_TYPE, render_metrics

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = render_metrics(store).encode()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
