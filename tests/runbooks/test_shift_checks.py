"""A `shifts` step's bad rules are located errors with their codes: a pattern over 24 h, `rest`
over a day, an eligible set with nobody in it, a queue the site lacks."""

from __future__ import annotations

from runbooks.plan import validate_file
from runbooks.sites import load_site
from tests.conftest import LAB

ROSTER = load_site(LAB / "sites" / "roster")


def shifts_step(**over: str) -> str:
    keys = {
        "queue": "hotline",
        "patterns": '[{start: "08:00", length: 8h}, {start: "16:00", length: 8h}]',
        "rest": "12h",
        "from": "\"${{ site.staff | selectattr('team', 'eq', 'ops') | list }}\"",
        **over,
    }
    body = "\n".join(f"    {k}: {v}" for k, v in keys.items())
    return f"id: rota\nname: Rota\nsteps:\n  - id: plan\n    kind: shifts\n{body}\n"


def problems(write_runbook, text: str) -> list[tuple[str, int, str]]:
    return [(d.code, d.line, d.message) for d in validate_file(write_runbook(text), ROSTER)]


def test_a_valid_shifts_step_validates_against_its_site(write_runbook):
    assert problems(write_runbook, shifts_step()) == []


def test_a_pattern_longer_than_a_day_is_reported_at_its_length(write_runbook):
    found = problems(
        write_runbook, shifts_step(patterns='[{start: "08:00", length: 8h}, {start: "16:00", length: 25h}]')
    )
    assert [(c, line) for c, line, _ in found] == [("RB520", 7)]
    assert "pattern 2 lasts 25h, longer than a day" in found[0][2]


def test_rest_longer_than_a_day_is_reported_at_rest(write_runbook):
    found = problems(write_runbook, shifts_step(rest="30h"))
    assert [(c, line) for c, line, _ in found] == [("RB521", 8)]


def test_an_eligible_set_with_nobody_in_it_is_reported_at_from(write_runbook):
    nobody = "\"${{ site.staff | selectattr('team', 'eq', 'kitchen') | list }}\""
    found = problems(write_runbook, shifts_step(**{"from": nobody}))
    assert [(c, line) for c, line, _ in found] == [("RB522", 9)]
    assert 'gives no one on site "roster"' in found[0][2]
    assert [c for c, _, _ in problems(write_runbook, shifts_step(**{"from": "[]"}))] == ["RB522"]


def test_a_queue_the_site_lacks_is_reported_with_a_suggestion(write_runbook):
    found = [d for d in validate_file(write_runbook(shifts_step(queue="hotlin")), ROSTER)]
    assert [(d.code, d.line) for d in found] == [("RB523", 6)]
    assert found[0].hint and "hotline" in found[0].hint
