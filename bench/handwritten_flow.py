"""The baseline of bench_scale.py: the scale_drill runbook's six http calls written by hand as a
plain Prefect flow (no store, no leases), deployed to the same work pool as ours."""

from __future__ import annotations

import requests
from prefect import flow, task


@task(persist_result=False)
def call(url: str) -> int:
    return requests.post(url, timeout=30).status_code


@flow(name="handwritten", persist_result=False, log_prints=False)
def handwritten(base: str, site: str) -> None:
    call.with_options(task_run_name="open").submit(f"{base}/hand/open/{site}").result()
    grants = [call.with_options(task_run_name=f"grant[{n}]").submit(f"{base}/hand/grants/{site}/{n}") for n in range(4)]
    for future in grants:
        future.result()
    call.with_options(task_run_name="close").submit(f"{base}/hand/close/{site}").result()
