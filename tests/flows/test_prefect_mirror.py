"""Runbooks in Prefect, against the test session's real Prefect server: a starter deployment
per runbook with its inputs as the run form, a run started from it, every task a task run of
the attempt's flow run with its needs as inputs, human check-offs mirrored within seconds, the
graph in the new flow run after a takeover, progress artifacts, http logs, and engine events
reaching a Prefect automation."""

from __future__ import annotations

import threading
import uuid

import pytest

from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.support.processes import wait_for

DEMO = """\
id: mirror_demo
name: Mirror demo
version: 2
description: Grants for a few agents, then people confirm
inputs:
  agents: {type: integer, default: 2, description: How many agents}
  profile: {type: choice, options: [standard, strict], default: standard}
objectives:
  - {id: live, name: Agents confirmed, count: confirm, target: "${{ inputs.agents }}", within: 1h}
steps:
  - id: open
    kind: manual
    owner: team:it
    phase: prepare
  - id: grant
    kind: http
    for_each: "${{ range(inputs.agents) | list }}"
    needs: [open]
    phase: work
    with: {method: POST, url: "${{ env.IAM_URL }}/grants", json: {profile: "${{ inputs.profile }}"}}
  - id: confirm
    kind: manual
    for_each: "${{ range(inputs.agents) | list }}"
    needs: [grant]
    owner: team:it
    phase: work
  - id: close
    kind: approval
    needs: [confirm]
    owner: role:manager
    phase: finish
"""


@pytest.fixture
def mirror_env(lab_env, recorder, prefect_api, monkeypatch, tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    (library / "mirror_demo.yaml").write_text(DEMO)
    for key, value in {
        "PREFECT_API_URL": prefect_api,
        "RUNBOOK_LIBRARY": str(library),
        "RUNBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{recorder.port}",
        "IAM_URL": recorder.url,
        "RUNBOOK_LEASE_TTL": "3",
        "RUNBOOK_WORKER_NAME": "mirror-w",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("RUNBOOK_PREFECT_CONTROL", raising=False)
    return lab_env


class InlineWorker:
    """`runbook worker --type inline`'s attempt worker in a thread of this process."""

    def __init__(self, pool: str, name: str):
        from flows.attempts import AttemptWorker

        self.worker = AttemptWorker(pool, name)
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop_flag,), daemon=True)

    def __enter__(self) -> InlineWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_flag.set()
        self.worker.wake()
        self.thread.join(60)
        assert not self.thread.is_alive()


def flow_run_state(flow_run_id):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id).state


def task_runs_of(flow_run_id: str) -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[uuid.UUID(flow_run_id)])), limit=200
        )
    return {t.name: t for t in runs}


def graph_of(task_runs: dict[str, object]) -> dict[str, set[str]]:
    """task run name → names of the task runs its `needs` input points to."""
    names = {str(t.id): n for n, t in task_runs.items()}
    return {n: {names.get(str(i.id), "?") for i in t.task_inputs.get("needs", [])} for n, t in task_runs.items()}


def attempt_of(store: Store, run_id: str, not_this: str | None = None) -> str:
    def noted():
        with store.read() as r:
            current = (r.run_head(run_id) or {}).get("prefect_flow_run")
        return current if current and current != not_this and flow_run_state(uuid.UUID(current)).is_running() else None

    return wait_for(noted, 60, interval=0.5, what="the run's current attempt running")


def automation_for(event: str, resource: str = "runbook.run.*") -> str:
    from prefect.client.orchestration import get_client
    from prefect.events.actions import DoNothing
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    with get_client(sync_client=True) as client:
        return str(
            client.create_automation(
                AutomationCore(
                    name=f"test {event} {uuid.uuid4().hex[:6]}",
                    trigger=EventTrigger(
                        expect={event},
                        match={"prefect.resource.id": resource},
                        posture=Posture.Reactive,
                        threshold=1,
                    ),
                    actions=[DoNothing()],
                )
            )
        )


