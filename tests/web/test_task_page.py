"""The task page (issue 26, item 7): the Reason box only for an override, after a check-off a
link on to the lead's next open task of the same step, and no Skip on an ended task."""

from __future__ import annotations

import re

from .conftest import HOME


def test_the_owning_lead_gets_no_reason_box_and_an_overriding_manager_must_give_one(dash):
    lead, _ = dash.login("lead_it")
    page = lead.get(f"{dash.url}/runs/{dash.run}/tasks/training:{HOME[0]}", timeout=30).text
    assert 'id="act"' in page and 'name="reason"' not in page
    manager, _ = dash.login("manager")
    page = manager.get(f"{dash.url}/runs/{dash.run}/tasks/training:{HOME[0]}", timeout=30).text
    act = page.split('id="act"', 1)[1].split("</form>", 1)[0]
    assert re.search(r'name="reason" required', act)


def test_after_a_check_off_the_lead_is_offered_the_next_open_task_of_the_step(dash):
    lead, csrf = dash.login("lead_it")
    url = f"{dash.url}/runs/{dash.run}/tasks/training:{HOME[0]}"
    r = lead.post(url, data={"csrf": csrf, "action": "complete", "f.score": "90", "idem": "k1"}, timeout=30)
    assert r.status_code == 200 and r.url.endswith("?ok=complete")
    assert "Checked off ✓" in r.text
    following = re.search(r'id="next-task">[^<]*<a href="/runs/[^/]+/tasks/([^"]+)"', r.text)
    assert following, "a link on to the next task"
    nxt = following.group(1).replace("%3A", ":")
    assert nxt.startswith("training:") and nxt != f"training:{HOME[0]}"
    assert dash.task(nxt)["state"] == "waiting"


def test_an_ended_task_offers_no_skip_and_a_failed_one_offers_retry(dash):
    manager, csrf = dash.login("manager")
    url = f"{dash.url}/runs/{dash.run}/tasks/training:{HOME[1]}"
    open_page = manager.get(url, timeout=30).text
    assert 'value="skip"' in open_page and 'value="retry"' not in open_page
    r = manager.post(url, data={"csrf": csrf, "action": "skip", "reason": "left the bank"}, timeout=30)
    assert r.status_code == 200 and dash.task(f"training:{HOME[1]}")["state"] == "skipped"
    assert 'value="skip"' not in r.text and 'value="reassign"' not in r.text and 'id="intervene"' not in r.text
