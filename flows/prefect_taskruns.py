"""Task runs as Prefect's task engine records them: a run's task rows → client-side `TaskRun`s of
the attempt's flow run and their state changes as `prefect.task-run.<state>` events.

Prefect's own task engine never asks the API to create a task run or to set its state: it
builds the `TaskRun` in the client (`prefect.task_engine._create_task_run_locally`) and sends
each state change as an event (`prefect.utilities.engine.emit_task_run_state_change_event`),
marked `prefect.orchestration: client`; the server's task-run recorder upserts the task run
from the event (the latest state by timestamp wins, every state kept in its history). The
mirror writes the same events, so a mirrored task run costs the server what a hand-written
flow's task run costs — a REST create and a forced state change cost it an orchestration pass
and a server-side event each (BENCHMARKS.md, Prefect server CPU per run). The one addition to
the engine's payload is the flow run as a related resource: the task engine's events get it
from the flow run's context in the events worker; the mirror's thread has no such context."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task

NAMESPACE = uuid.UUID("6f1d3c1e-21a4-4c55-9a55-9c7d0b7a2e21")
TRUNCATE = 100_000  # Prefect's own cap on a state message in an event


@task(name="step", retries=0, persist_result=False)
def _step() -> None:  # never run: the task object names the mirror's task runs (task key, version)
    """A runbook task, mirrored."""


def task_run_id(flow_run_id: str, task_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{flow_run_id}/{task_id}")


def task_run_name(step_id: str, item_key: str | None) -> str:
    return step_id if item_key is None else f"{step_id}[{item_key}]"


def mirrored_state(row: Mapping[str, Any]) -> Any:
    """A task row → the Prefect state its task run shows."""
    from prefect.states import Cancelled, Completed, Failed, Pending, Running

    state = row["state"]
    by = f" by {row['ended_by']}" if row.get("ended_by") else ""
    note = f": {row['note']}" if row.get("note") else (f": {row['reason']}" if row.get("reason") else "")
    if state == "pending":
        return Pending(message="waiting for its needs")
    if state == "ready":  # shown as Pending: one state change less per automated task
        return Pending(message="queued for the runner")
    if state == "running":
        return Running(message="running")
    if state == "waiting":
        return Running(name="Waiting", message=f"waiting for {row.get('owner') or 'people'}")
    if state == "done":
        return Completed(message=f"done{by}{note}")
    if state == "skipped":
        return Completed(name="Skipped", message=f"skipped{by}{note}")
    if state == "rejected":
        return Failed(name="Rejected", message=f"rejected{by}{note}")
    if state == "failed":
        return Failed(message=f"failed{note}")
    return Cancelled(message=f"cancelled{by}{note}")


def _state_json(state: Any) -> dict[str, Any]:
    return {
        "type": str(state.type.value),
        "name": state.name,
        "message": (state.message or "")[:TRUNCATE],
        "state_details": state.state_details.model_dump(
            mode="json", exclude_none=True, exclude_unset=True, exclude={"flow_run_id", "task_run_id"}
        ),
    }


# The fields the server materialises or takes from elsewhere in the event, as Prefect excludes them.
_NOT_IN_PAYLOAD = {
    "id",
    "created",
    "updated",
    "flow_run_id",
    "state_id",
    "state_type",
    "state_name",
    "state",
    "estimated_start_time_delta",
    "estimated_run_time",
}


class TaskRuns:
    """The client-side task runs of one flow run, and the state-change events that record them."""

    def __init__(self, flow_run_id: str):
        self.flow_run_id = flow_run_id
        self.runs: dict[str, Any] = {}  # task id → its TaskRun as last sent
        self.inputs: dict[str, frozenset[str]] = {}  # task id → the upstream task ids last sent
        self._last_at = datetime.now(UTC)

    def _now(self) -> datetime:
        """Strictly increasing timestamps: the recorder keeps the state with the latest one."""
        now = datetime.now(UTC)
        self._last_at = now if now > self._last_at else self._last_at + timedelta(microseconds=1)
        return self._last_at

    def send(self, row: Mapping[str, Any], state: Any, upstream: Sequence[str]) -> Any:
        """Record `state` (and the needs as task inputs) for the row's task run; the event sent."""
        from prefect.client.schemas.objects import TaskRun, TaskRunPolicy, TaskRunResult

        tid = str(row["id"])
        run_id = task_run_id(self.flow_run_id, tid)
        flow_run = uuid.UUID(self.flow_run_id)
        state.timestamp = self._now()
        state.state_details.task_run_id, state.state_details.flow_run_id = run_id, flow_run
        inputs: dict[str, list[Any]] = {"needs": [TaskRunResult(id=task_run_id(self.flow_run_id, u)) for u in upstream]}
        previous = self.runs.get(tid)
        if previous is None:
            tr = TaskRun(
                id=run_id,
                name=task_run_name(str(row["step_id"]), row.get("item_key")),
                flow_run_id=flow_run,
                task_key=_step.task_key,
                dynamic_key=tid,
                task_version=_step.version,
                empirical_policy=TaskRunPolicy(retries=0, retry_delay=0),
                tags=[],
                task_inputs=inputs,
                expected_start_time=state.timestamp,
            )
            initial = None
        else:
            tr, initial = previous, previous.state
            tr.task_inputs = inputs
        if state.is_running():
            tr.run_count += 1
            tr.start_time = tr.start_time or state.timestamp
        if initial is not None and initial.is_running():
            tr.total_run_time += state.timestamp - initial.timestamp
        if state.is_final():
            tr.end_time = tr.end_time or state.timestamp
        tr.state, tr.state_id, tr.state_type, tr.state_name = state, state.id, state.type, state.name
        self.runs[tid] = tr
        self.inputs[tid] = frozenset(upstream)
        return self._emit(tr, initial, state)

    def _emit(self, tr: Any, initial: Any, state: Any) -> Any:
        from prefect.events import emit_event

        return emit_event(
            id=state.id,
            occurred=state.timestamp,
            event=f"prefect.task-run.{state.name}",
            payload={
                "intended": {"from": str(initial.type.value) if initial else None, "to": str(state.type.value)},
                "initial_state": _state_json(initial) if initial else None,
                "validated_state": {**_state_json(state), "data": None},
                "task_run": tr.model_dump(mode="json", exclude_none=True, exclude=_NOT_IN_PAYLOAD),
            },
            resource={
                "prefect.resource.id": f"prefect.task-run.{tr.id}",
                "prefect.resource.name": tr.name,
                "prefect.run-count": str(tr.run_count),
                "prefect.state-message": (state.message or "")[:TRUNCATE],
                "prefect.state-name": state.name or "",
                "prefect.state-timestamp": state.timestamp.isoformat(),
                "prefect.state-type": str(state.type.value),
                "prefect.orchestration": "client",
            },
            related=[
                {"prefect.resource.id": f"prefect.flow-run.{self.flow_run_id}", "prefect.resource.role": "flow-run"}
            ],
        )


def drain_events(timeout: float = 15.0) -> bool:
    """Wait until the events worker has sent what was emitted (at most `timeout` s): the flow
    run should not end, nor the process exit, with its task runs' last states still queued."""
    import threading

    from prefect.events.worker import EventsWorker

    worker = EventsWorker.instance()
    done = threading.Thread(target=worker.wait_until_empty, daemon=True)
    done.start()
    done.join(timeout)
    return not done.is_alive()
