"""Issue 17 over a real socket: four eyes through the hand-over refused by the API and the page;
a swapped laptop; a wrong key refused with the page's message; a person's page (mid-pipeline,
and after a changed answer) and the search by a part of a name (Chinese names too); CSV exports
equal to the JSON, hostile cells escaped; the audit page's filters and pages; the run page's
task filter; the search and the person page in headless Chromium."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import pytest
import requests
from playwright.sync_api import expect

from console import auth
from console.api import create_app
from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.support.processes import served_app

RUNBOOK = """id: homework
name: Home agents
steps:
  - id: roll
    kind: muster
    owner: team:ops
    audience: "${{ site.staff | selectattr('team', 'equalto', 'ops') | map(attribute='id') | list }}"
    question: Where will you work?
    options: {home: From home, onsite: On site, cannot: Cannot work}
    due: 1h
  - id: laptop
    kind: allocate
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    pool: laptops
    handover: true
    owner: team:it
    name: "Laptop for ${{ agent.name }}"
  - id: training
    kind: manual
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    needs: [laptop]
    owner: team:it
    name: "Training for ${{ agent.name }}"
  - id: go_live
    kind: approval
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    needs: [training]
    owner: role:manager
    name: "Go live: ${{ agent.name }}"
"""
STAFF = (
    "id,name,team,role\nI0001,It Lead,it,team_lead\nM0001,Boss One,it,manager\nM0002,Boss Two,it,manager\n"
    "O0001,Ops Lead,ops,team_lead\nA0001,Zhang Ping,ops,agent\nA0002,张萍,ops,agent\nA0003,Wu Fangning,ops,agent\n"
    "A0004,Li Na,ops,agent\n"
)
ACCOUNTS = {
    "manager": ("manager", [], "M0001"),
    "manager2": ("manager", [], "M0002"),
    "lead_it": ("team_lead", ["hq/it"], "I0001"),
    "viewer": ("viewer", [], None),
}


@dataclass
class Desk:
    url: str
    store: Store
    engine: Engine
    run: str
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, who: str, method: str, path: str, **kw) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)

    def login(self, who: str) -> tuple[requests.Session, str]:
        s = requests.Session()
        r = s.post(self.url + "/login", data={"token": self.tokens[who], "next": "/"}, timeout=30)
        assert r.status_code == 200, r.status_code
        return s, s.get(self.url + "/api/me", timeout=30).json()["csrf"]


@pytest.fixture
def desk(tmp_path, monkeypatch):
    site = tmp_path / "sites" / "hq"
    site.mkdir(parents=True)
    (site / "staff.csv").write_text(STAFF, encoding="utf-8")
    (site / "laptops.csv").write_text(
        "asset_tag,model,status,location\n"
        + "".join(f"LT-{i:02d},ThinkPad T{i},available,Room {i}\n" for i in range(8)),
        encoding="utf-8",
    )
    (site / "site.yaml").write_text(
        "id: hq\nname: HQ\nkind: lab\ntimezone: Asia/Shanghai\nteams:\n  it: {name: IT, leads: [I0001]}\n"
        "  ops: {name: Ops, leads: [O0001]}\nchannels:\n  console: {kind: console}\ndefault_channel: console\n"
        "pools:\n  laptops: {file: laptops.csv, key: asset_tag}\n"
    )
    library = tmp_path / "library"
    library.mkdir()
    (library / "homework.yaml").write_text(RUNBOOK)
    monkeypatch.setenv("RUNBOOK_LIBRARY", str(library))
    monkeypatch.setenv("RUNBOOK_SITES", str(tmp_path / "sites"))
    monkeypatch.setenv("RUNBOOK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RUNBOOK_DATABASE_URL", raising=False)
    store = Store()
    engine = Engine(store)
    try:
        with served_app(create_app(store)) as url:
            op = local_operator()
            run = engine.start("homework", "hq", op)["id"]
            for person in ("A0001", "A0002", "A0003"):
                engine.answer(run, "roll", person, "home", op, via="lead")
            d = Desk(url, store, engine, run)
            for name, (role, teams, staff) in ACCOUNTS.items():
                d.tokens[name] = auth.add_account(store, name, role, teams, staff, by="test")
            yield d
    finally:
        store.dispose()


def _task(desk: Desk, task_id: str) -> dict:
    r = desk.api("viewer", "GET", f"/api/runs/{desk.run}/tasks/{task_id}")
    assert r.status_code == 200, r.text
    return r.json()["task"]


def test_four_eyes_hold_through_the_handover_on_the_api_and_the_page(desk):
    run = desk.run
    r = desk.api(
        "manager",
        "POST",
        f"/api/runs/{run}/tasks/laptop:A0001/complete",
        json={"fields": {"asset": "LT-00"}, "reason": "IT desk unstaffed"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["task"]["outputs"]["by"] == "M0001" and r.json()["task"]["asset"]["handed_over"] == "LT-00"
    r = desk.api("lead_it", "POST", f"/api/runs/{run}/tasks/training:A0001/complete", json={})
    assert r.status_code == 200, r.text
    r = desk.api("manager", "POST", f"/api/runs/{run}/tasks/go_live:A0001/approve", json={})
    assert r.status_code == 403, r.text
    assert "four eyes: M0001 completed laptop:A0001" in r.json()["error"]["message"]
    s, csrf = desk.login("manager")
    page = s.post(f"{desk.url}/runs/{run}/tasks/go_live:A0001", data={"csrf": csrf, "action": "approve"}, timeout=30)
    assert page.status_code == 403 and "four eyes: M0001 completed laptop:A0001" in page.text
    assert _task(desk, "go_live:A0001")["state"] == "waiting"
    r = desk.api("manager2", "POST", f"/api/runs/{run}/tasks/go_live:A0001/approve", json={})
    assert r.status_code == 200 and r.json()["task"]["state"] == "done"


def test_the_swap_and_the_refused_key_on_the_page(desk):
    run = desk.run
    s, csrf = desk.login("lead_it")
    page = s.get(f"{desk.url}/runs/{run}/tasks/laptop:A0002", timeout=30).text
    assert "LT-01" in page and "ThinkPad T1" in page and "Room 1" in page, "the allocated asset and its columns"
    assert f'href="/runs/{run}/people/A0002"' in page, "the task links its person's page"
    refused = s.post(
        f"{desk.url}/runs/{run}/tasks/laptop:A0002",
        data={"csrf": csrf, "action": "complete", "f.asset": "LT-00"},
        timeout=30,
    )
    assert refused.status_code == 422
    assert "LT-00 is not an available laptop of this pool: it is allocated to A0001" in refused.text
    assert "--field" not in refused.text
    swapped = s.post(
        f"{desk.url}/runs/{run}/tasks/laptop:A0002",
        data={"csrf": csrf, "action": "complete", "f.asset": "LT-07"},
        timeout=30,
    )
    assert swapped.status_code == 200, swapped.text[:500]
    task = _task(desk, "laptop:A0002")
    assert task["state"] == "done" and task["outputs"]["asset_tag"] == "LT-07"
    assert task["asset"] == {
        "pool": "laptops",
        "key": "LT-07",
        "columns": {"model": "ThinkPad T7", "location": "Room 7"},
        "handed_over": "LT-07",
    }
    stock = desk.api("manager", "GET", f"/api/runs/{run}/audit").json()["entries"]
    assert [e["detail"] for e in stock if e["action"] == "pool.swap"] == [
        {"pool": "laptops", "item": "LT-07", "was": "LT-01"}
    ]
    with desk.store.read() as r:
        assert r.pool_item("hq", "laptops", "LT-01")["status"] == "available"
    mine = s.get(f"{desk.url}/my", timeout=30).text
    assert "LT-02" in mine and "ThinkPad T2" in mine, "my tasks show the allocated asset"


def test_a_persons_page_mid_pipeline_and_after_a_changed_answer(desk):
    run, op = desk.run, local_operator()
    desk.engine.complete(run, "laptop:A0001", op, fields={"asset": "LT-00"})
    story = desk.api("viewer", "GET", f"/api/runs/{run}/people/A0001").json()
    assert story["person"] == {"id": "A0001", "name": "Zhang Ping", "team": "ops"}
    assert [(a["option"], a["late"], a["by"]) for a in story["answers"]] == [("home", False, "os:" + op.name[3:])]
    items = {i["task"]: i for i in story["items"]}
    assert items["laptop:A0001"]["state"] == "done" and items["laptop:A0001"]["asset"]["key"] == "LT-00"
    assert items["training:A0001"]["state"] == "waiting" and items["training:A0001"]["owner"] == "team:it"
    assert items["go_live:A0001"]["state"] == "pending" and "asset" not in items["go_live:A0001"]
    assert set(items["training:A0001"]) >= {"task", "step", "state", "owner", "due", "overdue"}

    desk.engine.answer(run, "roll", "A0003", "cannot", op, via="lead")
    changed = desk.api("viewer", "GET", f"/api/runs/{run}/people/A0003").json()
    assert [(a["option"], a["current"]) for a in changed["answers"]] == [("home", False), ("cannot", True)]
    assert {i["state"] for i in changed["items"]} == {"cancelled"}
    s, _ = desk.login("viewer")
    page = s.get(f"{desk.url}/runs/{run}/people/A0003", timeout=30)
    assert page.status_code == 200 and "Wu Fangning" in page.text and "cancelled" in page.text
    assert s.get(f"{desk.url}/runs/{run}/people/A9999", timeout=30).status_code == 404
    r = desk.api("viewer", "GET", f"/api/runs/{run}/people/A9999")
    assert r.status_code == 404 and "A9999 is not on the roster of site hq" in r.json()["error"]["message"]


def test_search_by_part_of_a_name_also_chinese(desk):
    def ids(q: str) -> list[str]:
        r = desk.api("viewer", "GET", f"/api/runs/{desk.run}/people", params={"q": q})
        assert r.status_code == 200, r.text
        return [p["id"] for p in r.json()["people"]]

    assert ids("ping") == ["A0001"]
    assert ids("zhangping") == ["A0001"], "spaces and case ignored"
    assert ids("萍") == ["A0002"] and ids("张") == ["A0002"]
    assert ids("a000") == ["A0001", "A0002", "A0003", "A0004"]
    r = desk.api("viewer", "GET", f"/api/runs/{desk.run}/people", params={"q": " "})
    assert r.status_code == 422 and "q=" in r.json()["error"]["message"]
    s, _ = desk.login("viewer")
    one = s.get(f"{desk.url}/runs/{desk.run}/people", params={"q": "fang"}, timeout=30)
    assert one.url.endswith(f"/runs/{desk.run}/people/A0003") and "Wu Fangning" in one.text


def test_the_audit_csv_equals_the_audit_json_and_a_hostile_cell_is_escaped(desk):
    run = desk.run
    hostile = '=HYPERLINK("http://evil.example","click")'
    r = desk.api(
        "manager",
        "POST",
        f"/api/runs/{run}/tasks/laptop:A0001/complete",
        json={"fields": {"asset": "LT-00"}, "reason": hostile},
    )
    assert r.status_code == 200, r.text
    entries = desk.api("manager", "GET", f"/api/runs/{run}/audit").json()["entries"]
    got = desk.api("manager", "GET", f"/runs/{run}/audit.csv")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["at", "actor", "action", "target", "reason", "detail"]
    assert len(rows) == len(entries)
    for row, e in zip(rows, entries, strict=True):
        unescaped = {
            k: v[1:] if v.startswith("'") and v[1:2] in ("=", "+", "-", "@", "\t", "\r") else v for k, v in row.items()
        }
        assert unescaped["at"] == e["at"] and unescaped["actor"] == e["actor"]
        assert unescaped["action"] == e["action"] and unescaped["target"] == (e["target"] or "")
        assert unescaped["reason"] == (e["reason"] or "")
        assert (json.loads(unescaped["detail"]) if unescaped["detail"] else None) == e["detail"]
    complete = next(r for r in rows if r["action"] == "task.complete")
    assert complete["reason"] == "'" + hostile, "a formula stays text"
    filtered = desk.api("manager", "GET", f"/runs/{run}/audit.csv", params={"action": "muster.answer"})
    assert len(list(csv.DictReader(io.StringIO(filtered.content.decode("utf-8-sig"))))) == 3

    tasks = desk.api("viewer", "GET", f"/runs/{run}/tasks.csv", params={"step": "laptop"})
    lines = list(csv.DictReader(io.StringIO(tasks.content.decode("utf-8-sig"))))
    assert [(t["id"], t["asset"]) for t in lines] == [
        ("laptop:A0001", "LT-00"),
        ("laptop:A0002", "LT-01"),
        ("laptop:A0003", "LT-02"),
    ]
    assert desk.api("viewer", "GET", f"/runs/{run}/tasks.csv", params={"state": "nope"}).status_code == 422
    assert requests.get(f"{desk.url}/runs/{run}/audit.csv", timeout=30).status_code == 401


def test_the_audit_page_filters_and_pages_fifty_a_page(desk):
    op = local_operator()
    for i in range(60):  # answers changed back and forth: 60 more audit rows
        desk.engine.answer(desk.run, "roll", "A0004", "onsite" if i % 2 == 0 else "cannot", op, via="lead")
    s, _ = desk.login("viewer")
    first = s.get(f"{desk.url}/runs/{desk.run}/audit", params={"action": "muster.answer"}, timeout=30).text
    assert first.count("<td>muster.answer</td>") == 50 and "Page 1 / 2" in first
    second = s.get(f"{desk.url}/runs/{desk.run}/audit", params={"action": "muster.answer", "page": 2}, timeout=30).text
    assert second.count("<td>muster.answer</td>") == 13 and "Page 2 / 2" in second
    only = s.get(f"{desk.url}/runs/{desk.run}/audit", params={"target": "laptop:A0002"}, timeout=30).text
    assert "<td>pool.allocate</td>" in only and "muster.answer" not in only.split("</thead>")[1]
    bad = s.get(f"{desk.url}/runs/{desk.run}/audit", params={"page": "x"}, timeout=30)
    assert bad.status_code == 422 and "page must be a whole number" in bad.text


def test_the_run_page_filters_its_tasks_and_my_tasks_by_run_and_step(desk):
    s, _ = desk.login("lead_it")
    page = s.get(f"{desk.url}/runs/{desk.run}", params={"team": "it", "step": "laptop"}, timeout=30).text
    section = page.split('id="tasks"')[1]
    assert "Laptop for Zhang Ping" in section and "Training for" not in section and "3 tasks" in section
    bad = s.get(f"{desk.url}/runs/{desk.run}", params={"team": "nope"}, timeout=30)
    assert bad.status_code == 422 and "unknown team &#34;nope&#34; (teams of site" in bad.text
    mine = s.get(f"{desk.url}/my", params={"run": desk.run, "step": "laptop"}, timeout=30).text
    assert "Laptop for Zhang Ping" in mine and "Training for Zhang Ping" not in mine


def test_the_search_box_leads_to_a_persons_page_in_chromium(browser, desk):
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(desk.url + "/login?next=/")
        page.fill("input[name=token]", desk.tokens["viewer"])
        page.click("button[type=submit]")
        page.goto(f"{desk.url}/runs/{desk.run}")
        page.fill("form.search input[name=q]", "ng")
        page.click("form.search button")
        expect(page.locator("#people li")).to_have_count(2)  # Zhang Ping, Wu Fangning
        expect(page.locator("#people")).to_contain_text("Wu Fangning")
        page.click("text=Zhang Ping")
        expect(page.locator("h1")).to_contain_text("Zhang Ping")
        expect(page.locator("#items")).to_contain_text("Laptop for Zhang Ping")
        expect(page.locator("#items")).to_contain_text("LT-00")
    finally:
        ctx.close()


def test_the_handover_form_in_chromium_refuses_a_wrong_key_then_swaps(browser, desk):
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(desk.url + "/login?next=/")
        page.fill("input[name=token]", desk.tokens["lead_it"])
        page.click("button[type=submit]")
        page.goto(f"{desk.url}/runs/{desk.run}/tasks/laptop:A0002")
        expect(page.locator("dd.asset")).to_contain_text("LT-01")
        expect(page.locator("dd.asset")).to_contain_text("ThinkPad T1")
        page.fill("input[name='f.asset']", "LT-00")
        page.click("button[value=complete]")
        expect(page.locator(".flash")).to_contain_text(
            "LT-00 is not an available laptop of this pool: it is allocated to A0001"
        )
        page.fill("input[name='f.asset']", "LT-06")
        page.click("button[value=complete]")
        expect(page.locator("dl.facts")).to_contain_text("done")
        expect(page.locator("dd.asset")).to_contain_text("LT-06")
        expect(page.locator("dd.asset")).to_contain_text("ThinkPad T6")
    finally:
        ctx.close()