def automation_fired(automation_id: str, at_least: int = 1):
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    with get_client(sync_client=True) as client:
        page = client.read_events(
            EventFilter(
                event=EventNameFilter(name=["prefect.automation.triggered"]),
                resource=EventResourceFilter(id=[f"prefect.automation.{automation_id}"]),
            ),
            limit=50,
        )
    return page.events if len(page.events) >= at_least else None


def test_a_runbook_started_from_its_deployment_shows_its_graph_live_in_prefect(mirror_env, recorder):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterTaskRunId
    from prefect.deployments import run_deployment

    from flows.deploy import submit_attempt
    from flows.starter import START_FLOW, register_all

    pool = f"mirror-{uuid.uuid4().hex[:6]}"
    ids = register_all(pool)
    assert f"{START_FLOW}/mirror_demo" in ids and f"{START_FLOW}/callcenter_lockdown" in ids
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(f"{START_FLOW}/mirror_demo")
    schema = deployment.parameter_openapi_schema
    assert deployment.version == "2" and deployment.description == "Grants for a few agents, then people confirm"
    assert "lab" in schema["properties"]["site"]["enum"] and schema["properties"]["drill"]["default"] is False
    assert schema["properties"]["inputs"]["properties"]["agents"] == {
        "title": "agents",
        "position": 0,
        "type": "integer",
        "default": 2,
        "description": "How many agents",
    }
    assert schema["properties"]["inputs"]["properties"]["profile"]["enum"] == ["standard", "strict"]
    automation = automation_for("runbook.task.done")
    store = Store()
    engine = Engine(store)
    parameters = {"site": "lab", "inputs": {"agents": 3, "profile": "strict"}}
    with InlineWorker(pool, "mirror-w1"):
        # RUNBOOK_PREFECT_CONTROL=cancel (the default) does not let Prefect start runs.
        refused = run_deployment(f"{START_FLOW}/mirror_demo", parameters=parameters, timeout=60)
        assert refused.state.is_failed() and "RUNBOOK_PREFECT_CONTROL=cancel" in refused.state.message
        assert engine.runs() == []

        mirror_env_control = pytest.MonkeyPatch()
        mirror_env_control.setenv("RUNBOOK_PREFECT_CONTROL", "all")
        try:
            starter = run_deployment(f"{START_FLOW}/mirror_demo", parameters=parameters, timeout=60)
            assert starter.state.is_completed(), starter.state.message
            (run,) = [r["id"] for r in engine.runs()]
            assert engine.run(run)["inputs"] == {"agents": 3, "profile": "strict"}
            started = engine.audit(run)["entries"][0]
            assert started["actor"] == f"prefect:{starter.id}"
            first = attempt_of(store, run)
            engine.complete(run, "open", local_operator(), note="room ready")

            expected = {"open", "grant[0]", "grant[1]", "grant[2]", "confirm[0]", "confirm[1]", "confirm[2]", "close"}
            wait_for(lambda: set(task_runs_of(first)) == expected, 30, interval=0.5, what="every task a task run")
            assert graph_of(task_runs_of(first)) == {
                "open": set(),
                **{f"grant[{i}]": {"open"} for i in range(3)},
                **{f"confirm[{i}]": {f"grant[{i}]"} for i in range(3)},
                "close": {f"confirm[{i}]" for i in range(3)},
            }
            opened = task_runs_of(first)["open"].state
            assert opened.type.value == "COMPLETED" and "room ready" in opened.message and "done by" in opened.message
            wait_for(
                lambda: all(task_runs_of(first)[f"grant[{i}]"].state.type.value == "COMPLETED" for i in range(3)),
                30,
                what="the grants Completed",
            )
            wait_for(lambda: task_runs_of(first)["confirm[0]"].state.name == "Waiting", 30, what="a waiting check-off")
            engine.complete(run, "confirm:0", local_operator(), note="checked by phone")
            wait_for(
                lambda: task_runs_of(first)["confirm[0]"].state.type.value == "COMPLETED",
                10,
                interval=0.2,
                what="the check-off mirrored within seconds",
            )
            grant = task_runs_of(first)["grant[1]"]
            with get_client(sync_client=True) as client:
                logs = wait_for(
                    lambda: client.read_logs(LogFilter(task_run_id=LogFilterTaskRunId(any_=[grant.id]))),
                    30,
                    what="the grant's log",
                )
            assert [log.message for log in logs] == [f"POST ***/grants (Idempotency-Key {run}:grant:1:0): returned 201"]
            bodies = [r["body"] for r in recorder.requests if r["path"] == "/grants"]
            assert bodies == [{"profile": "strict"}] * 3, "the run took the form's inputs"

            # Prefect retries the starter (its flow run scheduled again): the same run, no second.
            from prefect.states import Scheduled

            with get_client(sync_client=True) as client:
                client.set_flow_run_state(starter.id, Scheduled(), force=True)

                def rerun():
                    again = client.read_flow_run(starter.id)
                    return again if again.run_count > 1 and again.state.is_final() else None

                again = wait_for(rerun, 60, interval=0.5, what="the starter run again")
            assert again.state.is_completed(), again.state.message
            assert [r["id"] for r in engine.runs()] == [run], "idempotent per flow run"
            assert recorder.url not in " ".join(log.message for log in logs), "the env value is masked"
        finally:
            mirror_env_control.undo()

    # The worker stopped: its attempt handed the lease back. A new attempt holds the graph.
    with InlineWorker(pool, "mirror-w2"):
        submit_attempt(store, run, "test")
        second = attempt_of(store, run, not_this=first)
        wait_for(lambda: set(task_runs_of(second)) == expected, 30, interval=0.5, what="the graph in the new attempt")
        assert graph_of(task_runs_of(second)) == graph_of(task_runs_of(first))
        assert task_runs_of(second)["confirm[0]"].state.type.value == "COMPLETED", "ended as it ended"
        for i in (1, 2):
            engine.complete(run, f"confirm:{i}", local_operator())
        engine.approve(run, "close", local_operator())
        wait_for(lambda: flow_run_state(uuid.UUID(second)).is_completed(), 30, what="the attempt Completed")
    # The attempt ends after its mirror sent the last states; the server records them as it reads its events.
    ended = dict.fromkeys(expected, "COMPLETED")
    wait_for(
        lambda: {n: t.state.type.value for n, t in task_runs_of(second).items()} == ended,
        10,
        interval=0.2,
        what="every task run Completed",
    )
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(second)]))
        )
    progress = {a.key: a.data for a in artifacts if a.type == "progress"}
    assert progress == {f"{run}-phase-{p}": 100.0 for p in ("prepare", "work", "finish")}
    summary = next(a for a in artifacts if a.type == "markdown")
    assert summary.key == f"{run}-objectives" and "| Agents confirmed | 3 | 3 | yes" in summary.data
    fired = wait_for(lambda: automation_fired(automation), 60, interval=1, what="the automation fired")
    assert fired[0].payload or fired[0].related
    store.dispose()


