"""The board's numbers at their edges: a forecast is omitted rather than absurd, an ended run
forecasts nothing, and a roll call is never offered as a check-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.actors import local_operator
from flows.board_shapes import forecast_eta

START = datetime(2021, 12, 23, 8, 0, tzinfo=UTC)


def test_a_forecast_follows_the_recent_rate_and_is_omitted_when_absurd():
    now = START + timedelta(hours=3)
    deadline = START + timedelta(hours=4)
    steady = [
        (START, 0.0),
        (START + timedelta(hours=1), 0.3),
        (START + timedelta(hours=2), 0.6),
        (START + timedelta(hours=3), 0.9),
    ]
    assert forecast_eta(steady, 1.0, START, now, deadline) == now + timedelta(minutes=20)
    stalled = [(START, 0.0), (START + timedelta(minutes=10), 2 / 3)]  # nothing since: the average rate
    assert forecast_eta(stalled, 1.0, START, now, deadline) == now + timedelta(hours=1, minutes=30)
    crawling = [(START, 0.0), (START + timedelta(hours=2, minutes=59), 1e-9)]
    assert forecast_eta(crawling, 1.0, START, now, deadline) is None, "no 97-day forecast, and no overflow"
    assert forecast_eta([(START, 0.0)], 1.0, START, now, deadline) is None


def test_an_ended_run_forecasts_nothing(dash):
    dash.engine.cancel(dash.run, local_operator(), reason="drill over")
    board = dash.engine.board(dash.run)
    assert [(o["eta"], o["on_track"], o["open"]) for o in board["objectives"]] == [(None, False, False)]


def test_a_roll_call_is_not_offered_as_a_check_off(dash):
    s, _ = dash.login("lead_ops")  # the roll call is owned by team:operations
    page = s.get(dash.url + "/my", timeout=30).text
    assert 'form method="post" action="/my" class="bulk" data-step="roll"' in page
    roll_form = page.split('data-step="roll"')[1].split("</form>")[0]
    assert 'name="task"' not in roll_form and 'value="complete"' not in roll_form
