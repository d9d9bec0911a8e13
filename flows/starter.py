"""Starter deployments: the library's runbooks → one Prefect deployment each (named after the
runbook id, versioned with its `version`, its inputs as the parameter schema plus `site` and
`drill`), and the thin `start-runbook` flow behind them: Prefect's "Custom run" form → the
engine's start (validated, audited `prefect:<flow run id>`, idempotent per flow run) → an
`execute-run` attempt, which takes only the run id. Starting from Prefect obeys
`RUNBOOK_PREFECT_CONTROL` (`all` allows it)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from prefect import Flow, flow

from runbooks.diagnostics import RunbookError
from runbooks.library import runbook_files, site_directories
from runbooks.models import InputSpec, Runbook
from runbooks.plan import load_runbook
from runbooks.sites import load_site

from .errors import EngineError
from .prefect_control import control_mode, prefect_actor
from .store import Store

log = logging.getLogger("runbook.starter")

START_FLOW = "start-runbook"
_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean", "choice": "string"}


def input_schema(spec: InputSpec) -> dict[str, Any]:
    """One runbook input → its JSON Schema property (Prefect's form renders it)."""
    prop: dict[str, Any] = {"type": _JSON_TYPES[spec.type]}
    if spec.type == "choice":
        prop["enum"] = list(spec.options or [])
    if spec.default is not None:
        prop["default"] = spec.default
    if spec.description:
        prop["description"] = str(spec.description)
    if spec.minimum is not None:
        prop["minimum"] = spec.minimum
    if spec.maximum is not None:
        prop["maximum"] = spec.maximum
    return prop


def parameter_schema(runbook: Runbook, sites: list[str]) -> dict[str, Any]:
    """The deployment's parameter schema: the runbook (fixed), `site` (the sites it validates
    against), `drill`, and `inputs` (an object of the runbook's inputs)."""
    inputs = {
        name: {"title": name, "position": i, **input_schema(s)} for i, (name, s) in enumerate(runbook.inputs.items())
    }
    required = [name for name, s in runbook.inputs.items() if s.required and s.default is None]
    properties: dict[str, Any] = {
        "runbook": {
            "title": "runbook",
            "type": "string",
            "enum": [runbook.id],
            "default": runbook.id,
            "readOnly": True,
            "position": 0,
        },
        "site": {
            "title": "site",
            "type": "string",
            "enum": sites,
            "position": 1,
            "description": "The site the run is for (the sites this runbook validates against)",
        },
        "drill": {
            "title": "drill",
            "type": "boolean",
            "default": False,
            "position": 2,
            "description": "A drill: side effects recorded, messages to the drill channel",
        },
        "inputs": {
            "title": "inputs",
            "type": "object",
            "position": 3,
            "properties": inputs,
            "required": required,
            "description": "The runbook's inputs",
        },
    }
    return {
        "title": "Parameters",
        "type": "object",
        "properties": properties,
        "required": ["runbook", "site"],
        "definitions": {},
    }


def library_starters() -> list[tuple[Runbook, list[str]]]:
    """Every library runbook that validates, with the sites it validates against."""
    sites = {}
    for site_id, directory in site_directories().items():
        try:
            sites[site_id] = load_site(directory)
        except RunbookError as e:
            log.warning("site %s left out of the starters' site lists: %s", site_id, e)
    out = []
    for runbook_id, path in runbook_files().items():
        try:
            _, runbook = load_runbook(path)
        except RunbookError as e:
            log.warning("runbook %s has no starter deployment: it does not validate: %s", runbook_id, e)
            continue
        valid = []
        for site_id, site in sites.items():
            try:
                load_runbook(path, site)
            except RunbookError:
                continue
            valid.append(site_id)
        if valid:
            out.append((runbook, valid))
    return out


@flow(name=START_FLOW, persist_result=False, log_prints=False, validate_parameters=False)
def start_runbook(runbook: str, site: str, drill: Any = False, inputs: dict[str, Any] | None = None) -> Any:
    """Start `runbook` at `site` as the Prefect flow run (a retry of this flow run returns the
    same run), then submit its `execute-run` attempt."""
    from prefect.runtime import flow_run
    from prefect.states import Failed

    from .deploy import parse_flag, submit_attempt
    from .lifecycle import Engine

    mode = control_mode()
    if mode != "all":
        return Failed(
            message=f"not started: RUNBOOK_PREFECT_CONTROL={mode} (starting a runbook from Prefect needs 'all'); "
            "start it with `runbook start` or the console (a manager)"
        )
    flow_run_id = str(flow_run.id)
    store = Store(pool=(2, 4))
    try:
        try:
            run = Engine(store).start(
                str(runbook),
                str(site),
                prefect_actor(flow_run_id),
                inputs=dict(inputs or {}),
                drill=parse_flag(drill, "drill"),
                allow_path=False,
                key=f"prefect-start:{flow_run_id}",
            )
        except (EngineError, RunbookError) as e:
            return Failed(message=f"not started: {e}")
        submit_attempt(store, run["id"], f"start:{flow_run_id}")
        log.info("runbook %s at %s: run %s started from Prefect (flow run %s)", runbook, site, run["id"], flow_run_id)
        return run["id"]
    finally:
        store.dispose()


def register_starters(pool: str, source: Flow[..., Any]) -> dict[str, str]:
    """One deployment of `start-runbook` per library runbook; returns deployment name → id."""
    from prefect.utilities.callables import ParameterSchema

    ids: dict[str, str] = {}
    for runbook, sites in library_starters():
        deployment: Any = source.to_deployment(
            name=runbook.id,
            version=str(runbook.version),
            description=str(runbook.description or runbook.name),
            parameters={"runbook": runbook.id},
            work_pool_name=pool,
            enforce_parameter_schema=False,
            tags=["runbook", f"runbook:{runbook.id}"],
        )
        deployment._parameter_openapi_schema = ParameterSchema(**parameter_schema(runbook, sites))
        ids[f"{START_FLOW}/{runbook.id}"] = str(deployment.apply(work_pool_name=pool))
    return ids


def register_all(pool: str, source: Path | None = None) -> dict[str, str]:
    """`runbook deploy`: the scale-out deployments and trigger (flows/deploy.py), then a
    starter per library runbook. Idempotent. Returns deployment name → id."""
    from .deploy import register_deployments

    root = Path(source or Path(__file__).resolve().parent.parent).resolve()
    ids = register_deployments(pool, root)
    starter: Flow[..., Any] = start_runbook.from_source(str(root), f"{__name__}.start_runbook")  # type: ignore[assignment]
    ids.update(register_starters(pool, starter))
    return ids
