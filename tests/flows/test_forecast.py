"""Forecasts of a running run (flows/forecast.py, computed by flows/forecaster.py in the
background): each objective's `forecast` and `state` in the run JSON, narrowing as the run
proceeds, `missed` once it can no longer be met, and `run.completed` naming the objectives it
missed; `pending` before the first forecast, readers never simulating, and a burst of
check-offs costing few simulations whose last reflects the last change."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from flows.forecaster import GAP
from flows.store import utcnow
from tests.support.forecasts import forecast_after_change
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


def _objective(engine, run):
    """The objective as forecast after the run's latest change (the forecaster catches up)."""
    return forecast_after_change(engine.store, run, lambda: engine.run(run)["objectives"])[0]


def _spread(o) -> float:
    f = o["forecast"]
    return (datetime.fromisoformat(f["p90"]) - datetime.fromisoformat(f["p50"])).total_seconds()


def test_the_forecast_narrows_as_the_run_proceeds(engine, operator, write_runbook, forecaster):
    run = engine.start(write_runbook(CHAIN), "lab", operator)["id"]
    first = _objective(engine, run)
    assert set(first["forecast"]) == {"p50", "p90", "probability", "as_of", "computed_at"}
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


def test_an_objective_that_nothing_left_can_reach_is_missed_while_the_run_runs(
    engine, operator, write_runbook, forecaster
):
    other = {"id": "e", "kind": "manual", "owner": "role:manager", "estimate": "1h"}
    run = engine.start(write_runbook({**CHAIN, "steps": [*CHAIN["steps"], other]}), "lab", operator)["id"]
    engine.skip(run, "a", operator, reason="not needed in this exercise")  # b, c, d are skipped with it
    o = _objective(engine, run)
    assert engine.run(run)["state"] == "running"
    assert o["state"] == "missed" and o["forecast"]["probability"] == 0.0 and o["forecast"]["p50"] is None


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "36000")  # 12 h pass in 1.2 s


def test_a_run_completing_after_a_deadline_says_which_objective_it_missed(
    engine, operator, write_runbook, fast, forecaster
):
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


FAN = {
    "id": "fan",
    "name": "Fan",
    "version": 1,
    "objectives": [{"id": "all_done", "name": "All done", "count": "work", "target": 40, "within": "48h"}],
    "steps": [
        {
            "id": "work",
            "kind": "manual",
            "owner": "role:manager",
            "estimate": "4h",
            "for_each": [f"W{i:02d}" for i in range(40)],
            "key": "${{ item }}",
        },
    ],
}


def test_a_run_read_before_its_first_forecast_is_pending_and_no_reader_simulates(
    engine, operator, write_runbook, monkeypatch
):
    from flows import forecast
    from flows.forecaster import Forecaster

    calls = []
    real = forecast.simulate
    monkeypatch.setattr(forecast, "simulate", lambda *a, **k: calls.append("sim") or real(*a, **k))
    run = engine.start(write_runbook(CHAIN), "lab", operator)["id"]
    engine.complete(run, "a", operator)
    first = engine.run(run)["objectives"][0]
    assert (first["forecast"], first["state"]) == (None, "pending"), "no forecaster ran: nothing to show yet"
    assert [o["state"] for o in engine.board(run)["objectives"]] == ["pending"]
    assert engine.overview()["sites"] and calls == [], "the run JSON, the board and the overview read, never simulate"

    forecaster = Forecaster(engine.store).start()
    try:
        o = _objective(engine, run)
    finally:
        forecaster.stop()
    assert o["state"] == "on_track" and calls, "the forecaster simulated it"
    seen = len(calls)
    board = engine.board(run)
    assert board["objectives"][0]["forecast"]["as_of"] == o["forecast"]["as_of"], "the board shows the stored one"
    assert engine.run(run)["objectives"][0]["forecast"] == o["forecast"] and len(calls) == seen


def test_a_burst_of_check_offs_costs_few_simulations_and_the_last_reflects_the_last_change(
    engine, operator, write_runbook, forecaster
):
    run = engine.start(write_runbook(FAN), "lab", operator)["id"]
    tasks = [t["id"] for t in engine.tasks(run, step="work")]
    assert len(tasks) == 40
    before = _objective(engine, run)
    assert before["value"] == 0
    simulated, began = forecaster.simulations, time.monotonic()
    for task in tasks[:-1]:  # every item but one checked off, one after the other
        engine.complete(run, task, operator)
    after = _objective(engine, run)
    burst, took = forecaster.simulations - simulated, time.monotonic() - began
    # one simulation of a run per GAP at most, whatever the load: a slower burst costs no more
    # per second (and at full speed, 39 check-offs take well under a second here)
    assert 1 <= burst <= took / GAP + 2, f"{len(tasks) - 1} check-offs in {took:.1f} s cost {burst} simulations"
    with engine.store.read() as r:
        assert after["forecast"]["as_of"] == r.last_event_seq(run), "the forecast reflects the last check-off"
        stored = r.forecast(run)
    assert stored["busy_by"] is None and stored["trials"] == 1000
    assert after["value"] == len(tasks) - 1
    # one item left of 4 h: half the trials finish it within about 4 h, far sooner than all of them
    assert after["forecast"]["p50"] < before["forecast"]["p50"]
    assert datetime.fromisoformat(after["forecast"]["p50"]) - utcnow() < timedelta(hours=12)


def test_one_simulation_of_a_run_is_in_flight_across_processes_sharing_the_store(engine, operator, write_runbook):
    """Two serving processes' forecasters (one store, as replicas on PostgreSQL): the run's
    claim is one's until stored or expired, and a stored forecast ends it."""
    run = engine.start(write_runbook(CHAIN), "lab", operator)["id"]
    now = utcnow()
    with engine.store.transaction() as tx:
        assert tx.claim_forecast(run, "a", now, now + timedelta(seconds=60))
        assert not tx.claim_forecast(run, "b", now, now + timedelta(seconds=60)), "a's simulation is in flight"
        assert not tx.put_forecast(run, "b", 5, {}, 1000, now), "b holds no claim: its result is dropped"
    with engine.store.read() as r:
        (state,) = [s for s in r.forecast_states() if s["id"] == run]
    assert state["busy_by"] == "a" and state["as_of"] == -1
    later = now + timedelta(seconds=61)
    with engine.store.transaction() as tx:
        assert tx.claim_forecast(run, "b", later, later + timedelta(seconds=60)), "a's claim expired (a died)"
        assert not tx.put_forecast(run, "a", 4, {}, 1000, later), "a came back too late: b's result will stand"
        assert tx.put_forecast(run, "b", 5, {"finished": {"p50": None}}, 1000, later)
        assert tx.claim_forecast(run, "a", later, later + timedelta(seconds=60)), "stored: free again"
    with engine.store.read() as r:
        assert r.forecast(run)["seq"] == 5 and r.forecast_stamp(run) == (5, later)
