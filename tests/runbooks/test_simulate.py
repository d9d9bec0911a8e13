"""The simulation before a run (`runbook plan --simulate`): fixed-length steps give the one
possible answer, the spread of estimates gives probabilities that follow the critical path,
P50 never after P90, and the what-ifs change what they name."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from runbooks.plan import load_plan
from runbooks.simulate import Answers, Model, ObjectiveModel, StepModel, simulate, summary
from runbooks.simulate_plan import AssumptionError, parse_assumptions, simulate_plan
from tests.support.processes import RUNBOOK

H = 3600


def chain(write_runbook, steps, objectives):
    return {"id": "rb", "name": "rb", "version": 1, "objectives": objectives, "steps": steps}


def test_fixed_length_steps_give_the_deterministic_answer(write_runbook, xian):
    path = write_runbook(
        {
            "id": "waits",
            "name": "Waits",
            "version": 1,
            "objectives": [
                {"id": "in_time", "name": "In time", "count": "c", "target": 1, "within": "3h"},
                {"id": "too_soon", "name": "Too soon", "count": "c", "target": 1, "within": "2h"},
            ],
            "steps": [
                {"id": "a", "kind": "wait", "for": "1h"},
                {"id": "b", "kind": "wait", "for": "1h", "needs": ["a"]},
                {"id": "c", "kind": "wait", "for": "30m", "needs": ["b"]},
            ],
        }
    )
    result = simulate_plan(load_plan(path, xian), trials=200)
    forecasts = {o["id"]: o["forecast"] for o in result["objectives"]}
    assert forecasts["in_time"] == {"p50": 2.5 * H, "p90": 2.5 * H, "probability": 1.0}
    assert forecasts["too_soon"] == {"p50": 2.5 * H, "p90": 2.5 * H, "probability": 0.0}


def test_a_two_hour_critical_path_is_likely_within_100_hours_and_unlikely_within_one(write_runbook, xian):
    path = write_runbook(
        {
            "id": "two_hours",
            "name": "Two hours",
            "version": 1,
            "objectives": [
                {"id": "generous", "name": "Generous", "count": "approve", "target": 1, "within": "100h"},
                {"id": "tight", "name": "Tight", "count": "approve", "target": 1, "within": "1h"},
            ],
            "steps": [
                {"id": "prepare", "kind": "manual", "owner": "role:manager", "estimate": "1h"},
                {"id": "check", "kind": "manual", "owner": "role:manager", "estimate": "30m", "needs": ["prepare"]},
                {"id": "side", "kind": "manual", "owner": "role:manager", "estimate": "20m"},
                {
                    "id": "approve",
                    "kind": "approval",
                    "owner": "role:manager",
                    "estimate": "30m",
                    "needs": ["check", "side"],
                },
            ],
        }
    )
    result = simulate_plan(load_plan(path, xian))
    forecasts = {o["id"]: o["forecast"] for o in result["objectives"]}
    assert forecasts["generous"]["probability"] >= 0.95
    assert forecasts["tight"]["probability"] <= 0.05
    assert 1.5 * H < forecasts["generous"]["p50"] < 2.5 * H, "the median near the critical path's 2 h"


@pytest.mark.parametrize("seed", range(8))
def test_p50_is_never_after_p90(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    steps = [
        StepModel(
            "a",
            "manual",
            float(rng.uniform(60, 7200)),
            float(rng.uniform(0, 1.5)),
            collection="x",
            team="t",
            done=np.full(n, np.nan),
            ended=np.full(n, np.nan),
            started=np.full(n, np.nan),
            holds=np.zeros(n, bool),
        ),
        StepModel(
            "b",
            "manual",
            float(rng.uniform(60, 7200)),
            float(rng.uniform(0, 1.5)),
            collection="x",
            item_needs=("a",),
            done=np.full(n, np.nan),
            ended=np.full(n, np.nan),
            started=np.full(n, np.nan),
            holds=np.zeros(n, bool),
        ),
    ]
    objectives = [ObjectiveModel(f"o{k}", 10 * H, "count", "b", target=float(k)) for k in range(1, n + 1)]
    model = Model(0.0, steps, objectives, {"x": None}, {"t": int(rng.integers(1, 4))})
    for o, times in simulate(model, 300, seed).items():
        s = summary(times, 10 * H)
        assert s["p50"] is not None and s["p90"] is not None
        assert s["p50"] <= s["p90"], o


def test_what_ifs_change_what_they_name(xian):
    from runbooks.library import find_runbook

    plan = load_plan(find_runbook("callcenter_lockdown"), xian)
    short = simulate_plan(plan, parse_assumptions({"answers.home": "0.5"}, plan), trials=300)
    stocked = simulate_plan(plan, parse_assumptions({"answers.home": "0.5", "pool.laptops": "60"}, plan), trials=300)
    live = {
        r["assume"].get("pool.laptops"): next(o for o in r["objectives"] if o["id"] == "agents_live")
        for r in (short, stocked)
    }
    # 40 laptops for 48 agents: never without a restock; with 60 most trials make it
    assert live[None]["forecast"]["probability"] == 0.0 and live[None]["forecast"]["p50"] is None
    assert live[60.0]["forecast"]["probability"] > 0.5
    more_trainers = simulate_plan(  # and more IT leads: the laptop hand-overs queue at two
        plan,
        parse_assumptions({"answers.home": "0.5", "pool.laptops": "60", "team.training": "6", "team.it": "6"}, plan),
        trials=300,
    )
    p50 = {
        id(r): next(o for o in r["objectives"] if o["id"] == "agents_live")["forecast"]["p50"]
        for r in (stocked, more_trainers)
    }
    assert p50[id(more_trainers)] < p50[id(stocked)], "more leads check off sooner"


def test_a_what_if_naming_nothing_is_refused_with_what_exists(xian):
    from runbooks.library import find_runbook

    plan = load_plan(find_runbook("callcenter_lockdown"), xian)
    with pytest.raises(AssumptionError) as e:
        parse_assumptions({"team.itt": "5", "answers.home": "2", "pool.laptops": "-1"}, plan)
    assert "no team 'itt' (known: it, " in str(e.value)
    assert "answers.home=2: a share from 0 to 1" in str(e.value)
    assert "pool.laptops=-1: a whole number" in str(e.value)


def test_answers_not_in_arrive_with_their_share():
    answers = Answers("m", np.zeros(0), 1000, 0.5)
    steps = [StepModel("m", "muster", 3600.0, 0.0, fixed=True)]
    model = Model(0.0, steps, [ObjectiveModel("half", 7200, "ratio", "m", 0.4, answers, 1000)])
    times = simulate(model, 200, 1)["half"]
    assert np.isfinite(times).all() and (times <= 3600).all(), "47.5% answer by the close: 40% is reached"


def test_the_cli_prints_the_forecast_and_exits_2_on_a_bad_what_if():
    cmd = [RUNBOOK, "plan", "callcenter_lockdown", "--site", "xian", "--simulate"]
    ok = subprocess.run(
        [*cmd, "--trials", "200", "--assume", "answers.home=0.5", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["trials"] == 200 and data["assume"] == {"answers.home": 0.5}
    assert {o["id"] for o in data["objectives"]} == {"agents_live", "accounted", "effective", "hotline_covered"}
    assert all(set(o["forecast"]) == {"p50", "p90", "probability"} for o in data["objectives"])
    text = subprocess.run([*cmd, "--trials", "200"], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "accounted (Staff accounted for, 0.9): P50 " in text.stdout
    bad = subprocess.run([*cmd, "--assume", "team.nope=1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no team 'nope'" in bad.stderr
    lone = subprocess.run(cmd[:-1] + ["--assume", "team.it=1"], capture_output=True, text=True, timeout=120)
    assert lone.returncode == 2 and "--assume needs --simulate" in lone.stderr
