"""Task and run states as data: the transition table is walked whole, each step kind has its
row and its plug-in, and no module but flows/states.py writes a state."""

from __future__ import annotations

import ast
import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows.kinds import KINDS
from flows.states import (
    RUN_STATES,
    RUN_TRANSITIONS,
    STATES,
    TRANSITIONS,
    IllegalTransition,
    transition,
    transition_many,
    transition_run,
)
from runbooks.models import KIND_OUTPUTS

ROOT = Path(__file__).resolve().parents[2]


class FakeTx:
    def __init__(self):
        self.writes: list[tuple] = []

    def write_task_state(self, run_id, task_id, expect, state, **values):
        self.writes.append((task_id, tuple(expect), state, values))
        return True

    def write_run_state(self, run_id, old, new, **values):
        self.writes.append((run_id, old, new, values))

    def write_task_states(self, run_id, own, expect, state, **values):
        self.writes.extend((task_id, tuple(expect), state, {**values, **mine}) for task_id, mine in own.items())
        return set(own)


class FakeRun:
    """Just what `transition` touches of a RunState."""

    def __init__(self, state: str = "running"):
        self.tx = FakeTx()
        self.run_id, self.now = "r1", datetime(2026, 12, 2, tzinfo=UTC)
        self.run = {"id": "r1", "state": state}
        self.changed: set = set()
        self.ended: list = []
        self.sent: list = []

    def event(self, name, task_id=None, /, **data):
        self.sent.append((name, task_id, data.get("state")))


@pytest.mark.parametrize("kind", sorted(TRANSITIONS))
def test_every_pair_of_states_is_allowed_or_refused_as_the_table_says(kind):
    for old, new in itertools.product(STATES, STATES):
        rs = FakeRun()
        task = {"id": "t", "kind": kind, "state": old, "step_id": "t", "item_key": None}
        if (old, new) in TRANSITIONS[kind]:
            assert transition(rs, task, new) is True
            assert rs.tx.writes[-1][2] == new
            assert ("t", None) in rs.changed
        else:
            with pytest.raises(IllegalTransition):
                transition(rs, task, new)
            assert rs.tx.writes == [], f"{kind}: {old} -> {new} wrote"


@pytest.mark.parametrize("kind", sorted(TRANSITIONS))
def test_a_batch_is_allowed_or_refused_as_one_transition_a_task_would_be(kind):
    for old, new in itertools.product(STATES, STATES):
        one, many = FakeRun(), FakeRun()
        tasks = [{"id": f"t{i}", "kind": kind, "state": old, "step_id": "t", "item_key": str(i)} for i in range(3)]
        if (old, new) in TRANSITIONS[kind]:
            for task in tasks:
                transition(one, task, new, expect=[old], attempt=1)
            assert transition_many(many, [(t, {"attempt": 1}) for t in tasks], new, expect=[old]) == tasks
            assert (many.tx.writes, many.sent, many.changed, many.ended) == (
                one.tx.writes,
                one.sent,
                one.changed,
                one.ended,
            )
        else:
            with pytest.raises(IllegalTransition):
                transition_many(many, [(t, {}) for t in tasks], new, expect=[old])
            assert many.tx.writes == [], f"{kind}: {old} -> {new} wrote"


def test_ending_states_say_so_and_reopening_clears_the_end():
    rs = FakeRun()
    transition(rs, {"id": "t", "kind": "http", "state": "running", "step_id": "s", "item_key": None}, "failed", by="x")
    assert rs.tx.writes[-1][3]["ended_by"] == "x" and rs.tx.writes[-1][3]["ended_at"] == rs.now
    assert rs.sent == [("task.failed", "t", "failed")] and rs.ended[0]["state"] == "failed"
    transition(rs, {"id": "t", "kind": "http", "state": "failed", "step_id": "s", "item_key": None}, "pending")
    assert rs.tx.writes[-1][3]["ended_at"] is None and rs.tx.writes[-1][3]["ended_by"] is None


def test_the_reopenings_the_engine_does_are_in_the_table():
    for kind in TRANSITIONS:
        assert {("failed", "pending"), ("skipped", "pending"), ("cancelled", "pending")} <= TRANSITIONS[kind]
    assert ("failed", "running") in RUN_TRANSITIONS


def test_rejected_is_only_an_approvals_end():
    # an approval step's, or the engine's re-certification of a grant (an approval by another name)
    assert [k for k in TRANSITIONS if ("waiting", "rejected") in TRANSITIONS[k]] == ["approval", "grant_review"]


def test_every_pair_of_run_states_is_allowed_or_refused_as_the_table_says():
    for old, new in itertools.product(RUN_STATES, RUN_STATES):
        rs = FakeRun(old)
        if (old, new) in RUN_TRANSITIONS:
            transition_run(rs, new)
            assert rs.run["state"] == new
        else:
            with pytest.raises(IllegalTransition):
                transition_run(rs, new)


def test_every_kind_of_the_language_has_a_plug_in_and_a_row_in_the_table():
    # `calls` (a team's call task for a roll call) and `grant_review` (a grant's re-certification)
    # are the engine's own kinds, not the language's.
    assert set(KINDS) == set(TRANSITIONS) == set(KIND_OUTPUTS) | {"calls", "grant_review"}
    assert all(KINDS[name].name == name for name in KINDS)


# --- nothing else writes a state -----------------------------------------------------------------

WRITERS = {"write_task_state", "write_task_states", "write_run_state", "insert_tasks"}


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node


def test_no_module_but_states_writes_a_task_or_run_state():
    bad = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] not in ("flows", "console", "runbooks", "notifications") or rel.parts[:2] == ("flows", "store"):
            continue  # the store defines the writers; flows/states.py calls them
        for call in _calls(path):
            name = call.func.attr
            if name in WRITERS and rel != Path("flows/states.py"):
                bad.append(f"{rel}:{call.lineno}: {name}()")
            if name in ("update_task", "update_run") and any(k.arg == "state" for k in call.keywords):
                bad.append(f"{rel}:{call.lineno}: {name}(state=…)")
    assert not bad, "state written outside flows/states.py:\n" + "\n".join(bad)


def test_the_scan_would_see_a_stray_writer(tmp_path):
    stray = tmp_path / "stray.py"
    stray.write_text(
        "def f(rs):\n    rs.tx.update_task('r', 't', state='done')\n    rs.tx.write_task_state('r', 't', [], 'x')\n"
    )
    names = [(c.func.attr, [k.arg for k in c.keywords]) for c in _calls(stray)]
    assert ("update_task", ["state"]) in names and ("write_task_state", []) in names


def test_the_store_refuses_a_state_through_its_generic_update(tmp_path):
    from flows.store import Store

    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(ValueError, match="flows.states"), store.transaction() as tx:
        tx.update_task("r", "t", state="done")
    with pytest.raises(ValueError, match="flows.states"), store.transaction() as tx:
        tx.update_run("r", state="completed")
