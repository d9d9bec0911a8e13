"""`runbook demo`: `runbook serve` on a fresh embedded store, a drill lockdown of Xi'an, and
110 synthetic staff and their team leads playing the case in accelerated time — answers
arriving by link, laptops handed over, a shortage and a restock from Beijing, restricted setups
granted by a local IAM stand-in, training, go-live approvals, a roll call escalated to the
leads of those who never answered (the IT lead phones three of them after due: late answers
that count) — while the visitor signs in from the printed links and checks off what the
players leave for them (the last laptops, some approvals, the service check, and the
call list: answer for those still missing or close the roll call). Everything the players do
goes through the Engine as those people, so the audit shows who did what."""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import shutil
import threading
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
ONE_OFF = (
    ("backup_cover", "management", {"cover_agents": 12, "until": "2021-12-31 08:00"}),
    ("vanguard", "operations", {"people": "onsite"}),  # filled from the roll call's answers below
    ("experts", "training", {"people": ["X0081", "X0082", "X0083", "X0084", "X0085", "X0086"]}),
    ("living_support", "living_support", {"beds": 30, "health_checks": "daily"}),
    ("shift_plan", "supervisors", {"coverage_pct": 100}),
)  # the leads' single tasks, done some time
VANGUARD = 30  # the on-site team the operations lead ticks: with 48 home agents, the hotline is covered


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
    base = os.environ["RUNBOOK_PUBLIC_URL"]
    tokens = accounts()
    typer.echo(
        f"\nrunbook demo: the Xi'an lockdown (a drill) at {speed:g}x speed, store in {home}\n"
        f"  sign in as the continuity manager:  {base}/login#token={tokens['manager']}\n"
        f"  sign in as the IT team lead:        {base}/login#token={tokens['it']}\n"
        f"  (other leads: training, operations, supervisors, living_support, management —\n"
        f"   their tokens are in {home / 'demo-tokens.json'}; Ctrl-C stops the demo)\n",
        err=True,
    )
    try:
        serve(host, port, False, companion=Players(base, f"http://127.0.0.1:{port}", speed).play)
    finally:
        iam.stop()


def accounts() -> dict[str, str]:
    from flows.store import Store, runbook_home

    from .auth import add_account

    store = Store()
    try:
        tokens = {"manager": add_account(store, "demo-manager", "manager", staff_id=MANAGER_STAFF, by="demo")}
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

    def __init__(self, base: str, local: str, speed: float, seed: int = 2021):
        self.base, self.local, self.speed = base, local, speed  # links shown; where the server answers here
        self.random = random.Random(seed)
        self.stop = threading.Event()  # the server's, given to play()

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
            typer.echo(f"  the run: {self.base}/runs/{run}\n", err=True)
            self.answers(engine, run, manager)
            self.leads_at_work(engine, run, manager, leads, EngineError)
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
        self, engine: Engine, run: str, manager: Actor, leads: dict[str, Actor], EngineError: type[Exception]
    ) -> None:
        restocked = False
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
                if self.pause(4, 6):
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
            for step, team, fields in ONE_OFF:
                task = engine.tasks(run, step=step)[0]
                if task["state"] == "waiting" and step not in done_once and self.random.random() < 0.1:
                    done_once.add(step)
                    if fields.get("people") == "onsite":
                        fields = {"people": onsite(engine.tasks(run, step="roll_call")[0])[:VANGUARD]}
                    acted |= self.act(
                        EngineError, functools.partial(engine.complete, run, step, leads[team], fields=fields)
                    )
            if not (self.pause(2.0, 3.0) if acted else self.pause(2.0, 4.0)):
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


def _healthy(requests, base: str) -> bool:
    try:
        return requests.get(f"{base}/api/health", timeout=2).ok
    except requests.RequestException:
        return False
