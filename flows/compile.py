"""Compile: a run → the Prefect flow that executes its automated work. One flow run per
ownership attempt, named `<runbook>/<site>` and tagged `run:<id>`; automated jobs run on a
bounded thread pool inside it; every task of the run (automated and human) is a task run named
`<step>[<item>]` with its needs as inputs, written by the mirror (flows/prefect_mirror.py) from
the store's committed changes. The flow run ends in the state the run is in
(flows/prefect_control.py). The store stays the source of truth: Prefect mirrors the run."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from prefect import flow, tags
from prefect.context import TagsContext
from prefect.task_runners import ThreadPoolTaskRunner

from .steps import StepError, StepJob, executor

MAX_WORKERS = 8


Result = tuple[StepJob, "dict | None", "StepError | None"]
Logger = Callable[[str, int, str], None]


def request_line(job: StepJob) -> str:
    """`POST ***/grants` for an http job (secrets masked), the kind otherwise."""
    request = job.params.get("with") if isinstance(job.params, dict) else None
    if job.kind == "http" and isinstance(request, dict):
        return f"{request.get('method', 'GET')} {job.mask(str(request.get('url', '')))}"
    return job.kind


def _run_job(job: StepJob) -> Result:
    try:
        return job, executor(job.kind)(job), None
    except StepError as e:
        return job, None, e
    except Exception as e:  # a bug or an unexpected library error: retried like a transient failure
        return job, None, StepError(job.mask(f"{type(e).__name__}: {e}"))


def _log_result(log: Logger, result: Result) -> None:
    job, outputs, error = result
    line = f"{request_line(job)} (Idempotency-Key {job.idempotency_key})"
    if error is None:
        status = (outputs or {}).get("status")
        what = "recorded, not sent (drill)" if (outputs or {}).get("drill") else f"returned {status}"
        log(job.task_id, logging.INFO, f"{line}: {what}")
    else:
        again = "retried if attempts remain" if error.retryable else "not retried"
        log(job.task_id, logging.WARNING, f"{line}: {error.message} ({again})")


def execute_jobs(
    jobs: list[StepJob], record: Callable[[list[Result]], None], batch_every: float = 0.05, log: Logger | None = None
) -> None:
    """Execute jobs on a bounded pool and record the results as they finish, batched: results
    that finish while a batch is being recorded go into the next one (one transaction each).
    Their task runs in Prefect are the mirror's (flows/prefect_mirror.py), like every task's;
    `log` gets each attempt's line (secrets masked) for Prefect's logs."""
    pending: list[Result] = []
    last = 0.0
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, max(1, len(jobs))), thread_name_prefix="step") as pool:
        futures = [pool.submit(_run_job, job) for job in jobs]
        remaining = len(futures)
        for future in as_completed(futures):
            remaining -= 1
            result = future.result()
            if log is not None:
                _log_result(log, result)
            pending.append(result)
            if not remaining or time.monotonic() - last >= batch_every:
                record(pending)
                pending = []
                last = time.monotonic()


def make_flow(name: str, drive: Callable[[str], Any]):
    @flow(
        name="runbook",
        flow_run_name=name,
        task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS),  # type: ignore[arg-type]  # Prefect's generic default
        persist_result=False,
        log_prints=False,
        validate_parameters=False,
    )
    def execute_run(run_id: str) -> Any:
        # `drive` returns the attempt's final state (flows/prefect_control.py): Prefect takes a
        # returned State as the flow run's own, so Failed and Cancelled runs show as such.
        # The flow run carries the `run:<id>` tag; its task runs must not: a tagged task run
        # costs the Prefect server a tag-concurrency check on every transition (1,000 no-op
        # task runs took 123 s tagged, 8 s untagged).
        with TagsContext(current_tags=set()):
            return drive(run_id)

    return execute_run


def run_flow(run_id: str, name: str, drive: Callable[[str], Any]) -> Any:
    """The attempt's final Prefect state (returned, not raised: a Failed run is no error here)."""
    with tags(f"run:{run_id}"):
        return make_flow(name, drive)(run_id, return_state=True)
