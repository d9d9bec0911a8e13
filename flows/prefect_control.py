"""Prefect control: a run in the store ↔ the flow run of its current attempt. The attempt's
final state follows the run (Completed, Failed naming the failed tasks and their runbook lines,
Cancelled with the reason, Crashed when the attempt was interrupted while the run goes on), and
a cancel or a retry asked in Prefect's UI or API is carried out by the engine — as far as
`RUNBOOK_PREFECT_CONTROL` allows (off, cancel, all; default cancel). Where it is off, or the
engine refuses, the flow run is put back with a state message saying why."""

from __future__ import annotations

import logging
import os
import time
import uuid
from typing import Any

from .actors import Actor
from .errors import EngineError, Invalid
from .runstate import plan_of
from .store import Store

log = logging.getLogger("runbook.prefect")

CONTROL_MODES = ("off", "cancel", "all")
CANCELLED_FROM_PREFECT = "cancelled from Prefect"
RETRIED_FROM_PREFECT = "retried from Prefect"
MAX_NAMED = 5  # failed tasks named in a Failed state's message; the rest are counted


def control_mode() -> str:
    mode = os.environ.get("RUNBOOK_PREFECT_CONTROL", "cancel").strip().lower() or "cancel"
    if mode not in CONTROL_MODES:
        raise Invalid(f"RUNBOOK_PREFECT_CONTROL must be one of {', '.join(CONTROL_MODES)}, got {mode!r}")
    return mode


def prefect_actor(flow_run_id: str) -> Actor:
    """Prefect's UI has no login of ours: the flow run is the actor the audit names."""
    return Actor(f"prefect:{flow_run_id}", "operator")


# --- final states -------------------------------------------------------------------------------


def failure_message(store: Store, run_id: str) -> str:
    """`step "setup" (callcenter_lockdown.yaml:31) failed for E1023: <reason>`, for the first
    failed tasks of the run."""
    with store.read() as r:
        head = r.run_head(run_id)
        failed = r.tasks(run_id, states=["failed", "rejected"]) if head else []
        plan = plan_of(head, r) if head else None
    parts = []
    for task in failed[:MAX_NAMED]:
        step = plan.find(task["step_id"]) if plan else None
        where = f" ({os.path.basename(plan.path)}:{step.line})" if plan and step else ""
        item = f" for {task['item_key']}" if task.get("item_key") else ""
        verb = "was rejected" if task["state"] == "rejected" else "failed"
        reason = task.get("reason") or "no reason given"
        if reason.startswith(f'step "{task["step_id"]}"'):  # a step's error names itself and its line
            parts.append(reason)
        else:
            parts.append(f'step "{task["step_id"]}"{where} {verb}{item}: {reason}')
    if len(failed) > MAX_NAMED:
        parts.append(f"and {len(failed) - MAX_NAMED} more")
    return "; ".join(parts) or "the run failed"


def final_state(store: Store, run_id: str, outcome: str) -> Any:
    """The state the attempt's flow run ends in, from the run's state in the store."""
    from prefect.states import Cancelled, Completed, Crashed, Failed

    with store.read() as r:
        head = r.run_head(run_id)
    if head is None:
        return Failed(message=f"no run {run_id} in the store")
    state = head["state"]
    if state == "completed":
        return Completed(message="the run completed")
    if state == "failed":
        return Failed(message=failure_message(store, run_id))
    if state == "cancelled":
        return Cancelled(message=f"the run was cancelled: {head.get('reason') or 'no reason given'}")
    # Still running: this attempt stopped (lease lost, runner stopping); another attempt goes on.
    return Crashed(message=f"attempt interrupted ({outcome}); the run is still {state} and another attempt takes it")


# --- cancel from Prefect ------------------------------------------------------------------------


