"""`runbook demo` on a fresh home: within a minute the run page shows answers arriving and
agents moving through the funnel, and the printed login link signs a visitor in."""

from __future__ import annotations

import json
import re
import time

import requests

from tests.support.processes import Serve, wait_for


def test_the_demo_plays_the_xian_case_for_a_visitor(tmp_path, prefect_api):
    home = tmp_path / "demo"
    demo = Serve(
        {"PREFECT_API_URL": prefect_api, "RUNBOOK_HOME": str(tmp_path / "unused")},
        tmp_path / "demo.log",
        "--home",
        str(home),
        "--speed",
        "240",
        command="demo",
    )
    demo.start()
    try:
        started = time.monotonic()
        url = f"http://127.0.0.1:{demo.port}"
        tokens = json.loads((home / "demo-tokens.json").read_text())
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {tokens['manager']}"

        def funnel() -> dict[str, dict] | None:
            runs = api.get(url + "/api/runs", timeout=30).json()["runs"]
            run = next((r["id"] for r in runs if r["runbook"] == "callcenter_lockdown"), None)
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
        log = demo.log.read_text()
        link = re.search(r"manager:\s+(http://\S+/login#token=(rbt_\S+))", log)
        assert link and link.group(2) == tokens["manager"], "the printed manager link carries the manager's token"
        visitor = requests.Session()
        r = visitor.post(url + "/login", data={"token": link.group(2), "next": "/"}, timeout=30)
        assert r.status_code == 200 and "Xi&#39;an customer-service center" in r.text
    finally:
        demo.stop()
