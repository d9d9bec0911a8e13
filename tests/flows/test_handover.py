"""Hand-overs that mean something: the allocated asset is shown with its pool columns; the lead
confirms with the key of the laptop handed over — the allocated one confirms, another available
one of the pool swaps the allocation (outputs, pool, audit), anything else is refused with a
message for the page (the CLI keeps its own); whoever confirms is the doer of that item, so they
cannot approve its go-live (four eyes), unless the step allows it."""

from __future__ import annotations

import pytest

from flows.actors import Actor
from flows.errors import Forbidden, Invalid

HANDOVER = """id: handover
name: Home agents
inputs:
  n: {type: integer, default: 3}
  self_ok: {type: boolean, default: false}
steps:
  - id: laptop
    kind: allocate
    for_each: "${{ range(inputs.n) | list }}"
    pool: laptops
    handover: true
    owner: team:it
    name: "Laptop {{ item }}"
  - id: training
    kind: manual
    for_each: "${{ range(inputs.n) | list }}"
    needs: [laptop]
    owner: team:it
  - id: go_live
    kind: approval
    for_each: "${{ range(inputs.n) | list }}"
    needs: [training]
    owner: role:manager
"""
MANAGER = Actor("mgr", "manager", staff_id="H0002")
OTHER_MANAGER = Actor("mgr2", "manager", staff_id="H0003")
LEAD = Actor("lead", "team_lead", frozenset({("hq", "it")}), "H0001")


@pytest.fixture
def site(tmp_path, monkeypatch):
    d = tmp_path / "sites" / "hq"
    d.mkdir(parents=True)
    (d / "staff.csv").write_text(
        "id,name,team,role\nH0001,Lead,it,agent\nH0002,Boss,it,manager\nH0003,Chief,it,manager\n"
    )
    (d / "laptops.csv").write_text(
        "asset_tag,model,status,location\n"
        + "".join(f"LT-{i:02d},ThinkPad T{i},{'available' if i < 5 else 'repair'},Room {i}\n" for i in range(6))
    )
    (d / "site.yaml").write_text(
        "id: hq\nname: HQ\nkind: lab\nteams:\n  it: {name: IT, leads: [H0001]}\n"
        "channels:\n  console: {kind: console}\ndefault_channel: console\n"
        "pools:\n  laptops: {file: laptops.csv, key: asset_tag}\n"
    )
    monkeypatch.setenv("RUNBOOK_SITES", str(tmp_path / "sites"))


def _laptops(engine, run):
    return {t["id"]: t for t in engine.tasks(run, step="laptop")}


def test_the_allocated_asset_is_shown_with_its_pool_columns(engine, operator, write_runbook, site):
    run = engine.start(write_runbook(HANDOVER), "hq", operator)["id"]
    task = _laptops(engine, run)["laptop:0"]
    assert task["asset"] == {
        "pool": "laptops",
        "key": "LT-00",
        "columns": {"model": "ThinkPad T0", "location": "Room 0"},
        "handed_over": None,
    }
    assert engine.task_page(run, "laptop:0", LEAD)["task"]["asset"]["key"] == "LT-00"
    mine = engine.my_tasks(LEAD)["runs"][0]["tasks"]
    assert {t["asset"]["key"] for t in mine if t["step"] == "laptop"} == {"LT-00", "LT-01", "LT-02"}


def test_another_available_laptop_swaps_the_allocation_and_the_first_goes_back(
    engine, operator, store, write_runbook, site
):
    run = engine.start(write_runbook(HANDOVER), "hq", operator)["id"]
    engine.complete(run, "laptop:0", LEAD, fields={"asset": "LT-04"})
    task = _laptops(engine, run)["laptop:0"]
    assert task["state"] == "done"
    assert task["outputs"]["asset_tag"] == "LT-04" and task["outputs"]["model"] == "ThinkPad T4"
    assert task["outputs"]["location"] == "Room 4" and task["outputs"]["by"] == "H0001"
    assert task["asset"]["key"] == "LT-04" and task["asset"]["handed_over"] == "LT-04"
    with store.read() as r:
        first, swapped = r.pool_item("hq", "laptops", "LT-00"), r.pool_item("hq", "laptops", "LT-04")
        audit = [e for e in r.audit(run) if e["action"] == "pool.swap"]
    assert first["status"] == "available" and first["task_id"] is None, "the first goes back to the pool"
    assert (swapped["status"], swapped["task_id"]) == ("handed_over", "laptop:0")
    assert len(audit) == 1 and audit[0]["actor"] == "lead" and audit[0]["target"] == "laptop:0"
    assert audit[0]["detail"] == {"pool": "laptops", "item": "LT-04", "was": "LT-00"}
    stock = engine.pools("hq")["pools"]["laptops"]
    assert (stock["available"], stock["allocated"], stock["handed_over"]) == (2, 2, 1)
    # The laptop given back can be handed over for another agent in its turn.
    engine.complete(run, "laptop:1", LEAD, fields={"asset": "LT-00"})
    assert _laptops(engine, run)["laptop:1"]["outputs"]["asset_tag"] == "LT-00"


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("LT-02", "LT-02 is not an available laptop of this pool: it is allocated to 2"),
        ("LT-05", "LT-05 is not an available laptop of this pool: it is repair"),
        ("LT-99", "LT-99 is not an available laptop of this pool: pool laptops has no LT-99"),
    ],
)
def test_a_key_that_is_not_an_available_laptop_of_the_pool_is_refused_for_the_page(
    engine, operator, write_runbook, site, typed, why
):
    run = engine.start(write_runbook(HANDOVER), "hq", operator)["id"]
    with pytest.raises(Invalid) as exc:
        engine.complete(run, "laptop:0", LEAD, fields={"asset": typed})
    assert exc.value.message == why and "--field" not in exc.value.message
    assert "--field asset=LT-00" in exc.value.cli, "the CLI keeps its own wording"
    assert _laptops(engine, run)["laptop:0"]["state"] == "waiting", "nothing changed"
    assert engine.pools("hq")["pools"]["laptops"]["handed_over"] == 0


def test_who_confirms_the_handover_cannot_approve_that_agents_go_live(engine, operator, write_runbook, site):
    run = engine.start(write_runbook(HANDOVER), "hq", operator)["id"]
    engine.complete(run, "laptop:0", MANAGER, fields={"asset": "LT-00"}, reason="IT desk unstaffed")
    assert _laptops(engine, run)["laptop:0"]["outputs"]["by"] == "H0002"
    engine.complete(run, "training:0", LEAD)
    with pytest.raises(Forbidden, match="four eyes: H0002 completed laptop:0, upstream of go_live:0"):
        engine.approve(run, "go_live:0", MANAGER)
    engine.approve(run, "go_live:0", OTHER_MANAGER)
    assert {t["id"]: t["state"] for t in engine.tasks(run, step="go_live")}["go_live:0"] == "done"


def test_allow_self_lets_the_handover_person_approve(engine, operator, write_runbook, site):
    text = HANDOVER.replace("    owner: role:manager\n", "    owner: role:manager\n    allow_self: true\n")
    run = engine.start(write_runbook(text), "hq", operator)["id"]
    engine.complete(run, "laptop:1", MANAGER, fields={"asset": "LT-01"}, reason="IT desk unstaffed")
    engine.complete(run, "training:1", LEAD)
    engine.approve(run, "go_live:1", MANAGER)
    assert {t["id"]: t["state"] for t in engine.tasks(run, step="go_live")}["go_live:1"] == "done"
