"""Property: whatever a mutated runbook looks like, validation never raises a traceback and
every problem it reports has a location and a known code."""

from __future__ import annotations

import copy

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooks.diagnostics import CODES, RunbookError
from runbooks.plan import build_plan, load_runbook, validate_file
from tests.conftest import LIBRARY

BASE = yaml.safe_load((LIBRARY / "callcenter_lockdown.yaml").read_text())
TEXT = (LIBRARY / "callcenter_lockdown.yaml").read_text()

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "${{ steps.laptop.outputs.asset_tag }}",
            "${{ inputs.nope }}",
            "${{ site.staff }}",
            "${{ env.X }}",
            "${{ ) }}",
            "team:nobody",
            "1h30m",
            "4hours",
            "roll_call",
            "manual",
        ]
    ),
    st.lists(st.sampled_from(["roll_call", "setup", "x", "training"]), max_size=3),
    st.dictionaries(st.sampled_from(["id", "kind", "every", "max", "url"]), st.text(max_size=5), max_size=2),
)


def _paths(data, prefix=()):
    yield prefix
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(BASE) if p]


@st.composite
def mutated(draw):
    data = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS))
        parent = data
        try:
            for part in path[:-1]:
                parent = parent[part]
            op = draw(st.sampled_from(["set", "delete", "add_key", "duplicate"]))
            last = path[-1]
            if op == "set":
                parent[last] = draw(values)
            elif op == "delete":
                del parent[last]
            elif op == "add_key" and isinstance(parent[last], dict):
                parent[last][draw(st.sampled_from(["nedds", "owner", "as", "for", "zz"]))] = draw(values)
            elif op == "duplicate" and isinstance(parent, list):
                parent.append(copy.deepcopy(parent[last]))
        except (KeyError, IndexError, TypeError):
            pass
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _assert_located(path, site):
    diagnostics = validate_file(path, site)
    for d in diagnostics:
        assert d.line >= 1 and d.col >= 1, d
        assert d.code in CODES, d
        assert d.message
    if not diagnostics:
        doc, runbook = load_runbook(path, site)
        try:
            build_plan(doc, runbook, site)
        except RunbookError as e:
            assert all(d.code in CODES for d in e.diagnostics)


# A mutated runbook can be over 30 kB: Hypothesis warns that printing it is costly. Ignoring that
# warning lets a real failure be reported with its example instead of the warning itself.
@pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_mutated_runbooks_get_located_diagnostics_never_a_traceback(text, tmp_path_factory, xian):
    path = tmp_path_factory.mktemp("m") / "rb.yaml"
    path.write_text(text)
    _assert_located(path, xian)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, len(TEXT)), junk=st.text(max_size=8), drop=st.integers(0, 40))
def test_corrupted_runbook_text_gets_located_diagnostics(cut, junk, drop, tmp_path_factory, xian):
    path = tmp_path_factory.mktemp("c") / "rb.yaml"
    path.write_text(TEXT[:cut] + junk + TEXT[cut + drop :], encoding="utf-8", errors="replace")
    _assert_located(path, xian)
