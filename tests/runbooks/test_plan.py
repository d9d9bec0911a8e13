"""Plan stage: inputs, durations, per-item pipelines, and rebuilding a run's plan from its text."""

from __future__ import annotations

import pytest

from runbooks.diagnostics import RunbookError
from runbooks.plan import load_plan, plan_from_text
from runbooks.sites import Site


def test_durations_are_seconds_and_defaults_apply(write_runbook, xian):
    path = write_runbook(
        {
            "id": "rb",
            "name": "x",
            "steps": [
                {
                    "id": "a",
                    "kind": "manual",
                    "owner": "team:it",
                    "due": "1h30m",
                    "remind": {"every": "20m"},
                    "escalate": {"after": "2d", "to": "owner"},
                }
            ],
        }
    )
    step = load_plan(path, xian).step("a")
    assert (step.due, step.remind, step.escalate, step.on_timeout, step.drill) == (
        5400,
        (1200, 3),
        (172800, "owner"),
        "flag",
        "record",
    )


def test_same_for_each_makes_a_per_item_need_and_a_different_one_waits_for_all(write_runbook, xian):
    staff = "${{ site.staff }}"
    path = write_runbook(
        {
            "id": "rb",
            "name": "x",
            "steps": [
                {"id": "a", "kind": "manual", "owner": "team:it", "for_each": staff, "as": "p"},
                {"id": "b", "kind": "manual", "owner": "team:it", "for_each": staff, "as": "p", "needs": ["a"]},
                {"id": "c", "kind": "manual", "owner": "team:it", "needs": ["b"]},
            ],
        }
    )
    plan = load_plan(path, xian)
    assert (plan.step("b").item_needs, plan.step("b").all_needs) == (("a",), ())
    assert (plan.step("c").item_needs, plan.step("c").all_needs) == ((), ("b",))


def test_inputs_are_typed_and_required_ones_must_be_given(write_runbook, xian):
    path = write_runbook(
        {
            "id": "rb",
            "name": "x",
            "inputs": {
                "n": {"type": "integer", "required": True},
                "mode": {"type": "choice", "options": ["drill", "real"], "default": "drill"},
            },
            "steps": [{"id": "a", "kind": "manual", "owner": "team:it"}],
        }
    )
    with pytest.raises(RunbookError) as exc:
        load_plan(path, xian)
    assert 'input "n" is required' in exc.value.diagnostics[0].message
    assert dict(load_plan(path, xian, {"n": "7"}).inputs) == {"n": 7, "mode": "drill"}
    with pytest.raises(RunbookError, match="expected one of drill, real"):
        load_plan(path, xian, {"n": "7", "mode": "live"})


def test_a_runs_plan_is_rebuilt_from_its_stored_text_and_site_snapshot(xian):
    from runbooks.library import runbook_files

    path = runbook_files()["callcenter_lockdown"]
    original = load_plan(path, xian)
    snapshot = Site.from_snapshot(xian.snapshot())
    rebuilt = plan_from_text(original.source, str(path), snapshot, {"home_agents": 48})
    assert rebuilt.source_hash == original.source_hash
    assert [s.id for s in rebuilt.steps] == [s.id for s in original.steps]
    assert rebuilt.site.snapshot() == xian.snapshot()


def test_a_reminder_after_the_due_time_is_a_plan_warning(write_runbook, xian):
    from runbooks.estimate import estimate_plan

    path = write_runbook(
        "id: rb\nname: Late reminder\nsteps:\n  - {id: a, kind: manual, owner: team:it, due: 1h, remind: {every: 2h}}\n"
    )
    report = estimate_plan(load_plan(path, xian))
    (warning,) = [w for w in report.warnings if w.code == "RB604"]
    assert warning.severity == "warning" and warning.line == 4
    assert "reminds every 2h but is due in 1h" in warning.message


def test_numbers_have_bounds_and_are_finite_and_durations_have_a_ceiling(write_runbook, xian):
    path = write_runbook(
        {
            "id": "rb",
            "name": "x",
            "inputs": {"agents": {"type": "integer", "minimum": 0, "maximum": 500}, "share": {"type": "number"}},
            "steps": [{"id": "a", "kind": "manual", "owner": "team:it"}],
        }
    )
    assert dict(load_plan(path, xian, {"agents": "48", "share": "0.5"}).inputs) == {"agents": 48, "share": 0.5}
    for given, message in (
        ({"agents": "-5"}, "must be at least 0"),
        ({"agents": "1e23"}, "expected an integer"),
        ({"agents": "²"}, "expected an integer"),
        ({"agents": 501}, "must be at most 500"),
        ({"share": "nan"}, "expected a number"),
        ({"share": float("inf")}, "not a finite number"),
    ):
        with pytest.raises(RunbookError, match=message):
            load_plan(path, xian, given)
    bad = write_runbook(
        {
            "id": "rb",
            "name": "x",
            "inputs": {"mode": {"type": "string", "minimum": 1}, "n": {"type": "integer", "minimum": 5, "maximum": 1}},
            "steps": [{"id": "a", "kind": "manual", "owner": "team:it", "due": "99999999999h"}],
        }
    )
    with pytest.raises(RunbookError) as exc:
        load_plan(bad, xian)
    messages = " | ".join(d.message for d in exc.value.diagnostics)
    assert "minimum is for integer and number only" in messages
    assert "minimum is greater than maximum" in messages
    assert 'duration "99999999999h"' in messages


GRANT = """id: rb
name: Short grant
steps:
  - id: access
    kind: grant
    system: iam
    profile: home_agent_restricted
    expires: {expires}
    review: 7d
    with: {{method: POST, url: "https://iam.example/grants"}}
    revoke: {{method: DELETE, url: "https://iam.example/grants/${{{{ grant.iam_id }}}}"}}
"""


def test_a_grant_expiring_before_its_first_review_is_a_plan_warning_at_its_line(write_runbook, xian):
    from runbooks.estimate import estimate_plan

    report = estimate_plan(load_plan(write_runbook(GRANT.format(expires="3d")), xian))
    (warning,) = [w for w in report.warnings if w.code == "RB551"]
    assert (warning.severity, warning.line) == ("warning", 4)
    assert 'grant step "access" expires after 3d, before its first review (7d)' in warning.message
    longer = estimate_plan(load_plan(write_runbook(GRANT.format(expires="30d"), "ok.yaml"), xian))
    assert not [w for w in longer.warnings if w.code == "RB551"]
