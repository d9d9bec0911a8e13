"""Drills that touch nothing real: a drill lockdown of xian works on a sandbox copy of the stock
of the sites it touches (allocations, hand-overs, a restock from beijing, the stand-down's
returns), the stand-down sees it, and it ends with the stand-down: every pool of xian and
beijing is then exactly as before. A restock needs a reason; a real lockdown declared during
the drill starts the real runbooks."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from flows.errors import Conflict, Invalid
from flows.store.schema import pool_items
from tests.support.forecasts import forecast_after_change

HOME = [f"X{i:04d}" for i in range(3, 51)]  # 48 home agents: 40 laptops in xian, 8 short


def _rows(store, site: str) -> list[tuple]:
    with store.read() as r:
        rows = r.conn.execute(select(pool_items).where(pool_items.c.site_id == site)).all()
    return sorted((x.pool_id, x.item_key, x.status, x.run_id, x.task_id, x.at, str(x.data)) for x in rows)


def _sandboxes(store) -> list[str]:
    with store.read() as r:
        return sorted({x for (x,) in r.conn.execute(select(pool_items.c.site_id)) if "~" in x})


def _live(engine, run):
    """agents_live as forecast after the run's latest change (the forecaster catches up)."""
    objectives = forecast_after_change(engine.store, run, lambda: engine.run(run)["objectives"])
    return next(o for o in objectives if o["id"] == "agents_live")


def _laptop_tasks(engine, run, state):
    return [t for t in engine.tasks(run, step="laptop") if t["state"] == state]


def test_a_drill_from_lockdown_to_stand_down_leaves_every_real_pool_as_it_was(engine, operator, forecaster):
    store = engine.store
    # real stock moved before the drill: the store holds real rows for both sites
    engine.restock("xian", "laptops", operator, from_site="beijing", count=2, reason="real loan before the drill")
    before = {site: (_rows(store, site), engine.pools(site)) for site in ("xian", "beijing")}
    assert before["xian"][1]["pools"]["laptops"]["available"] == 42

    runs, created = engine.lockdown("xian", operator, drill=True)
    assert created and [r["runbook"] for r in runs] == ["callcenter_lockdown"] and runs[0]["drill"]
    drill = runs[0]["id"]
    for person in HOME:
        engine.answer(drill, "roll_call", person, "home", operator)
    waiting = _laptop_tasks(engine, drill, "waiting")
    assert len(waiting) == 42 and len(_laptop_tasks(engine, drill, "ready")) == 6  # 6 wait for stock
    for task in waiting[:20]:  # the IT lead hands over twenty laptops
        engine.complete(drill, task["id"], operator, fields={"asset": task["outputs"]["asset_tag"]})
    assert engine.pools("xian", drill=True)["pools"]["laptops"]["handed_over"] == 20
    assert engine.pools("xian") == before["xian"][1], "the real pool did not move"
    live = _live(engine, drill)
    assert live["forecast"]["probability"] == 0.0 and live["state"] == "at_risk", "6 wait for the drill's stock"

    with pytest.raises(Invalid, match="a restock needs a reason"):
        engine.restock("xian", "laptops", operator, from_site="beijing", count=6)
    moved = engine.restock("xian", "laptops", operator, from_site="beijing", count=6, reason="drill: Beijing lends six")
    assert moved["served"] == 6 and moved["drill"] is True
    assert len(_laptop_tasks(engine, drill, "waiting")) == 28
    live = _live(engine, drill)
    assert live["forecast"]["probability"] > 0.5 and live["forecast"]["p50"] <= live["forecast"]["p90"]
    assert (
        engine.pools("beijing", drill=True)["pools"]["laptops"]["available"]
        == before["beijing"][1]["pools"]["laptops"]["available"] - 6
    )
    assert {s: _rows(store, s) for s in ("xian", "beijing")} == {s: before[s][0] for s in ("xian", "beijing")}

    real, created = engine.lockdown("xian", operator)  # a real lockdown during the drill: real runbooks start
    assert created and [r["drill"] for r in real] == [False] and real[0]["id"] != drill
    again, created = engine.lockdown("xian", operator, drill=True)
    assert not created and [r["id"] for r in again] == [drill], "a repeated drill lockdown returns the drill's runs"

    standdown = engine.standdown("xian", operator, drill=True)
    assert [(r["runbook"], r["drill"]) for r in standdown] == [("site_reopening", True)]
    reopening = standdown[0]["id"]
    returns = engine.tasks(reopening, step="asset_return")
    assert len(returns) == 48, "the stand-down sees the drill's laptops: 20 handed over, 28 allocated"
    for task in returns[:30]:
        engine.complete(reopening, task["id"], operator, fields={"condition": "good"})
    assert engine.pools("xian", drill=True)["pools"]["laptops"]["available"] == 30, "48 held, 30 back"
    assert _sandboxes(store), "the sandbox lives while the drill's runs run"
    engine.cancel(drill, operator, reason="drill over")
    engine.cancel(reopening, operator, reason="drill over")
    assert _sandboxes(store) == [], "the sandbox ended with the stand-down"

    engine.cancel(real[0]["id"], operator, reason="test over")
    for site in ("xian", "beijing"):
        assert (_rows(store, site), engine.pools(site)) == before[site], site
    with pytest.raises(Conflict, match="not in a drill lockdown"):
        engine.standdown("xian", operator, drill=True)


def test_a_drill_started_alone_has_its_own_sandbox_that_ends_with_it(engine, operator):
    store = engine.store
    run = engine.start("callcenter_lockdown", "xian", operator, drill=True)["id"]
    for person in HOME[:5]:
        engine.answer(run, "roll_call", person, "home", operator)
    assert len(_laptop_tasks(engine, run, "waiting")) == 5
    assert _sandboxes(store) == [f"xian~{run}"] and _rows(store, "xian") == []
    engine.cancel(run, operator, reason="drill over")
    assert _sandboxes(store) == [] and engine.pools("xian")["pools"]["laptops"]["available"] == 40
