"""Allocation from a site pool: one item per task, never twice; the hand-over confirmed with
the item's key; a shortage blocks only the unserved items and is told once; restocking from
another site serves them; a cancelled item goes back to the pool."""

from __future__ import annotations

import pytest

from flows.errors import Conflict, Invalid

ALLOC = """id: alloc
name: Laptops
inputs:
  n: {type: integer, default: 5}
steps:
  - id: laptop
    kind: allocate
    for_each: "${{ range(inputs.n) | list }}"
    pool: laptops
    handover: true
    owner: team:it
    name: "Laptop {{ item }}"
  - id: setup
    kind: manual
    for_each: "${{ range(inputs.n) | list }}"
    needs: [laptop]
    owner: team:it
"""


@pytest.fixture
def sites(tmp_path, monkeypatch):
    for site, n in (("east", 3), ("west", 4)):
        d = tmp_path / "sites" / site
        d.mkdir(parents=True)
        (d / "staff.csv").write_text(f"id,name,team,role\n{site[0].upper()}0001,Lead,it,manager\n")
        (d / "laptops.csv").write_text(
            "asset_tag,model,status\n"
            + "".join(f"{site.upper()}-{i:03d},X1,{'available' if i < n else 'repair'}\n" for i in range(n + 1))
        )
        (d / "site.yaml").write_text(
            f"id: {site}\nname: {site}\nkind: lab\nteams:\n"
            f"  it: {{name: IT, leads: [{site[0].upper()}0001]}}\n"
            "channels:\n  console: {kind: console}\ndefault_channel: console\n"
            "pools:\n  laptops: {file: laptops.csv, key: asset_tag}\n"
        )
    monkeypatch.setenv("RUNBOOK_SITES", str(tmp_path / "sites"))


def test_allocation_shortage_handover_restock_and_release(engine, operator, store, write_runbook, sites):
    run = engine.start(write_runbook(ALLOC), "east", operator)["id"]
    laptops = {t["id"]: t for t in engine.tasks(run, step="laptop")}
    given = sorted(t["outputs"]["asset_tag"] for t in laptops.values() if t["state"] == "waiting")
    assert given == ["EAST-000", "EAST-001", "EAST-002"], "the 3 available, not the one in repair"
    blocked = [t for t in laptops.values() if t["state"] == "ready"]
    assert len(blocked) == 2 and all(t["reason"].startswith("waiting for stock") for t in blocked)
    with store.read() as r:
        alerts = [m for m in r.outbox(run_id=run) if m["event"] == "pool.shortage"]
    assert {m["recipient"] for m in alerts} == {"person:E0001"} and len(alerts) == 1, "told once"
    assert "3 served, 4 needed so far" in alerts[0]["message"]["text"]
    assert engine.pools("east")["pools"]["laptops"] == {"total": 4, "available": 0, "allocated": 3, "handed_over": 0}

    first = next(t for t in laptops.values() if t["state"] == "waiting")
    with pytest.raises(
        Invalid, match="WRONG is not an available laptop of this pool: pool laptops has no WRONG"
    ) as exc:
        engine.complete(run, first["id"], operator, fields={"asset": "WRONG"})
    assert "--field asset=" in exc.value.cli
    engine.complete(run, first["id"], operator, fields={"asset": first["outputs"]["asset_tag"]})
    assert engine.pools("east")["pools"]["laptops"]["handed_over"] == 1

    with pytest.raises(Conflict, match="has 4 available"):
        engine.restock("east", "laptops", operator, from_site="west", count=9, reason="loan from west")
    result = engine.restock("east", "laptops", operator, from_site="west", count=2, reason="loan from west")
    assert result["served"] == 2 and engine.pools("west")["pools"]["laptops"]["available"] == 2
    assert all(t["state"] == "waiting" for t in engine.tasks(run, step="laptop") if t["id"] != first["id"])
    tags = [t["outputs"]["asset_tag"] for t in engine.tasks(run, step="laptop")]
    assert len(tags) == len(set(tags)) == 5, "no item twice"

    with pytest.raises(Invalid, match="line 3: asset_tag EAST-000 is already"):
        engine.restock(
            "east", "laptops", operator, rows=[{"asset_tag": "NEW-1"}, {"asset_tag": "EAST-000"}], reason="new stock"
        )
    engine.cancel(run, operator, reason="drill over")
    stock = engine.pools("east")["pools"]["laptops"]
    assert stock["handed_over"] == 1 and stock["allocated"] == 0 and stock["available"] == 4, (
        "what was not handed over went back"
    )
    site_audit = [e["action"] for e in engine.audit(run)["entries"]]
    assert site_audit.count("pool.allocate") == 5 and site_audit.count("pool.release") == 4


