"""Deploy: the scale-out path on Prefect — run ids → deployed flow runs executed by Prefect
workers from a work pool.

- `execute_run(run_id)` (flow "runbook", deployment "execute-run"): one ownership attempt of a
  run. It takes the run's lease (waiting while a live owner holds it), drives the run with the
  Runner's own code (`runner.drive_run`) until it ends or the lease is lost, and hands the lease
  back. A flow run whose worker died stops driving by itself (it sees its parent change), so a
  killed worker's runs are free for another one.
- `declare_lockdown(site, drill)` (deployment "site-lockdown", started by a `site.lockdown`
  event through a DeploymentEventTrigger): `Engine.lockdown` — idempotent in our store, since
  Prefect automations do not deduplicate — then an `execute_run` attempt per running run.
- `LeaseWatcher` (in `runbook worker`): submits an attempt for every running run whose lease is
  free or expired, so runs started elsewhere (the API, the CLI) and runs of a dead worker are
  picked up by whichever worker is free.

A submitter first reserves the run in the store (`pending:<submitter>`, for ATTEMPT_GRACE), so
two watchers, or a watcher and `declare_lockdown`, never submit the same attempt twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import Flow, flow
from prefect.client.schemas.objects import FlowRun
from prefect.context import TagsContext
from prefect.states import Cancelled
from prefect.task_runners import ThreadPoolTaskRunner

from . import findings
from .actors import Actor
from .compile import MAX_WORKERS
from .errors import Invalid
from .prefect_control import final_state, retry_from_prefect
from .runner import RunLease, drive_run, lease_ttl
from .store import PENDING, Store, utcnow

if TYPE_CHECKING:  # a library's type, imported where it is used (it pulls in Prefect's events)
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

log = logging.getLogger("runbook.deploy")

EXECUTE_FLOW, EXECUTE = "runbook", "execute-run"
LOCKDOWN_FLOW, LOCKDOWN = "declare-lockdown", "site-lockdown"
EXECUTE_DEPLOYMENT = f"{EXECUTE_FLOW}/{EXECUTE}"
DEFAULT_POOL = "runbook"
SUBMITTERS = 8  # attempts a lease watcher submits at once
SITE_RESOURCE = "runbook.site."  # a site.lockdown event's resource: runbook.site.<site id>, named <site id>

# Templates name only fields every event has, with fallbacks: a template naming a missing
# field fails silently in Prefect (docs/deploy.md, "Prefect notes"). Prefect renders a one-expression
# template as `{{ <expression> | tojson }}`: the parentheses keep the filter on all of it.
TRIGGER_PARAMETERS = {
    "site": "{{ (event.resource.get('prefect.resource.name') or event.resource.id.split('.')[-1]) }}",
    "drill": "{{ ((event.payload or {}).get('drill', false)) }}",
    "event_id": "{{ (event.id | string) }}",
}


# Set when an inline worker (flows/attempts.py) stops: its attempts stop driving and hand their
# leases back, so another worker takes their runs at once instead of after the lease's TTL.
stopping = threading.Event()


def attempt_grace() -> float:
    """How long a reserved run waits for its submitted attempt to start before another is submitted."""
    return float(os.environ.get("RUNBOOK_ATTEMPT_GRACE", str(max(60.0, 3 * lease_ttl()))))


def attempt_owner() -> str:
    worker = os.environ.get("RUNBOOK_WORKER_NAME") or socket.gethostname()
    return f"{worker}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def parse_flag(value: Any, name: str) -> bool:
    """Event templates render to text: accept true/false in the usual spellings, refuse the rest."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", "", "none"):
        return False
    raise Invalid(f"{name} must be true or false, got {value!r}")


# --- the deployed flows -------------------------------------------------------------------------


