"""Compile: a run → the Prefect flow that executes its automated work. One flow run per
ownership attempt, named `<runbook>/<site>` and tagged `run:<id>`; each automated task is a
Prefect task run named `<step>[<item>]`; human steps show as progress artifacts. The flow run
ends in the state the run is in (flows/prefect_control.py). The store
stays the source of truth: Prefect mirrors the run for its UI."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import flow, tags, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.context import TagsContext
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from .steps import StepError, StepJob, executor

MAX_WORKERS = 8


@task(name="step", retries=0, persist_result=False, log_prints=False)
def run_step(job: StepJob) -> dict[str, Any]:
    return executor(job.kind)(job)


def task_run_name(job: StepJob) -> str:
    name = job.step_id if job.item_key is None else f"{job.step_id}[{job.item_key}]"
    return name.replace("{", "{{").replace("}", "}}")  # Prefect formats task run names


Result = tuple[StepJob, "dict | None", "StepError | None"]


def execute_jobs(jobs: list[StepJob], record: Callable[[list[Result]], None], batch_every: float = 0.05) -> None:
    """Submit jobs as task runs and record the results as they finish, batched: results that
    finish while a batch is being recorded go into the next one (one transaction each)."""
    futures = {run_step.with_options(task_run_name=task_run_name(job)).submit(job): job for job in jobs}
    pending: list[Result] = []
    last = 0.0
    remaining = len(futures)
    for future in as_completed(list(futures)):
        remaining -= 1
        job = futures[future]
        try:
            pending.append((job, future.result(), None))
        except StepError as e:
            pending.append((job, None, e))
        except Exception as e:  # a bug or an unexpected library error: retried like a transient failure
            pending.append((job, None, StepError(job.mask(f"{type(e).__name__}: {e}"))))
        if not remaining or time.monotonic() - last >= batch_every:
            record(pending)
            pending = []
            last = time.monotonic()


class Progress:
    """Progress artifacts, one per human step, updated only when a count changes."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.ids: dict[str, Any] = {}
        self.last: dict[str, float] = {}

    def update(self, by_step: dict[str, tuple[int, int]]) -> None:
        for step_id, (done, total) in by_step.items():
            value = 100.0 * done / total if total else 0.0
            if self.last.get(step_id) == value:
                continue
            self.last[step_id] = value
            if step_id in self.ids:
                update_progress_artifact(self.ids[step_id], progress=value)
            else:
                key = f"{self.run_id}-{step_id}".lower().replace("_", "-")
                self.ids[step_id] = create_progress_artifact(
                    progress=value, key=key, description=f"{step_id}: {done} of {total} done"
                )


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