def test_a_run_above_the_size_cap_keeps_per_step_progress_only(mirror_env, monkeypatch, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.runner import Runner

    monkeypatch.setenv("RUNBOOK_PREFECT_MIRROR_MAX_TASKS", "5")
    runbook = tmp_path / "wide.yaml"
    runbook.write_text(
        "id: wide\nname: Wide\nsteps:\n"
        '  - id: item\n    kind: manual\n    for_each: "${{ range(8) | list }}"\n    owner: team:it\n'
        "  - id: after\n    kind: manual\n    needs: [item]\n    owner: team:it\n"
    )
    store = Store()
    engine = Engine(store)
    runner = Runner(store).start()
    try:
        run = engine.start(runbook, "lab", local_operator())["id"]
        attempt = attempt_of(store, run)
        engine.complete(run, "item:0", local_operator())

        def artifacts():
            with get_client(sync_client=True) as client:
                found = client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(attempt)]))
                )
            shown = {a.key: (a.data, a.description) for a in found}
            return shown if shown.get(f"{run}-item", (None,))[0] == 12.5 else None

        shown = wait_for(artifacts, 30, interval=0.5, what="per-step progress")
        assert shown == {f"{run}-item": (12.5, "item: 1 of 8 done"), f"{run}-after": (0.0, "after: 0 of 1 done")}
        assert task_runs_of(attempt) == {}, "no task runs above the cap"
    finally:
        runner.stop()
        store.dispose()


