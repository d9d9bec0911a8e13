"""`runbook demo` on a fresh home, at its default pace, as a newcomer sees it: within a minute
the run page shows answers arriving and agents moving through the funnel; the terminal stays
short (console notifications go to console.jsonl, counted), the sign-in links are among the
last lines printed and sign a visitor in, the `export RUNBOOK_HOME=…` line and the Prefect UI
are printed, and a minute in the roll call is still open (its `due` ahead)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

import requests

from tests.support.processes import Serve, wait_for


def printed(demo: Serve) -> list[str]:
    return [line for line in demo.log.read_text().splitlines() if line.strip()]


def test_the_demo_plays_the_xian_case_for_a_visitor_at_a_pace_they_can_follow(tmp_path, prefect_api):
    home = tmp_path / "demo"
    demo = Serve(
        {"PREFECT_API_URL": prefect_api, "RUNBOOK_HOME": str(tmp_path / "unused")},
        tmp_path / "demo.log",
        "--home",
        str(home),
        command="demo",
    )
    started = time.monotonic()
    demo.start()
    try:
        url = f"http://127.0.0.1:{demo.port}"
        tokens = json.loads((home / "demo-tokens.json").read_text())
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {tokens['manager']}"

        def run_id() -> str | None:
            runs = api.get(url + "/api/runs", timeout=30).json()["runs"]
            return next((r["id"] for r in runs if r["runbook"] == "callcenter_lockdown"), None)

        def funnel() -> dict[str, dict] | None:
            run = run_id()
            if run is None:
                return None
            return {s["id"]: s for s in api.get(f"{url}/api/runs/{run}/board", timeout=30).json()["funnel"]["stages"]}

        stages = wait_for(
            lambda: (lambda f: f if f and f["answered"]["reached"] >= 5 and f["laptop"]["reached"] >= 1 else None)(
                funnel()
            ),
            60,
            interval=1,
            what="answers and laptops in the funnel",
        )
        assert time.monotonic() - started < 60
        assert stages["answered"]["reached"] >= stages["laptop"]["reached"] >= 1

        wait_for(lambda: any("sign in as the IT team lead" in line for line in printed(demo)), 60, what="the links")
        lines = printed(demo)
        assert any(line.strip() == f"export RUNBOOK_HOME={home.resolve()}" for line in lines)
        assert any(re.search(r"Prefect UI:\s+http://", line) for line in lines)
        last = lines[-4:]
        assert any(f"login#token={tokens['manager']}" in line for line in last), lines[-10:]
        assert any(f"login#token={tokens['it']}" in line for line in last), lines[-10:]

        wait_for(lambda: time.monotonic() - started >= 60, 90, interval=0.5, what="a minute of the demo")
        in_first_minute = len(demo.log.read_text().splitlines())
        roll_call = api.get(f"{url}/api/runs/{run_id()}/tasks/roll_call", timeout=30).json()["task"]
        assert in_first_minute < 100, demo.log.read_text()[-3000:]
        assert (home / "console.jsonl").stat().st_size > 0, "the notifications went to console.jsonl"
        assert roll_call["state"] == "waiting"
        assert datetime.fromisoformat(roll_call["due_at"]) > datetime.now(UTC), "the roll call is still open"

        banner = wait_for(
            lambda: next((line for line in printed(demo) if "notifications in console.jsonl" in line), None),
            60,
            what="the banner of the first minute",
        )
        assert re.search(r"demo \dh\d\dm in · run running · roll call waiting · \d+ notifications", banner)
        assert any(f"login#token={tokens['manager']}" in line for line in printed(demo)[-3:]), "links again, last"

        link = re.search(r"manager:\s+(http://\S+/login#token=(rbt_\S+))", demo.log.read_text())
        assert link and link.group(2) == tokens["manager"], "the printed manager link carries the manager's token"
        visitor = requests.Session()
        r = visitor.post(url + "/login", data={"token": link.group(2), "next": "/"}, timeout=30)
        assert r.status_code == 200 and "Xi&#39;an customer-service center" in r.text
    finally:
        demo.stop()
