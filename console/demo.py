"""`runbook demo`: `runbook serve` on a fresh embedded store, a drill lockdown of Xi'an, and
110 synthetic staff and their team leads playing the case in accelerated time — answers
arriving by link, laptops handed over, a shortage and a restock from Beijing, restricted setups
granted by a local IAM stand-in, training, go-live approvals, a roll call escalated to the
leads of those who never answered (the IT lead phones three of them after due: late answers
that count), Beijing's manager accepting the runbook's request for two hotline agents, the
runner planning the hotline's shifts once the on-site team is ticked — while the visitor signs
in from the printed links and checks off what the players leave for them (the last laptops,
some approvals, the service check, and the call list: answer for those still missing or close
the roll call). Everything the players do
goes through the Engine as those people, so the audit shows who did what."""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .iam import IamStandIn

if TYPE_CHECKING:
    from flows.actors import Actor
    from flows.lifecycle import Engine

log = logging.getLogger("runbook.demo")
MARK = ".runbook-demo"  # a demo home holds this file; only such a directory is ever wiped
HOME_AGENTS = [f"X{i:04d}" for i in range(3, 51)]  # 48, as in Xi'an
CHANGERS = [f"X{i:04d}" for i in range(51, 54)]  # home first, then on site: their laptops go back
SILENT = [f"X{i:04d}" for i in range(90, 101)]  # never answer: the roll call escalates to their leads
PHONED = ["X0090", "X0093", "X0094"]  # the IT lead reaches them after due: late answers that count
UNAVAILABLE = ["X0060", "X0061"]
LEFT_FOR_VISITOR = 4  # laptops and go-live approvals the players leave to the visitor
LEADS = {
    "it": "X0087",
    "training": "X0095",
    "operations": "X0001",
    "supervisors": "X0079",
    "living_support": "X0101",
    "management": "X0107",
}
MANAGER_STAFF = "X0108"
BEIJING_MANAGER = "demo-manager-beijing"  # tied to beijing: accepts the runbook's loan request
LOAN_AFTER = 30 * 60  # demo seconds before Beijing's manager accepts it
ONE_OFF = (
    ("vanguard", "operations", {"people": "onsite"}),  # filled from the roll call's answers below
    ("experts", "training", {"people": ["X0081", "X0082", "X0083", "X0084", "X0085", "X0086"]}),
    ("living_support", "living_support", {"beds": 30, "health_checks": "daily"}),
)  # the leads' single tasks, done some time
VANGUARD = 30  # the on-site team the operations lead ticks: with 48 home agents, the hotline is covered
RESTOCK_AFTER = 90 * 60  # demo seconds the laptop shortage is left showing before Beijing lends ten
ONE_OFF_AFTER = 2 * 3600  # demo seconds before the leads' single tasks (the on-site team among them)
BANNER_EVERY = 60.0  # seconds between the short banners that repeat the sign-in links


def prepare_home(home: Path) -> None:
    """A fresh demo directory each start; refuse to wipe one the demo did not make."""
    if home.exists() and any(home.iterdir()):
        if not (home / MARK).exists():
            raise typer.BadParameter(f"{home} is not empty and not a demo directory; choose another --home")
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARK).write_text("made by `runbook demo`; wiped at its next start\n")


