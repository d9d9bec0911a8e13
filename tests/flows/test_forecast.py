"""Forecasts of a running run (flows/forecast.py): each objective's `forecast` and `state` in the
run JSON, narrowing as the run proceeds, `missed` once it can no longer be met, and
`run.completed` naming the objectives it missed."""

from __future__ import annotations

from datetime import datetime

import pytest

from flows.store import utcnow
from tests.support.processes import wait_for

CHAIN = {
    "id": "chain",
    "name": "Chain",
    "version": 1,
    "objectives": [{"id": "finished", "name": "Finished", "count": "d", "target": 1, "within": "12h"}],
    "steps": [
        {"id": "a", "kind": "manual", "owner": "role:manager", "estimate": "2h"},
        {"id": "b", "kind": "manual", "owner": "role:manager", "estimate": "2h", "needs": ["a"]},
        {"id": "c", "kind": "manual", "owner": "role:manager", "estimate": "2h", "needs": ["b"]},
        {"id": "d", "kind": "manual", "owner": "role:manager", "estimate": "2h", "needs": ["c"]},
    ],
}


@pytest.fixture(autouse=True)
def every_change(monkeypatch):
    """Each read after a change simulates again (by default a run is simulated at most every 5 s)."""
    monkeypatch.setenv("RUNBOOK_FORECAST_MIN_AGE", "0")


def _objective(engine, run):
    return engine.run(run)["objectives"][0]


def _spread(o) -> float:
    f = o["forecast"]
    return (datetime.fromisoformat(f["p90"]) - datetime.fromisoformat(f["p50"])).total_seconds()


def test_the_forecast_narrows_as_the_run_proceeds(engine, operator, write_runbook):
    run = engine.start(write_runbook(CHAIN), "lab", operator)["id"]
    first = _objective(engine, run)
    assert set(first["forecast"]) == {"p50", "p90", "probability"}
    assert first["forecast"]["p50"] <= first["forecast"]["p90"]
    assert first["state"] == "on_track" and first["forecast"]["probability"] >= 0.8
    assert "eta" not in first and "on_track" not in first
    spreads = [_spread(first)]
    for task in ("a", "b", "c"):
        engine.complete(run, task, operator)
        o = _objective(engine, run)
        assert o["forecast"]["p50"] <= o["forecast"]["p90"]
        spreads.append(_spread(o))
    assert spreads == sorted(spreads, reverse=True) and spreads[-1] < 0.6 * spreads[0], spreads
    engine.complete(run, "d", operator)
    done = _objective(engine, run)
    assert done["state"] == "met" and done["forecast"]["probability"] == 1.0


def test_an_objective_that_nothing_left_can_reach_is_missed_while_the_run_runs(engine, operator, write_runbook):
    other = {"id": "e", "kind": "manual", "owner": "role:manager", "estimate": "1h"}
    run = engine.start(write_runbook({**CHAIN, "steps": [*CHAIN["steps"], other]}), "lab", operator)["id"]
    engine.skip(run, "a", operator, reason="not needed in this exercise")  # b, c, d are skipped with it
    o = _objective(engine, run)
    assert engine.run(run)["state"] == "running"
    assert o["state"] == "missed" and o["forecast"]["probability"] == 0.0 and o["forecast"]["p50"] is None


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "36000")  # 12 h pass in 1.2 s


def test_a_run_completing_after_a_deadline_says_which_objective_it_missed(engine, operator, write_runbook, fast):
    run = engine.start(write_runbook(CHAIN), "lab", operator)["id"]
    deadline = datetime.fromisoformat(_objective(engine, run)["deadline"])
    wait_for(lambda: utcnow() > deadline, timeout=60)
    assert _objective(engine, run)["state"] == "missed"
    for task in ("a", "b", "c", "d"):
        engine.complete(run, task, operator)
    with engine.store.read() as r:
        completed = r.events_named(run, "run.completed")
    assert [e["data"]["missed"] for e in completed] == [["finished"]]
    assert _objective(engine, run)["state"] == "missed", "reached, but after its deadline"
