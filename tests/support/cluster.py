"""A scale-out cluster on this machine, for tests and benchmarks: `prefect server start` on a
fresh PostgreSQL database, the store on another, `runbook deploy`, `runbook worker`s and
`runbook serve --no-runner` replicas, each in its own process group. `stop()` stops everything
it started (and the flow-run processes of its workers) and drops both databases."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text

from flows.prefect_api import QUIET, PrefectServer
from tests.conftest import PG_ADMIN_URL
from tests.support.processes import RUNBOOK, Serve, free_port, wait_for

SCALE = Path(__file__).resolve().parent.parent / "scale"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (flow-run processes live in sessions of their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Worker:
    """`runbook worker` in its own process group; `kill()` SIGKILLs the group and every process
    below it (a machine that dies takes its flow-run processes with it)."""

    def __init__(self, env: dict[str, str], log: Path, name: str, pool: str, limit: int, kind: str = "inline"):
        self.env, self.log, self.name, self.pool, self.limit, self.kind = env, log, name, pool, limit, kind
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [RUNBOOK, "worker", "--pool", self.pool, "--name", self.name, "--limit", str(self.limit)]
                + ["--type", self.kind],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def _signal_all(self, sig: int) -> list[int]:
        if self.process is None:
            return []
        below = descendants(self.process.pid)
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass
        for pid in below:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return below

    def kill(self) -> None:
        below = self._signal_all(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(30)
        wait_for(lambda: not any(alive(p) for p in below), 30, what=f"worker {self.name}'s processes to die")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        below = descendants(self.process.pid)
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            pass
        self._signal_all(signal.SIGKILL)  # whatever did not stop on SIGTERM
        for pid in below:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(30)


class Cluster:
    def __init__(self, root: Path, extra_env: dict[str, str] | None = None, pool: str = "runbook-test"):
        self.root, self.pool = root, pool
        self.extra_env = dict(extra_env or {})
        self.databases: list[str] = []
        self.prefect: PrefectServer | None = None
        self.workers: list[Worker] = []
        self.replicas: list[Serve] = []
        self.env: dict[str, str] = {}
        self.store_url = ""

    def _database(self, kind: str) -> str:
        name = f"runbook_{kind}_{secrets.token_hex(4)}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.databases.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def start(self) -> Cluster:
        prefect_db = self._database("prefect").replace("postgresql+psycopg://", "postgresql+asyncpg://")
        self.store_url = self._database("store")
        self.prefect = PrefectServer(
            self.root / "prefect",
            free_port(),
            self.root / "prefect-server.log",
            env={"PREFECT_API_DATABASE_CONNECTION_URL": prefect_db},
        ).start(timeout=180)
        self.env = {
            **QUIET,
            "PREFECT_API_URL": self.prefect.url,
            "RUNBOOK_DATABASE_URL": self.store_url,
            "RUNBOOK_HOME": str(self.root / "home"),
            "RUNBOOK_LIBRARY": str(SCALE / "library"),
            "RUNBOOK_SITES": str(SCALE / "sites"),
            **self.extra_env,
        }
        self.cli("deploy", "--pool", self.pool)
        return self

    def cli(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run(
            [RUNBOOK, *args], env={**os.environ, **self.env}, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"runbook {' '.join(args)}: {done.stderr[-3000:]}"
        return done.stdout.strip()

    def worker(self, name: str, limit: int = 4, kind: str = "inline") -> Worker:
        """`kind`: the worker's --type (inline: attempts in its process; process: one per flow run)."""
        w = Worker(self.env, self.root / f"worker-{name}.log", name, self.pool, limit, kind).start()
        self.workers.append(w)
        return w

    def replica(self) -> Serve:
        serve = Serve(self.env, self.root / f"replica-{len(self.replicas)}.log", "--no-runner")
        self.replicas.append(serve)
        return serve.start()

    def emit_lockdown(self, site: str, drill: bool = False) -> None:
        """What another system does: a site.lockdown event into Prefect, its resource naming the site."""
        import json

        prefect = Path(RUNBOOK).with_name("prefect")
        done = subprocess.run(
            [
                str(prefect),
                "events",
                "emit",
                "site.lockdown",
                "--resource",
                json.dumps({"prefect.resource.id": f"runbook.site.{site}", "prefect.resource.name": site}),
                "--payload",
                json.dumps({"drill": drill}),
            ],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]

    def stop(self) -> None:
        for w in self.workers:
            w.stop()
        for r in self.replicas:
            r.stop()
        if self.prefect is not None:
            self.prefect.stop()
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.databases:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()