def demo(host: str, port: int, home: Path, speed: float) -> None:
    from .serve import serve

    prepare_home(home)
    iam = IamStandIn().start()  # grants, revokes and verifies the home agents' permissions
    iam_port = iam.port
    allow = [a for a in os.environ.get("RUNBOOK_OUTBOUND_ALLOW", "").split(",") if a]
    os.environ.update(
        {
            "RUNBOOK_HOME": str(home),
            "RUNBOOK_TIME_SCALE": f"{speed:g}",
            "IAM_URL": f"http://127.0.0.1:{iam_port}",
            "RUNBOOK_OUTBOUND_ALLOW": ",".join(allow + [f"127.0.0.1:{iam_port}"]),
            "RUNBOOK_PUBLIC_URL": os.environ.get("RUNBOOK_PUBLIC_URL") or f"http://{host}:{port}",
        }
    )
    os.environ.pop("RUNBOOK_DATABASE_URL", None)  # the demo is the embedded default
    quiet_prefect_console()
    base = os.environ["RUNBOOK_PUBLIC_URL"]
    tokens = accounts()
    typer.echo(f"runbook demo: starting (store in {home}); the sign-in links follow once it plays", err=True)
    players = Players(base, f"http://127.0.0.1:{port}", speed, home=home, tokens=tokens)
    try:
        # console notifications go to console.jsonl only: the terminal gets a count (the banner)
        serve(host, port, False, companion=players.play, echo_console=False)
    finally:
        iam.stop()