@flow(
    name=EXECUTE_FLOW,
    task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS),  # type: ignore[arg-type]  # Prefect's generic default
    persist_result=False,
    log_prints=False,
    validate_parameters=False,
)
def execute_run(run_id: str) -> Any:
    # One run per process: the driver, the lease renewal and a check-off's wake need a few
    # connections, not a server's pool (20 runs on a worker would hold 1,000 otherwise).
    from prefect.runtime import flow_run
    from prefect.states import Failed

    store = Store(pool=(2, 4))
    lease = RunLease(store, run_id, attempt_owner())
    try:
        if flow_run.run_count > 1 and _run_state(store, run_id) == "failed":  # retried in Prefect
            refusal = retry_from_prefect(store, run_id, str(flow_run.id))
            if refusal is not None:
                return Failed(message=refusal)
        why_not = lease.take(patience=lease.ttl + 5)
        if why_not is not None:
            if why_not.startswith("the run is"):  # ended before this attempt: say how
                return final_state(store, run_id, why_not)
            return Cancelled(message=f"not driven: {why_not}")
        parent = os.getppid()
        # Task runs carry no tags (each tag costs the server a concurrency check per transition).
        with TagsContext(current_tags=set()):
            outcome = drive_run(
                store,
                run_id,
                lease.owner,
                lease.wake,
                lambda: lease.held.is_set() and os.getppid() == parent and not stopping.is_set(),
            )
        return final_state(store, run_id, outcome)
    finally:
        lease.release()
        store.dispose()


def _run_state(store: Store, run_id: str) -> str | None:
    with store.read() as r:
        return (r.run_head(run_id) or {}).get("state")


@flow(name=LOCKDOWN_FLOW, persist_result=False, log_prints=False, validate_parameters=False)
def declare_lockdown(site: str, drill: Any = False, event_id: str | None = None) -> list[str]:
    from .lifecycle import Engine

    store = Store(pool=(2, 4))
    try:
        actor = Actor(f"prefect:event:{event_id}" if event_id else "prefect:declare_lockdown", "operator")
        runs, created = Engine(store).lockdown(str(site).strip(), actor, drill=parse_flag(drill, "drill"))
        ids = [r["id"] for r in runs]
        log.info("lockdown of %s: %s run(s) %s", site, "started" if created else "already", ", ".join(ids))
        for run_id in ids:
            submit_attempt(store, run_id, f"declare_lockdown:{event_id or '-'}")
        return ids
    finally:
        store.dispose()


# --- submitting attempts ------------------------------------------------------------------------


def submit_attempt(store: Store, run_id: str, submitter: str) -> bool:
    """Reserve the run and submit an `execute_run` flow run for it; False if the run is owned
    or reserved already (or ended)."""
    from prefect.deployments import run_deployment

    now = utcnow()
    with store.transaction(serial=run_id) as tx:
        if not tx.reserve_run(run_id, submitter, now + timedelta(seconds=attempt_grace()), now):
            return False
        run = tx.run_head(run_id)
    assert run is not None  # just reserved
    try:
        attempt: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call: a FlowRun, not a coroutine
            EXECUTE_DEPLOYMENT,
            parameters={"run_id": run_id},
            timeout=0,
            as_subflow=False,
            tags=[f"run:{run_id}"],
            flow_run_name=f"{run['runbook_id']}/{run['site_id']}",
        )
    except BaseException:
        with store.transaction(serial=run_id) as tx:  # let the next round try again
            tx.release_lease(run_id, f"{PENDING}{submitter}")
        raise
    with store.transaction(serial=run_id) as tx:  # which attempt the reservation waits for
        if (tx.run_head(run_id) or {}).get("lease_owner") == f"{PENDING}{submitter}":
            tx.update_run(run_id, prefect_flow_run=str(attempt.id))
    return True


def _still_queued(flow_run_id: str | None) -> bool:
    """The submitted attempt is scheduled or starting in Prefect (not finished, not crashed)."""
    if not flow_run_id:
        return False
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(uuid.UUID(flow_run_id)).state
    except Exception:
        return False
    return state is not None and not state.is_final()


