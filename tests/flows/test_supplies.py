"""Supplies as a consumable pool: check-offs draw quantities; a level under its `min` alerts the
owner and the managers once; a draw beyond the level is refused and takes nothing; a restock
(a CSV, or moved from another site) brings the level back and re-arms the alert."""

from __future__ import annotations

import pytest

from flows.errors import Conflict
from tests.conftest import LAB
from tests.flows.test_grants import told

RUNBOOK = LAB / "library" / "supplies.yaml"


def levels(engine) -> dict[str, int]:
    return {k: v["quantity"] for k, v in engine.pools("camp")["pools"]["supplies"]["levels"].items()}


def test_draws_take_quantities_alert_once_under_min_and_a_restock_brings_them_back(engine, store, operator):
    assert levels(engine) == {"masks": 50, "meals": 30, "test_kits": 5}
    run = engine.start(RUNBOOK, "camp", operator)["id"]
    done = engine.complete(run, "day1", operator)
    assert done["task"]["outputs"]["drawn"] == {"supplies": {"masks": 25, "meals": 28}}
    assert levels(engine) == {"masks": 25, "meals": 2, "test_kits": 5}
    (low,) = told(store, run, "pool.low")  # meals 2 < 10; masks 25 is not under 20
    assert (low["recipient"], low["message"]["subject"]) == ("person:C0001", "Running low: meals (supplies)")
    engine.complete(run, "day2", operator)
    assert levels(engine)["masks"] == 20 and len(told(store, run, "pool.low")) == 1, "20 is not under 20"
    with pytest.raises(Conflict, match="pool supplies has 20 masks, 25 needed"):
        engine.complete(run, "day3", operator)
    assert levels(engine)["masks"] == 20 and engine.tasks(run, step="day3")[0]["state"] == "waiting"
    added = engine.restock("camp", "supplies", operator, rows=[{"item": "masks", "quantity": "10"}], reason="branch")
    assert added["quantities"] == {"masks": 10} and levels(engine)["masks"] == 30
    engine.complete(run, "day3", operator)
    assert levels(engine)["masks"] == 5
    lows = [m["message"]["subject"] for m in told(store, run, "pool.low")]
    assert lows == ["Running low: meals (supplies)", "Running low: masks (supplies)"], "each item alerted once"
