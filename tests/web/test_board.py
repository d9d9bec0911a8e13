"""The board's numbers at their edges: an ended run forecasts nothing (its unmet objective is
missed), a roll call is never offered as a check-off, and the run page draws the forecast the
serving app's forecaster stored."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import requests

from flows.actors import local_operator
from tests.support.forecasts import forecast_after_change
from tests.support.processes import wait_for

START = datetime(2021, 12, 23, 8, 0, tzinfo=UTC)


def test_an_ended_run_forecasts_nothing_and_its_unmet_objective_is_missed(dash):
    dash.engine.cancel(dash.run, local_operator(), reason="drill over")
    board = dash.engine.board(dash.run)
    assert [(o["forecast"], o["state"], o["open"]) for o in board["objectives"]] == [(None, "missed", False)]


def test_a_roll_call_is_not_offered_as_a_check_off(dash):
    s, _ = dash.login("lead_ops")  # the roll call is owned by team:operations
    page = s.get(dash.url + "/my", timeout=30).text
    assert 'form method="post" action="/my" class="bulk" data-step="roll"' in page
    roll_form = page.split('data-step="roll"')[1].split("</form>")[0]
    assert 'name="task"' not in roll_form and 'value="complete"' not in roll_form


def test_the_run_page_draws_the_forecast_as_a_fan_between_p50_and_p90(dash):
    s, _ = dash.login("viewer")
    objectives = forecast_after_change(  # the serving app's forecaster computes it in the background
        dash.store, dash.run, lambda: s.get(f"{dash.url}/api/runs/{dash.run}/board", timeout=30).json()["objectives"]
    )
    trained = objectives[0]
    assert trained["state"] in ("on_track", "at_risk") and trained["forecast"]["p50"] <= trained["forecast"]["p90"]
    page = s.get(f"{dash.url}/runs/{dash.run}", timeout=30).text
    fan = page.split('class="burnup"')[1].split("</svg>")[0]
    assert '<polygon points="' in fan and 'class="fan"' in fan, "the band from now to P50 and P90"
    assert "P50 " in page and "P90 " in page


def test_the_event_stream_tells_the_dashboard_when_a_newer_forecast_is_stored(dash):
    """The forecast lands a moment after the change it reflects: the stream says so (no `id`:
    not one of the run's events), and the page redraws on it (console/static/app.js)."""
    with dash.store.read() as r:
        after = r.last_event_seq(dash.run)
    seen: list[dict] = []

    def read() -> None:
        url = f"{dash.url}/api/runs/{dash.run}/events?after={after}"
        headers = {"Authorization": f"Bearer {dash.tokens['viewer']}"}
        with requests.get(url, headers=headers, stream=True, timeout=(5, 60)) as r:
            event: dict = {}
            for line in r.iter_lines(decode_unicode=True):
                if line.startswith(("id: ", "event: ", "data: ")):
                    key, _, value = line.partition(": ")
                    event[key] = value
                elif line == ": connected":
                    seen.append({"connected": True})
                elif line == "" and event:
                    seen.append(event)
                    if event.get("event") == "forecast" and json.loads(event["data"])["as_of"] >= changed:
                        return
                    event = {}

    changed = 10**18
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    wait_for(lambda: seen, 30, what="the stream connected")
    dash.engine.complete(dash.run, "fix", local_operator(), note="VPN restarted")
    with dash.store.read() as r:
        changed = r.last_event_seq(dash.run)
    reader.join(60)
    assert not reader.is_alive(), f"no forecast as of {changed} told: {seen}"
    told = [e for e in seen if e.get("event") == "forecast"]
    assert told and all("id" not in e for e in told)
    last = json.loads(told[-1]["data"])
    assert set(last) == {"run", "as_of"} and last["run"] == dash.run and last["as_of"] >= changed
    done = [e for e in seen if e.get("event") == "task.done"]
    assert done and int(done[0]["id"]) > after, "the run's own events still come, with their ids"


def _graph_line(page: str, step: str) -> str:
    return page.split(f"<li><strong>{step}</strong>")[1].split("</li>")[0]


def _headcount(page: str) -> str:
    return page.split('<div id="headcount" data-live>')[1].split("</section>")[0]


def test_the_run_page_shows_a_check_off_and_an_answer_at_the_next_view(dash):
    """What the page derives from the board (console/board_page.py) is kept with it: a view of
    an unchanged run derives nothing again, and the first view after a change shows it, for
    the managers' view and the redacted one alike."""
    people = {who: dash.login(who)[0] for who in ("manager", "lead_it")}
    url = f"{dash.url}/runs/{dash.run}"
    first = {who: s.get(url, timeout=30).text for who, s in people.items()}
    for who, s in people.items():
        again = s.get(url, timeout=30).text
        assert _graph_line(again, "training") == _graph_line(first[who], "training")
        assert "0/12" in _graph_line(again, "training")
    dash.engine.complete(dash.run, "training:E0003", local_operator(), fields={"score": 7})
    for s in people.values():
        assert "1/12" in _graph_line(s.get(url, timeout=30).text, "training")
    dash.engine.answer(dash.run, "roll", "E0001", "onsite", local_operator(), via="lead")
    for who, s in people.items():
        page = s.get(url, timeout=30).text
        assert _headcount(page) != _headcount(first[who])
        answered = int(_headcount(first[who]).split("<small>")[1].split(" / ")[0])
        assert f"<small>{answered + 1} / " in _headcount(page)


def test_the_run_page_shows_a_newly_stored_forecast_at_the_next_view(dash):
    """A forecast stored without any event in the run (the forecaster's, a moment after the
    change it reflects) is seen at the next view: the kept page parts go with the board."""
    s, _ = dash.login("manager")
    forecast_after_change(  # the serving app's forecaster has caught up: it stores nothing more
        dash.store, dash.run, lambda: s.get(f"{dash.url}/api/runs/{dash.run}/board", timeout=30).json()["objectives"]
    )
    url = f"{dash.url}/runs/{dash.run}"
    assert "37% by the deadline" not in s.get(url, timeout=30).text  # viewed: the parts are kept
    now = datetime.now(UTC)
    with dash.store.transaction() as tx:
        seq = tx.last_event_seq(dash.run)
        assert tx.claim_forecast(dash.run, "test", now, now + timedelta(minutes=1))
        tx.put_forecast(dash.run, "test", seq, {"trained": {"p50": None, "p90": None, "probability": 0.373}}, 10, now)
    assert "37% by the deadline" in s.get(url, timeout=30).text