class LeaseWatcher:
    """Every `every` seconds: an attempt for each running run whose lease is free or expired."""

    def __init__(
        self, store: Store, name: str, every: float = 1.0, on_submit: Callable[[], None] | None = None
    ) -> None:
        """`on_submit`: called after a round that submitted attempts (a worker of this process
        then polls its pool at once instead of at its next round)."""
        self.store, self.name, self.every, self.on_submit = store, name, every, on_submit
        self.submitted = 0

    def tick(self) -> int:
        findings.remind_due(self.store)  # scale-out without `runbook serve`'s runner: workers remind
        with self.store.read() as r:
            free = r.leasable_runs(None, utcnow(), 200)
        if not free:
            return 0
        # A dead worker's runs are free at once: submitting them one by one (a few API calls
        # each) would make the last one wait for all the others.
        with ThreadPoolExecutor(max_workers=min(SUBMITTERS, len(free)), thread_name_prefix="submit") as pool:
            n = sum(pool.map(self._submit, free))
        self.submitted += n
        if n and self.on_submit is not None:
            self.on_submit()
        return n

    def _submit(self, run_id: str) -> int:
        try:
            if self._keep_queued(run_id):
                return 0
            return int(submit_attempt(self.store, run_id, f"watcher:{self.name}"))
        except Exception as e:  # the Prefect API or the deployment is missing: try next round
            log.warning("run %s: could not submit an attempt: %s: %s", run_id, type(e).__name__, e)
            return 0

    def _keep_queued(self, run_id: str) -> bool:
        """A reservation that ran out while its attempt still waits for a worker slot (or is
        starting on a busy machine) is extended instead of submitting a second attempt. An
        expired lease of a real owner is not: that owner is dead, and a new attempt is due."""
        with self.store.read() as r:
            run = r.run_head(run_id)
        owner = (run or {}).get("lease_owner") or ""
        if run is None or not owner.startswith(PENDING) or not _still_queued(run["prefect_flow_run"]):
            return False
        with self.store.transaction(serial=run_id) as tx:
            return tx.extend_reservation(run_id, owner, utcnow() + timedelta(seconds=attempt_grace()))

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the store may be briefly unreachable
                log.exception("lease watcher %s: round failed", self.name)
            stop.wait(self.every)


# --- registering -------------------------------------------------------------------------------


def ensure_work_pool(pool: str) -> bool:
    """Create the process work pool if it is missing; True if created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(pool)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            return True


def register_deployments(pool: str = DEFAULT_POOL, source: Path | None = None) -> dict[str, str]:
    """The work pool (if missing), both deployments, and the site.lockdown trigger. Idempotent:
    registering again updates them. Returns deployment name → id. (`runbook deploy` adds one
    starter per library runbook: flows/starter.py.)"""
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    root = Path(source or Path(__file__).resolve().parent.parent).resolve()
    ensure_work_pool(pool)
    ids: dict[str, str] = {}
    executable = _from_source(execute_run, root, "execute_run")
    ids[EXECUTE_DEPLOYMENT] = _deploy(
        executable, pool, EXECUTE, "One ownership attempt of a run (run id in, lease-owned until it ends)"
    )
    trigger = DeploymentEventTrigger(
        name="site.lockdown starts the site's runbooks",
        expect={"site.lockdown"},
        match={"prefect.resource.id": f"{SITE_RESOURCE}*"},
        parameters=TRIGGER_PARAMETERS,
    )
    declaring = _from_source(declare_lockdown, root, "declare_lockdown")
    ids[f"{LOCKDOWN_FLOW}/{LOCKDOWN}"] = _deploy(
        declaring, pool, LOCKDOWN, "Declare a site's lockdown (idempotent) and submit its runs", [trigger]
    )
    return ids


def _from_source(entry: Flow[..., Any], root: Path, name: str) -> Flow[..., Any]:
    """The flow loaded from the checkout (sync here: a Flow, not a coroutine)."""
    return entry.from_source(str(root), f"{__name__}.{name}")  # type: ignore[return-value]


def _deploy(
    source: Flow[..., Any], pool: str, name: str, description: str, triggers: list[DeploymentEventTrigger] | None = None
) -> str:
    deployment_id = source.deploy(
        name=name,
        description=description,
        work_pool_name=pool,
        triggers=list(triggers or []),
        build=False,
        push=False,
        print_next_steps=False,
        ignore_warnings=True,
        enforce_parameter_schema=False,  # template-rendered text must reach our parsing
    )
    return str(deployment_id)