class CancelWatch:
    """Polled by the driver between rounds: has someone cancelled this attempt's flow run in
    Prefect? Then cancel the run (if the setting allows) or put the flow run back."""

    def __init__(self, store: Store, run_id: str, flow_run_id: str | None, every: float = 2.0):
        self.store, self.run_id, self.flow_run_id, self.every = store, run_id, flow_run_id, every
        self._next = time.monotonic() + every

    def check(self) -> bool:
        """True if the run was cancelled because of Prefect (the driver then stops)."""
        if self.flow_run_id is None or time.monotonic() < self._next:
            return False
        self._next = time.monotonic() + self.every
        try:
            state = _read_state(self.flow_run_id)
        except Exception:  # Prefect briefly unreachable: the run goes on, we look again later
            log.debug("run %s: could not read flow run %s", self.run_id, self.flow_run_id, exc_info=True)
            return False
        if state is None or state.type.value not in ("CANCELLING", "CANCELLED"):
            return False
        return self._cancel(state.message)

    def _cancel(self, message: str | None) -> bool:
        from .lifecycle import Engine

        reason = _reason(message, CANCELLED_FROM_PREFECT)
        refusal = None
        if control_mode() == "off":
            refusal = "RUNBOOK_PREFECT_CONTROL=off: cancel the run in the runbook console (a manager, with a reason)"
        else:
            try:
                Engine(self.store).cancel(self.run_id, prefect_actor(str(self.flow_run_id)), reason=reason)
                log.info("run %s: cancelled from Prefect (flow run %s)", self.run_id, self.flow_run_id)
                return True
            except EngineError as e:
                refusal = f"the engine refused to cancel the run: {e.message}"
        put_back(str(self.flow_run_id), "RUNNING", f"not cancelled: {refusal}")
        return False


def _reason(message: str | None, default: str) -> str:
    """Prefect's own placeholder messages say nothing a reader of the audit needs."""
    text = (message or "").strip()
    if not text or text.lower().startswith(("cancelling", "cancelled by", "flow run is cancelling")):
        return default
    return f"{default}: {text}"


def _read_state(flow_run_id: str) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(uuid.UUID(flow_run_id)).state


def put_back(flow_run_id: str, state_type: str, message: str) -> None:
    """Force the flow run into `state_type` again with a message saying why (Prefect's UI shows it)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import State, StateType

    names = {"RUNNING": "Running", "FAILED": "Failed"}
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(
                uuid.UUID(flow_run_id),
                State(type=StateType(state_type), name=names.get(state_type), message=message),
                force=True,
            )
    except Exception:
        log.warning("could not put flow run %s back to %s", flow_run_id, state_type, exc_info=True)


# --- retry from Prefect -------------------------------------------------------------------------


def retry_from_prefect(store: Store, run_id: str, flow_run_id: str) -> str | None:
    """A failed attempt's flow run was retried in Prefect (it runs again): retry the run's failed
    automated items, which reopens the run. None if done, else why not (the attempt then ends
    Failed again with that message: the flow run is put back)."""
    from runbooks.models import HUMAN_KINDS

    from .lifecycle import Engine

    if control_mode() != "all":
        return (
            f"not retried: RUNBOOK_PREFECT_CONTROL={control_mode()} (retry from Prefect needs 'all'); "
            "retry the failed items in the runbook console (a manager, with a reason)"
        )
    engine = Engine(store)
    with store.read() as r:
        failed = [t for t in r.tasks(run_id, states=["failed"]) if t["kind"] not in HUMAN_KINDS]
    if not failed:
        return "not retried: the run has no failed automated item (a rejected decision is retried by people)"
    actor = prefect_actor(flow_run_id)
    refused = []
    for task in failed:
        try:
            engine.retry(run_id, task["id"], actor, reason=RETRIED_FROM_PREFECT)
        except EngineError as e:
            refused.append(f"{task['id']}: {e.message}")
    if len(refused) == len(failed):
        return "not retried: the engine refused: " + "; ".join(refused)
    log.info("run %s: %d failed item(s) retried from Prefect (flow run %s)", run_id, len(failed), flow_run_id)
    return None
