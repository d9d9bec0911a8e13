"""The board's numbers at their edges: an ended run forecasts nothing (its unmet objective is
missed), a roll call is never offered as a check-off, and the run page draws the forecast the
serving app's forecaster stored."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.actors import local_operator
from tests.support.forecasts import forecast_after_change

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
