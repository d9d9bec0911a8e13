"""One definition of progress (flows/progress.py) in every view: a run with done, open, failed
(rejected), skipped and cancelled work shows the same numbers in the run JSON of the API and of
`runbook status --format json`, the overview, the board's phases and steps."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from console.cli import app
from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.progress import progress

PIPELINE = """id: pipeline
name: Per-person pipeline
steps:
  - {id: roll, kind: muster, owner: team:operations, audience: [L0002, L0003, L0010, L0011, L0020],
     question: Where?, options: {home: From home, away: Cannot work}}
  - {id: kit, kind: manual, for_each: "${{ steps.roll.answers.home }}", as: agent, owner: team:it, phase: agents}
  - {id: go, kind: approval, for_each: "${{ steps.roll.answers.home }}", as: agent, needs: [kit],
     owner: role:manager, allow_self: true, phase: agents}
"""


def test_every_view_counts_skipped_cancelled_and_failed_work_the_same_way(api, tmp_path):
    (tmp_path / "library" / "pipeline.yaml").write_text(PIPELINE)
    run = api.start("pipeline")
    engine, me = Engine(api.store), local_operator()
    for person in ("L0002", "L0003", "L0011", "L0020"):
        engine.answer(run, "roll", person, "home", me)
    engine.answer(run, "roll", "L0020", "away", me)  # changed their mind: kit and go cancelled
    engine.complete(run, "kit:L0002", me)
    engine.reject(run, "go:L0002", me, reason="no headset")  # rejected counts as failed
    engine.complete(run, "kit:L0003", me)
    engine.approve(run, "go:L0003", me)
    engine.skip(run, "kit:L0011", me, reason="works on site after all")  # go:L0011 skipped too

    expected = {"done": 3, "remaining": 1, "failed": 1, "skipped": 2, "cancelled": 2, "percent": 60.0}
    api_run = api.call("viewer", "GET", f"/api/runs/{run}").json()
    assert api_run["progress"] == expected
    cli = CliRunner().invoke(app, ["status", run, "--format", "json"])
    assert cli.exit_code == 0, cli.output
    assert json.loads(cli.output)["progress"] == expected
    overview = api.call("viewer", "GET", "/api/overview").json()
    assert [r["progress"] for s in overview["sites"] for r in s["runs"] if r["id"] == run] == [expected]
    board = api.call("viewer", "GET", f"/api/runs/{run}/board").json()
    assert board["run"]["progress"] == expected
    steps = {s["id"]: s for p in board["phases"] for s in p["steps"]}
    assert steps["kit"]["progress"] == {
        "done": 2,
        "remaining": 0,
        "failed": 0,
        "skipped": 1,
        "cancelled": 1,
        "percent": 100.0,
    }
    assert steps["go"]["progress"] == {
        "done": 1,
        "remaining": 0,
        "failed": 1,
        "skipped": 1,
        "cancelled": 1,
        "percent": 50.0,
    }
    agents = next(p for p in board["phases"] if p["id"] == "agents")
    assert agents["progress"] == {"done": 3, "remaining": 0, "failed": 1, "skipped": 2, "cancelled": 2, "percent": 75.0}
    for step_id, counts in api_run["steps"].items():  # the run JSON's steps agree with the board's
        assert progress(counts) == steps.get(step_id, {"progress": progress(counts)})["progress"]


def test_nothing_that_counts_gives_no_percent():
    assert progress({"skipped": 3, "cancelled": 1})["percent"] is None
    assert progress({})["percent"] is None
    assert progress({"done": 1, "failed": 1, "rejected": 2})["percent"] == 25.0
