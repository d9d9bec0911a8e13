"""Bad input gets a 4xx naming where and why, never a 500 and never a half-write (issue 23's
findings, each a regression test): non-finite numbers, NUL and control characters in ids and
text on SQLite and PostgreSQL (their refusal audited all the same), out-of-bounds numbers and
durations, too many form fields, odd event-stream cursors, odd roll-call options."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from flows.store.schema import audit, checkoffs, tasks

NUMBERS = """id: numbers
name: Numbers
steps:
  - id: count
    kind: manual
    owner: team:it
    fields:
      agents: {type: integer, minimum: 0, maximum: 500}
      ratio: {type: number, minimum: 0, maximum: 1}
      note: {type: string}
"""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def backend(request, monkeypatch):
    if request.param == "postgresql":
        from sqlalchemy import text

        from flows.store import Store, metadata

        url = request.getfixturevalue("pg_url")
        s = Store(url)
        with s.engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " CASCADE"))
        s.dispose()
        monkeypatch.setenv("RUNBOOK_DATABASE_URL", url)
    return request.param


@pytest.fixture
def numbers(backend, api):
    (api_library(api) / "numbers.yaml").write_text(NUMBERS)
    return api


def api_library(api):
    import os
    from pathlib import Path

    return Path(os.environ["RUNBOOK_LIBRARY"].split(os.pathsep)[0])


def counts(api) -> tuple[int, int, int]:
    with api.store.engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (audit, checkoffs, tasks))


def assert_refused(r, status: int, *words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    message = r.json()["error"]["message"]
    for w in words:
        assert w in message, (w, message)


def test_non_finite_numbers_are_refused_and_nothing_is_stored(numbers):
    api = numbers
    run = api.start("numbers")
    before = counts(api)
    for value in ("NaN", "Infinity", "-Infinity", "1e999"):
        r = api.call(
            "lead_it",
            "POST",
            f"/api/runs/{run}/tasks/count/complete",
            data=f'{{"fields": {{"ratio": {value}}}}}',
            headers={"Content-Type": "application/json"},
        )
        assert_refused(r, 422, "not a finite number")
    for value in ("nan", "inf", "1e999"):  # as text, the way a form or the CLI sends them
        r = api.call("lead_it", "POST", f"/api/runs/{run}/tasks/count/complete", json={"fields": {"ratio": value}})
        assert_refused(r, 422, 'field "ratio"')
    assert counts(api) == before
    assert api.call("lead_it", "GET", f"/api/runs/{run}/tasks").status_code == 200
    assert api.call("manager", "GET", f"/api/runs/{run}/audit").json()["verified"]


def test_numbers_outside_their_bounds_are_refused(numbers):
    api = numbers
    run = api.start("numbers")
    before = counts(api)
    for fields, words in (
        ({"agents": -5}, ('field "agents"', "at least 0")),
        ({"agents": 1e23}, ('field "agents"', "expected an integer")),
        ({"agents": 10**30}, ('field "agents"', "at most 500")),
        ({"ratio": 1.5}, ('field "ratio"', "at most 1")),
    ):
        r = api.call("lead_it", "POST", f"/api/runs/{run}/tasks/count/complete", json={"fields": fields})
        assert_refused(r, 422, *words)
    assert counts(api) == before


def test_nul_and_control_characters_are_refused_on_both_backends_and_the_refusal_audited(numbers):
    api = numbers
    run = api.start("numbers")
    before = counts(api)
    r = api.call("lead_it", "POST", f"/api/runs/{run}/tasks/count/complete", json={"fields": {"note": "a\x00b"}})
    assert_refused(r, 422, "control character", "U+0000")
    r = api.call("manager", "POST", f"/api/runs/{run}/cancel", json={"reason": "bad\x07bell"})
    assert_refused(r, 422, "control character", "U+0007")
    r = api.call("lead_it", "POST", f"/api/runs/{run}/tasks/count%00x/complete", json={"fields": {}})
    assert r.status_code in (404, 422), r.text
    assert counts(api) == before
    # A refusal whose path holds a NUL keeps its audit row (the NUL written as an escape).
    denied = api.call("viewer", "POST", f"/api/runs/{run}%00/cancel", json={"reason": "x"})
    assert denied.status_code in (403, 422), denied.text
    if denied.status_code == 403:
        assert any("\\x00" in (e["target"] or "") for e in api.denials())
    assert api.call("manager", "GET", f"/api/runs/{run}/audit").json()["verified"]
    r = api.call("manager", "POST", f"/api/runs/{run}/cancel", json={"reason": "multi\nline\treason"})
    assert r.status_code == 200, r.text  # newline, carriage return and tab are text


def test_too_many_form_fields_get_413(api):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for path, fields in (("/login", 11), ("/r/sometoken", 6)):  # more than the form has: answered
        body = "&".join(f"f{i}=x" for i in range(fields))
        r = api.call(None, "POST", path, data=body, headers=form, allow_redirects=False)
        assert r.status_code < 500, (path, r.status_code, r.text[:200])
    body = "&".join(f"f{i}=x" for i in range(3000))
    for path in ("/login", "/r/sometoken", "/runs/r1/tasks/t/complete"):
        r = api.call(None, "POST", path, data=body, headers=form)
        assert r.status_code == 413, (path, r.status_code, r.text[:200])


def test_event_stream_cursors_out_of_range_or_not_ascii_are_refused(api):
    run = api.start()
    r = api.call("manager", "GET", f"/api/runs/{run}/events?after=-99999999999999999999", stream=True)
    assert_refused(r, 422, "after")
    r = api.call("manager", "GET", f"/api/runs/{run}/events", headers={"Last-Event-ID": "é".encode()}, stream=True)
    assert_refused(r, 422, "Last-Event-ID")


def test_an_ad_hoc_task_due_too_far_is_refused(api):
    run = api.start()
    before = counts(api)
    r = api.call(
        "manager",
        "POST",
        f"/api/runs/{run}/tasks",
        json={"title": "Extra", "owner": "team:it", "due": "99999999999h", "reason": "r"},
    )
    assert_refused(r, 422, "due")
    assert counts(api) == before


def test_an_option_that_is_a_digit_but_not_a_number_is_refused(api):
    run = api.start()
    r = api.call("lead_ops", "POST", f"/api/runs/{run}/muster/roll/answers", json={"person": "L0011", "option": "²"})
    assert_refused(r, 422, "²")