STREAMING = """\
id: streaming
name: Streaming
steps:
  - id: roll
    kind: muster
    owner: team:operations
    audience: "${{ site.staff }}"
    question: Where can you work?
    options: {onsite: On site, home: From home}
    quorum: 0.5
    due: 2h
  - id: laptop
    kind: manual
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    owner: team:it
  - id: report
    kind: manual
    needs: [laptop]
    owner: team:operations
"""


def test_an_all_items_need_on_a_streaming_step_gains_an_edge_for_every_item_that_appears(mirror_env, tmp_path):
    from flows.runner import Runner

    runbook = tmp_path / "streaming.yaml"
    runbook.write_text(STREAMING)
    store = Store()
    engine = Engine(store)
    runner = Runner(store).start()
    operator = local_operator()
    try:
        run = engine.start(runbook, "lab", operator)["id"]
        attempt = attempt_of(store, run)
        engine.answer(run, "roll", "L0002", "home", operator)

        def report_needs(expected: set[str]):
            shown = task_runs_of(attempt)
            return "report" in shown and graph_of(shown)["report"] == expected

        # The report's task run exists from the start; the first laptop appears with the first answer.
        wait_for(lambda: report_needs({"laptop[L0002]"}), 30, interval=0.3, what="the first item's edge")
        engine.answer(run, "roll", "L0003", "home", operator)
        engine.answer(run, "roll", "L0011", "home", operator)
        engine.answer(run, "roll", "L0001", "onsite", operator)
        everyone = {"laptop[L0002]", "laptop[L0003]", "laptop[L0011]"}
        wait_for(lambda: report_needs(everyone), 30, interval=0.3, what="an edge for every item that appeared")
        assert task_runs_of(attempt)["report"].state.type.value == "PENDING", "still waiting for the roll call"
    finally:
        runner.stop()
        store.dispose()


def test_an_event_sent_again_after_a_crash_is_stored_and_acted_on_once(mirror_env):
    """The mirror saves its cursor after sending: a crash between the two sends the events again
    on restart. Their ids derive from the run and seq, so Prefect drops the repeat."""
    from datetime import UTC, datetime

    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventResourceFilter

    from flows.prefect_events import EventBudget, emit_events
    from flows.prefect_taskruns import drain_events

    run = f"dedup{uuid.uuid4().hex[:8]}"
    automation = automation_for("runbook.task.done", f"runbook.run.{run}")

    def row(seq: int) -> dict:
        at = datetime.now(UTC)
        return {"seq": seq, "run_id": run, "site_id": "lab", "name": "task.done", "task_id": f"t{seq}", "at": at}

    first = row(1)
    budget = EventBudget()
    assert emit_events([first], False, budget, run, "lab") == 1
    assert emit_events([first], False, budget, run, "lab") == 1, "the restarted mirror sends it again"
    assert emit_events([row(2)], False, budget, run, "lab") == 1
    assert drain_events()

    def stored():
        with get_client(sync_client=True) as client:
            page = client.read_events(EventFilter(resource=EventResourceFilter(id=[f"runbook.run.{run}"])), limit=50)
        return page.events if any(e.payload["seq"] == 2 for e in page.events) else None

    events = wait_for(stored, 60, interval=0.5, what="the events stored")
    assert sorted(e.payload["seq"] for e in events) == [1, 2], "the repeat is not stored"
    # Prefect's triggers read the events in the order sent: the repeat came before seq 2.
    fired = wait_for(lambda: automation_fired(automation, 2), 60, interval=0.5, what="the automation fired twice")
    assert len(fired) == 2, "the automation reacted to seq 1 once, then to seq 2"
