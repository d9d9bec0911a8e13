"""A shift plan solved by the runner of `runbook serve`, through Prefect: the `shifts` task runs
as a task run in the runner's background (the check-off that released it returned at once) and
its plan is written when the result is recorded."""

from __future__ import annotations

from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.flows.test_runner import serve_env  # noqa: F401 (the fixture)
from tests.flows.test_shifts import AGENTS, check_rules, rota
from tests.support.processes import Serve, wait_for


def test_the_runner_solves_a_shift_plan_through_prefect(serve_env, lab_env, write_runbook):  # noqa: F811
    text = rota().replace("days: 7", "days: 2").replace("time_limit: 8s", "time_limit: 3s")
    path = write_runbook(text)
    serve = Serve(serve_env, lab_env / "serve.log").start()
    store = Store()
    engine = Engine(store)
    try:
        run = engine.start(path, "roster", local_operator())["id"]
        engine.complete(run, "live", local_operator(), fields={"people": AGENTS[:40]})
        wait_for(
            lambda: next(t for t in engine.tasks(run) if t["step"] == "plan")["state"] == "done",
            120,
            what="the runner to solve the shift plan",
        )
        shifts = engine.shifts(run)
        assert shifts
        check_rules(shifts, set(AGENTS))
        plan = next(t for t in engine.tasks(run) if t["step"] == "plan")
        assert plan["outputs"]["status"] in ("optimal", "feasible", "greedy") and plan["outputs"]["short"] == 0
    finally:
        serve.stop()
        store.dispose()
