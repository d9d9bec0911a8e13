"""Objective messages speak a person's numbers and clock (issue 26, items 3–4): a share as a
percentage, a count without `.0`, the deadline in the site's local time with its zone."""

from __future__ import annotations

from notifications.render import render_event


def message(measure: str, value: float, target: float) -> dict:
    return {
        "event": "objective.at_risk",
        "data": {
            "name": "Staff accounted for",
            "value": value,
            "target": target,
            "measure": measure,
            "deadline": "2021-12-23T04:00:00+00:00",
        },
        "link": None,
        "site": {"id": "xian", "name": "Xi'an", "timezone": "Asia/Shanghai"},
        "run": None,
        "task": None,
        "recipient": {"name": "ops", "id": "channel:ops"},
    }


def test_a_ratio_objective_reads_as_a_percentage_in_chinese_with_the_site_clock():
    _, text = render_event("objective.at_risk", "zh-CN", message("ratio", 0.9, 0.9))
    assert "当前90%，目标90%" in text and "0.9" not in text
    assert "2021-12-23 12:00 CST" in text and "+00:00" not in text


def test_a_count_objective_reads_without_a_trailing_zero():
    _, text = render_event("objective.at_risk", "en", message("count", 48.0, 48))
    assert "Now at 48, target 48." in text and "48.0" not in text