def quiet_prefect_console() -> None:
    """Prefect's flow- and task-run lines stay in the Prefect UI (its API handler keeps them),
    not in the demo's terminal, where they would push the sign-in links away."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", ""):  # if Prefect set up its logging already
        for handler in logging.getLogger(name).handlers:
            if type(handler).__name__ == "PrefectConsoleHandler":
                handler.setLevel(logging.WARNING)


def accounts() -> dict[str, str]:
    from flows.store import Store, runbook_home

    from .auth import add_account

    store = Store()
    try:
        tokens = {
            "manager": add_account(store, "demo-manager", "manager", staff_id=MANAGER_STAFF, by="demo"),
            "beijing": add_account(store, BEIJING_MANAGER, "manager", by="demo", sites=["beijing"]),
        }
        for team, lead in LEADS.items():
            tokens[team] = add_account(
                store, f"demo-lead-{team}", "team_lead", [f"xian/{team}"], staff_id=lead, by="demo"
            )
    finally:
        store.dispose()
    path = runbook_home() / "demo-tokens.json"
    path.write_text(json.dumps(tokens, indent=2))
    path.chmod(0o600)
    return tokens


class Players:
    """The staff and the leads, acting on their own clocks (seconds of demo time)."""

    def __init__(
        self,
        base: str,
        local: str,
        speed: float,
        seed: int = 2021,
        home: Path | None = None,
        tokens: dict[str, str] | None = None,
    ):
        self.base, self.local, self.speed = base, local, speed  # links shown; where the server answers here
        self.home, self.tokens = home or Path("."), tokens or {}
        self.random = random.Random(seed)
        self.stop = threading.Event()  # the server's, given to play()
        self.beat = max(1.0, 120.0 / speed)  # the leads' pauses stretch at a slower pace
        self.started = time.monotonic()

    def demo_seconds(self) -> float:
        return (time.monotonic() - self.started) * self.speed

    def links(self) -> list[str]:
        return [
            f"  sign in as the continuity manager:  {self.base}/login#token={self.tokens.get('manager', '')}",
            f"  sign in as the IT team lead:        {self.base}/login#token={self.tokens.get('it', '')}",
        ]

    def welcome(self, run: str) -> None:
        """What a newcomer needs, the sign-in links last (they are repeated by the banner)."""
        api = os.environ.get("PREFECT_API_URL", "")
        ui = api[: -len("/api")] if api.endswith("/api") else api or "-"
        lines = [
            "",
            f"runbook demo: the Xi'an lockdown (a drill) at {self.speed:g}x speed "
            f"(an hour in {3600 / self.speed / 60:.3g} min; --speed changes it)",
            f"  the run:        {self.base}/runs/{run}",
            f"  Prefect UI:     {ui}",
            f"  notifications:  {self.home / 'console.jsonl'} (counted in the banner below, not printed)",
            "  the CLI on this demo's store (`runbook status`, `runbook tasks RUN`):",
            f"    export RUNBOOK_HOME={self.home.resolve()}",
            f"  other leads' tokens: {self.home / 'demo-tokens.json'}; Ctrl-C stops the demo",
            *self.links(),
            "",
        ]
        typer.echo("\n".join(lines), err=True)

    def banner(self, engine: Engine, run: str) -> None:
        """Every minute: the demo clock, how many notifications, the roll call, the links again."""
        while not self.stop.wait(BANNER_EVERY):
            try:
                roll_call = engine.tasks(run, step="roll_call")[0]["state"]
                state = engine.run(run)["state"]
            except Exception:  # the store is closing: the demo is ending
                return
            minutes = int(self.demo_seconds() // 60)
            typer.echo(
                f"demo {minutes // 60}h{minutes % 60:02d}m in · run {state} · roll call {roll_call} · "
                f"{count_lines(self.home / 'console.jsonl')} notifications in console.jsonl\n"
                + "\n".join(self.links()),
                err=True,
            )

    def play(self, stop: threading.Event) -> None:
        import requests

        from flows.actors import Actor
        from flows.errors import EngineError
        from flows.lifecycle import Engine
        from flows.store import Store

        self.stop = stop
        if not self.wait_until(lambda: _healthy(requests, self.local), 180):
            typer.echo(
                f"demo players: the server did not answer at {self.local} within 3 min; nothing played", err=True
            )
            return
        store = Store()
        engine = Engine(store)
        manager = Actor("demo-manager", "manager", staff_id=MANAGER_STAFF)
        leads = {
            team: Actor(f"demo-lead-{team}", "team_lead", frozenset({("xian", team)}), staff)
            for team, staff in LEADS.items()
        }
        try:
            runs, _ = engine.lockdown("xian", manager, drill=True)
            run = next(r["id"] for r in runs if r["runbook"] == "callcenter_lockdown")
            self.welcome(run)
            threading.Thread(target=self.banner, args=(engine, run), name="demo-banner", daemon=True).start()
            self.answers(engine, run, manager)
            beijing = Actor(BEIJING_MANAGER, "manager", sites=frozenset({"beijing"}))
            self.leads_at_work(engine, run, manager, leads, EngineError, beijing)
        except EngineError as e:
            typer.echo(f"demo players stopped: {e.message}", err=True)
        except Exception:  # the server goes on; say why the players stopped
            log.exception("demo players stopped")
            typer.echo("demo players stopped on an unexpected error (the traceback is above)", err=True)
        finally:
            store.dispose()

    def wait_until(self, condition: Callable[[], bool], seconds: float) -> bool:
        waited = 0.0
        while not condition():
            if self.stop.wait(0.5) or waited > seconds:
                return False
            waited += 0.5
        return True

    def pause(self, low: float, high: float) -> bool:
        """A human pause; False when the demo is stopping."""
        return not self.stop.wait(self.random.uniform(low, high))

    def answers(self, engine: Engine, run: str, manager: Actor) -> None:
        links = {x["person"]: x["url"].rsplit("/r/", 1)[1] for x in engine.muster_links(run, "roll_call", manager)}
        for person in CHANGERS:  # home first; they change their minds below
            engine.answer_link(links[person], "home")
        people = [p for p in sorted(links) if p not in SILENT]
        self.random.shuffle(people)
        for person in people:
            option = "home" if person in HOME_AGENTS else ("unavailable" if person in UNAVAILABLE else "onsite")
            engine.answer_link(links[person], option)
            if not self.pause(0.1, 0.5):
                return

    def leads_at_work(
        self,
        engine: Engine,
        run: str,
        manager: Actor,
        leads: dict[str, Actor],
        EngineError: type[Exception],
        beijing: Actor | None = None,
    ) -> None:
        restocked = False
        short_since: float | None = None  # demo time the laptop shortage was first seen
        done_once: set[str] = set()
        phoned: list[str] = []
        while not self.stop.is_set():
            state = engine.run(run)["state"]
            if state != "running":
                typer.echo(f"  the run is {state}.", err=True)
                return
            acted = False
            laptops = [t for t in engine.tasks(run, step="laptop") if t["state"] in ("waiting", "ready")]
            if not restocked and any(t["state"] == "ready" for t in laptops):
                short_since = self.demo_seconds() if short_since is None else short_since
            if short_since is not None and not restocked and self.demo_seconds() - short_since >= RESTOCK_AFTER:
                if self.pause(1, 2):
                    engine.restock(
                        "xian",
                        "laptops",
                        manager,
                        from_site="beijing",
                        count=10,
                        reason="loan from the Beijing backup site (demo)",
                    )
                    restocked = True
                    acted = True
            for task in [t for t in laptops if t["state"] == "waiting"][: -LEFT_FOR_VISITOR or None][:3]:
                acted |= self.act(
                    EngineError,
                    functools.partial(
                        engine.complete,
                        run,
                        task["id"],
                        leads["it"],
                        fields={"asset": task["outputs"]["asset_tag"]},
                        note="handed over at the gate",
                    ),
                )
            for task in [t for t in engine.tasks(run, step="training") if t["state"] == "waiting"][:3]:
                acted |= self.act(
                    EngineError,
                    functools.partial(
                        engine.complete,
                        run,
                        task["id"],
                        leads["training"],
                        fields={"score": self.random.randint(80, 100)},
                    ),
                )
            lives = [t for t in engine.tasks(run, step="go_live") if t["state"] == "waiting"]
            for task in lives[: -LEFT_FOR_VISITOR or None][:3]:
                acted |= self.act(
                    EngineError,
                    functools.partial(engine.approve, run, task["id"], manager, note="headset and VPN checked"),
                )
            if engine.tasks(run, step="roll_call")[0]["state"] == "done" and PHONED[len(phoned) :]:
                person = PHONED[len(phoned)]  # the gate closed; the IT lead phones their missing people
                phoned.append(person)
                acted |= self.act(
                    EngineError,
                    functools.partial(
                        engine.answer, run, "roll_call", person, "onsite", leads["it"], note="reached by phone (demo)"
                    ),
                )
            if beijing is not None and self.demo_seconds() >= LOAN_AFTER:  # Beijing accepts the runbook's request
                for loan in engine.loans(site="xian"):
                    if loan["state"] == "requested" and loan["from_site"] == "beijing":
                        acted |= self.act(EngineError, functools.partial(engine.accept_loan, loan["id"], beijing))
            for step, team, fields in ONE_OFF:
                task = engine.tasks(run, step=step)[0]
                late_enough = self.demo_seconds() >= ONE_OFF_AFTER
                if task["state"] == "waiting" and step not in done_once and late_enough and self.random.random() < 0.1:
                    done_once.add(step)
                    if fields.get("people") == "onsite":
                        fields = {"people": onsite(engine.tasks(run, step="roll_call")[0])[:VANGUARD]}
                    acted |= self.act(
                        EngineError, functools.partial(engine.complete, run, step, leads[team], fields=fields)
                    )
            if not self.pause(2.0 * self.beat, (3.0 if acted else 4.0) * self.beat):
                return

    @staticmethod
    def act(EngineError: type[Exception], call: Callable[[], Any]) -> bool:
        try:
            call()
            return True
        except EngineError:  # the visitor got there first, or the task moved on
            return False


def onsite(roll_call: dict[str, Any]) -> list[str]:
    """Who answered "on site" (a done roll call's outputs)."""
    people = ((roll_call.get("outputs") or {}).get("answers") or {}).get("onsite") or []
    return [p["id"] if isinstance(p, dict) else str(p) for p in people]


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 16), b""))
    except OSError:
        return 0


def _healthy(requests, base: str) -> bool:
    try:
        return requests.get(f"{base}/api/health", timeout=2).ok
    except requests.RequestException:
        return False
