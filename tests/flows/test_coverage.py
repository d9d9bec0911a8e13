"""7x24 coverage in the store: the desk site's baseline with no run, a run's supply (people
ticked on site, agents going live), the coverage objective measured only on the runner's look at
the clock, a step waiting for it, and `coverage.gap` once per gap."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest

from flows import work
from flows.errors import Invalid, NotFound
from flows.store import utcnow

AGENTS = [f"D{i:04d}" for i in range(11, 31)]
COVER = f"""id: desk_cover
name: Keep the phones staffed
objectives:
  - {{id: covered, name: Phones staffed, coverage: phones, target: 1.0, horizon: 24h, within: 24h}}
notify:
  - {{on: [coverage.gap], to: [channel:console]}}
steps:
  - id: onsite
    kind: manual
    owner: team:ops
    fields:
      people: {{type: people, required: true, options: "${{{{ site.staff }}}}"}}
  - id: experts
    kind: manual
    owner: team:seniors
    fields:
      people: {{type: people, required: true}}
  - id: go_live
    kind: approval
    for_each: {AGENTS}
    owner: role:manager
  - id: confirm
    kind: manual
    needs: [onsite, "objective:covered"]
    owner: team:ops
"""
MONDAY_9 = dt.datetime(2030, 1, 7, 9, 0, tzinfo=dt.UTC)  # London is on UTC in January


def test_a_site_without_a_run_counts_its_baseline_and_a_surge_date_overrides_its_week(engine):
    data = engine.coverage("desk", hours=24, now=MONDAY_9 + timedelta(minutes=10))
    assert (data["site"], data["queue"], data["run"], data["baseline"]) == ("desk", "phones", None, True)
    rows = data["intervals"]
    assert len(rows) == 48
    first = rows[0]
    assert first["start"] == "2030-01-07T09:00:00Z" and first["local"] == "2030-01-07T09:00:00+00:00"
    assert first["calls"] == 200  # surge.csv: that date, that interval
    assert rows[1]["calls"] == 100 and rows[1]["required"] == 20
    assert rows[1]["staffed"] == {"onsite": 25, "home": 0, "lent_in": 0, "lent_out": 0, "total": 25}
    afternoon = next(r for r in rows if r["local"].startswith("2030-01-07T12:00"))
    assert afternoon["staffed"]["total"] == 18 and afternoon["gap"] == 2
    assert 0 < afternoon["service_level"] < 0.8
    assert rows[1]["service_level"] >= 0.8


def test_local_times_carry_the_sites_offset_in_summer(engine):
    data = engine.coverage("desk", hours=1, now=dt.datetime(2030, 7, 1, 8, 5, tzinfo=dt.UTC))
    assert data["intervals"][0]["start"] == "2030-07-01T08:00:00Z"
    assert data["intervals"][0]["local"] == "2030-07-01T09:00:00+01:00"


def test_a_site_directory_works_like_its_id_and_unknown_names_say_what_exists(engine, lab_env):
    from tests.flows.conftest import HERE

    by_dir = engine.coverage(str(HERE / "sites" / "desk"), hours=2, now=MONDAY_9)
    assert by_dir["site"] == "desk"
    with pytest.raises(NotFound, match='no queue "phone".*phones, experts'):
        engine.coverage("desk", queue="phone")
    with pytest.raises(NotFound, match="has no service"):
        engine.coverage("lab")
    with pytest.raises(Invalid, match="hours"):
        engine.coverage("desk", hours=0)


def test_supply_moves_with_the_run_the_objective_waits_for_the_runner_and_gaps_are_told_once(
    engine, operator, store, write_runbook
):
    run = engine.start(write_runbook(COVER), "desk", operator)["id"]
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-c", utcnow() + timedelta(seconds=120), utcnow())
    empty = engine.coverage("desk", hours=24)
    assert empty["run"] == run and not empty["baseline"] and empty["covered"] == 0.0
    assert {r["gap"] for r in empty["intervals"]} == {20}

    work.claim(store, run, "runner-c")
    work.claim(store, run, "runner-c")
    with store.read() as r:
        gaps = r.events_named(run, "coverage.gap")
        told = [m for m in r.outbox(run_id=run) if m["event"] == "coverage.gap"]
    assert len(gaps) == 1 and len(told) == 1  # one gap (the whole day), told once
    assert gaps[0]["data"]["queue"] == "phones" and len(gaps[0]["data"]["intervals"]) == 48
    assert gaps[0]["data"]["text"].endswith(": 0 staffed, 20 required")
    message = told[0]["message"]
    assert message["subject"] == "Coverage gap: Phone line"
    assert gaps[0]["data"]["text"] in message["text"] and "48 short intervals in a row" in message["text"]

    # A people field: staff ids among its options, or one error naming the field.
    with pytest.raises(Invalid, match=r'field "people": not among the people this field lists: Z9999'):
        engine.complete(run, "onsite", operator, fields={"people": ["D0002", "Z9999"]})
    engine.complete(run, "onsite", operator, fields={"people": "D0002,D0003,D0004,D0005,D0006,D0007"})
    engine.complete(run, "experts", operator, fields={"people": ["D0031", "D0032"]})
    for agent in AGENTS[:13]:
        engine.approve(run, f"go_live:{agent}", operator)
    now = engine.coverage("desk", hours=24)
    assert now["intervals"][0]["staffed"] == {"onsite": 6, "home": 13, "lent_in": 0, "lent_out": 0, "total": 19}
    assert now["covered"] == 0.0
    experts = engine.coverage("desk", queue="experts", hours=24)
    assert experts["intervals"][0]["calls"] == 26  # 13 live agents × 2 questions an hour
    assert experts["intervals"][0]["staffed"]["onsite"] == 2

    engine.approve(run, f"go_live:{AGENTS[13]}", operator)  # the 20th person: covered everywhere
    assert engine.coverage("desk", hours=24)["covered"] == 1.0
    with store.read() as r:  # a check-off never measures coverage: the objective waits for the runner
        assert "covered" not in r.objectives_met(run)
        assert r.task(run, "confirm")["state"] == "pending"
    work.claim(store, run, "runner-c")
    with store.read() as r:
        assert "covered" in r.objectives_met(run)
        assert r.task(run, "confirm")["state"] == "waiting"
        assert [e["data"]["objective"] for e in r.events_named(run, "objective.reached")] == ["covered"]
        told = [e["data"]["queue"] for e in r.events_named(run, "coverage.gap")]
    # The phones' gap is not told again as it shrinks; the expert line, short of its 7, is a new one.
    assert told == ["phones", "experts"]
    objective = next(o for o in engine.run(run)["objectives"] if o["id"] == "covered")
    assert objective["met"] and objective["value"] == 1.0
    # Its burn-up on the board: what the staffing of each moment covered, from nothing to all.
    board = next(o for o in engine.compute_board(run)["objectives"] if o["id"] == "covered")
    values = [v for _, v in board["series"]]
    assert board["measure"] == "coverage" and values[0] == 0.0 and values[-1] == 1.0
    assert values == sorted(values), "staffing only grew"