def test_two_processes_on_postgresql_never_give_one_item_twice(tmp_path, pg_url, monkeypatch, write_runbook):
    """Two `runbook start` processes draw 300 items each from one pool of 500 at once."""
    import os
    import subprocess

    from sqlalchemy import text

    from flows.store import Store, metadata
    from tests.support.processes import RUNBOOK

    d = tmp_path / "sites" / "big"
    d.mkdir(parents=True)
    (d / "staff.csv").write_text("id,name,team,role\nB0001,Lead,it,manager\n")
    (d / "laptops.csv").write_text("asset_tag,status\n" + "".join(f"BIG-{i:04d},available\n" for i in range(500)))
    (d / "site.yaml").write_text(
        "id: big\nname: Big\nkind: lab\nteams:\n  it: {name: IT, leads: [B0001]}\n"
        "channels:\n  console: {kind: console}\ndefault_channel: console\n"
        "pools:\n  laptops: {file: laptops.csv, key: asset_tag}\n"
    )
    store = Store(pg_url)
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " CASCADE"))
    runbook = write_runbook(ALLOC.replace("default: 5", "default: 300").replace("handover: true", "handover: false"))
    env = {
        **os.environ,
        "RUNBOOK_DATABASE_URL": pg_url,
        "RUNBOOK_SITES": str(tmp_path / "sites"),
        "RUNBOOK_HOME": str(tmp_path / "home"),
    }
    procs = [
        subprocess.Popen(
            [RUNBOOK, "start", str(runbook), "--site", "big"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1000:] for o in outs]
    try:
        with store.read() as r:
            stock = r.pool_stock("big")["laptops"]
            runs = [o[0].strip() for o in outs]
            allocated = [t for run in runs for t in r.tasks(run, steps=["laptop"]) if t["state"] == "done"]
            blocked = [t for run in runs for t in r.tasks(run, steps=["laptop"]) if t["state"] == "ready"]
            alerts = [m for run in runs for m in r.outbox(run_id=run) if m["event"] == "pool.shortage"]
        tags = [t["outputs"]["asset_tag"] for t in allocated]
        assert stock == {"allocated": 500} and len(tags) == 500 and len(set(tags)) == 500, "0 duplicates"
        assert len(blocked) == 100 and all(t["reason"].startswith("waiting for stock") for t in blocked)
        assert len(blocked) == 100 and {m["recipient"] for m in alerts} == {"person:B0001"}, "the shortage is told"
        print(
            f"\n2 processes x 300 from a pool of 500: {len(set(tags))} allocated, 0 duplicates, "
            f"{len(blocked)} waiting for stock, {len(alerts)} shortage alert(s)"
        )
    finally:
        store.dispose()


RETURN = """id: give_back
name: Laptops back
steps:
  - id: asset_return
    kind: manual
    for_each: "${{ site.pools.laptops | selectattr('status', 'in', ['allocated', 'handed_over']) | list }}"
    as: laptop
    key: "${{ laptop.asset_tag }}"
    name: "Laptop ${{ laptop.asset_tag }} back in the store room"
    owner: team:it
    returns: laptops
    fields:
      condition: {type: choice, options: [good, damaged, missing], required: true}
"""


def test_a_return_runbook_iterates_the_laptops_handed_out_and_puts_them_back(engine, operator, write_runbook, sites):
    run = engine.start(write_runbook(ALLOC.replace("default: 5", "default: 2")), "east", operator)["id"]
    for task in engine.tasks(run, step="laptop"):
        engine.complete(run, task["id"], operator, fields={"asset": task["outputs"]["asset_tag"]})
    assert engine.pools("east")["pools"]["laptops"]["handed_over"] == 2
    back = engine.start(write_runbook(RETURN, "return.yaml"), "east", operator)["id"]
    items = {t["item"]: t["id"] for t in engine.tasks(back)}
    assert sorted(items) == ["EAST-000", "EAST-001"], "the live stock, not the CSV"
    engine.complete(back, items["EAST-000"], operator, fields={"condition": "good"})
    engine.complete(back, items["EAST-001"], operator, fields={"condition": "damaged"})
    assert engine.pools("east")["pools"]["laptops"] == {"total": 4, "available": 2, "allocated": 0, "handed_over": 0}
    assert [e["detail"]["status"] for e in engine.audit(back)["entries"] if e["action"] == "pool.return"] == [
        "available",
        "damaged",
    ]
