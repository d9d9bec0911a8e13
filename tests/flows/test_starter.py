"""Starter deployments without a server: a runbook's inputs become Prefect's run form, and
prefect.yaml declares a starter for every shipped runbook with entry points that exist."""

from __future__ import annotations

import importlib

import yaml

from runbooks.library import runbook_files
from runbooks.plan import load_runbook
from tests.conftest import LIBRARY, ROOT


def test_a_runbooks_inputs_become_the_run_form_with_the_sites_it_validates_against(monkeypatch):
    from flows.starter import library_starters, parameter_schema

    monkeypatch.delenv("RUNBOOK_LIBRARY", raising=False)
    monkeypatch.delenv("RUNBOOK_SITES", raising=False)
    starters = {runbook.id: (runbook, sites) for runbook, sites in library_starters()}
    assert set(starters) == {p.stem for p in LIBRARY.glob("*.yaml")}
    runbook, sites = starters["callcenter_lockdown"]
    assert sites == ["beijing", "xian"], "the sites it validates against"
    schema = parameter_schema(runbook, sites)
    assert schema["required"] == ["runbook", "site"]
    assert schema["properties"]["runbook"]["enum"] == ["callcenter_lockdown"]
    assert schema["properties"]["site"]["enum"] == ["beijing", "xian"]
    inputs = schema["properties"]["inputs"]["properties"]
    assert set(inputs) == set(runbook.inputs)
    for name, spec in runbook.inputs.items():
        assert inputs[name]["type"] == {"choice": "string"}.get(spec.type, spec.type)
        assert inputs[name].get("default") == spec.default


def test_prefect_yaml_declares_a_starter_for_every_shipped_runbook():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    starters = {d["parameters"]["runbook"] for d in config["deployments"] if d["entrypoint"].endswith(":start_runbook")}
    shipped = {rb for rb, path in runbook_files().items() if path.parent == LIBRARY}
    assert starters == shipped
    for deployment in config["deployments"]:
        module, name = deployment["entrypoint"].split(":")
        assert hasattr(importlib.import_module(module), name), deployment["entrypoint"]
    for runbook_id in shipped:
        assert load_runbook(LIBRARY / f"{runbook_id}.yaml")[1].id == runbook_id
