"""A manager runs the response from the dashboard (issue 26, items 1–2), over a real socket:
every site on the overview with a declare-lockdown form (a drill by default, a real one only
with the site's id typed), the runbooks page and a runbook's start form from its inputs, a
status update on the run's timeline and to the site's channel, an ad-hoc task, stand-down
confirmed; each behind the API's policy row, CSRF-checked and audited."""

from __future__ import annotations

import re

from console import auth


def form(s, dash, path: str, csrf: str, **fields):
    return s.post(dash.url + path, data={"csrf": csrf, **fields}, allow_redirects=False, timeout=30)


def audit_actions(dash, chain: str) -> list[str]:
    with dash.store.read() as r:
        return [e["action"] for e in r.audit(chain)]


def test_the_overview_lists_every_site_with_a_declare_form_for_a_manager_only(dash):
    s, _ = dash.login("manager")
    html = s.get(dash.url + "/", timeout=30).text
    for site in ("xian", "beijing", "evil"):
        assert f'id="site-{site}"' in html
    assert 'action="/sites/xian/lockdown"' in html
    assert re.search(r'name="mode" value="drill" checked', html)
    viewer = dash.login("viewer")[0].get(dash.url + "/", timeout=30).text
    assert 'id="site-xian"' in viewer and "/lockdown" not in viewer


def test_a_drill_lockdown_from_the_overview_starts_the_site_runbooks_as_a_drill(dash):
    s, csrf = dash.login("manager")
    r = form(s, dash, "/sites/xian/lockdown", csrf, mode="drill")
    assert r.status_code == 303, r.text
    overview = s.get(dash.url + "/api/overview", timeout=30).json()
    xian = next(site for site in overview["sites"] if site["id"] == "xian")
    assert xian["lockdown"]["drill"] is True and xian["runs"] and all(run["drill"] for run in xian["runs"])
    assert "site.lockdown" in audit_actions(dash, "site:xian")


def test_a_real_lockdown_needs_the_site_id_typed_and_csrf(dash):
    s, csrf = dash.login("manager")
    r = form(s, dash, "/sites/beijing/lockdown", csrf, mode="real", confirm="beijng")
    assert r.status_code == 422 and "type the site id &#34;beijing&#34;" in r.text
    assert form(s, dash, "/sites/beijing/lockdown", "wrong", mode="real", confirm="beijing").status_code == 403
    with dash.store.read() as rd:
        assert rd.active_lockdown("beijing") is None
    assert form(s, dash, "/sites/beijing/lockdown", csrf, mode="real", confirm="beijing").status_code == 303
    with dash.store.read() as rd:
        assert not rd.active_lockdown("beijing")["drill"]


def test_a_lead_cannot_declare_a_lockdown_and_the_refusal_is_audited(dash):
    s, csrf = dash.login("lead_it")
    before = dash.denials()
    assert form(s, dash, "/sites/xian/lockdown", csrf, mode="drill").status_code == 403
    assert dash.denials() == before + 1


def test_the_runbooks_api_gives_inputs_and_the_sites_each_validates_for(dash):
    s, _ = dash.login("viewer")
    ids = [rb["id"] for rb in s.get(dash.url + "/api/runbooks", timeout=30).json()["runbooks"]]
    assert {"datacenter_failover", "callcenter_lockdown", "webtest"} <= set(ids)
    rb = s.get(dash.url + "/api/runbooks/datacenter_failover", timeout=30).json()
    assert {i["name"]: (i["type"], i["default"]) for i in rb["inputs"]} == {
        "target_site": ("string", "beijing"),
        "drain_minutes": ("integer", 5),
    }
    assert "beijing" in [site["id"] for site in rb["sites"]]
    assert s.get(dash.url + "/api/runbooks/datacenter_failovr", timeout=30).status_code == 404
    missing = s.get(dash.url + "/api/runbooks/datacenter_failovr", timeout=30).json()["error"]["message"]
    assert 'did you mean "datacenter_failover"' in missing


def test_a_runbook_starts_from_its_form_with_the_inputs_given(dash):
    s, csrf = dash.login("manager")
    page = s.get(dash.url + "/runbooks/datacenter_failover", timeout=30).text
    assert 'name="in.drain_minutes"' in page and 'value="5"' in page
    idem = re.search(r'name="idem" value="([^"]+)"', page).group(1)
    fields = {"site": "beijing", "in.target_site": "xian", "in.drain_minutes": "9", "mode": "drill", "idem": idem}
    r = form(s, dash, "/runbooks/datacenter_failover/start", csrf, **fields)
    assert r.status_code == 303 and r.headers["location"].startswith("/runs/r")
    run_id = r.headers["location"].split("/")[2].split("?")[0]
    run = s.get(dash.url + f"/api/runs/{run_id}", timeout=30).json()
    assert run["inputs"] == {"target_site": "xian", "drain_minutes": 9} and run["drill"] is True
    again = form(s, dash, "/runbooks/datacenter_failover/start", csrf, **fields)  # a double click
    assert again.headers["location"] == r.headers["location"]
    bad = form(s, dash, "/runbooks/datacenter_failover/start", csrf, site="beijing", **{"in.drain_minutes": "x"})
    assert bad.status_code == 422 and "drain_minutes" in bad.text


def test_a_status_update_shows_on_the_timeline_and_goes_to_the_site_channel(dash):
    s, csrf = dash.login("manager")
    r = s.post(
        dash.url + f"/api/runs/{dash.run}/updates",
        json={"text": "  Floor 3 sealed;   IT on site  "},
        headers={"X-CSRF-Token": csrf},
        timeout=30,
    )
    assert r.status_code == 201 and r.json()["text"] == "Floor 3 sealed; IT on site"
    assert form(s, dash, f"/runs/{dash.run}/updates", csrf, text="Second <b>update</b>").status_code == 303
    board = s.get(dash.url + f"/api/runs/{dash.run}/board", timeout=30).json()
    updates = [e for e in board["timeline"] if e["event"] == "run.update"]
    assert [e["text"] for e in updates] == ["Floor 3 sealed; IT on site", "Second <b>update</b>"]
    assert updates[0]["by"] == "manager"
    html = s.get(dash.url + f"/runs/{dash.run}", timeout=30).text
    assert "Second &lt;b&gt;update&lt;/b&gt;" in html and 'id="timeline"' in html
    with dash.store.read() as rd:
        sent = [o for o in rd.outbox(run_id=dash.run) if o["event"] == "run.update"]
    assert sent and all(o["recipient"].startswith("channel:") for o in sent)
    assert "Floor 3 sealed" in sent[0]["message"]["text"]
    assert audit_actions(dash, dash.run).count("run.update") == 2
    empty = s.post(
        dash.url + f"/api/runs/{dash.run}/updates", json={"text": "   "}, headers={"X-CSRF-Token": csrf}, timeout=30
    )
    assert empty.status_code == 422
    lead, lead_csrf = dash.login("lead_it")
    refused = lead.post(
        dash.url + f"/api/runs/{dash.run}/updates", json={"text": "hi"}, headers={"X-CSRF-Token": lead_csrf}, timeout=30
    )
    assert refused.status_code == 403 and "team_lead" not in auth.POLICY["run_update"]


def test_an_ad_hoc_task_from_the_run_page_needs_a_reason_and_opens_its_page(dash):
    s, csrf = dash.login("manager")
    html = s.get(dash.url + f"/runs/{dash.run}", timeout=30).text
    assert 'id="add-task"' in html
    r = form(s, dash, f"/runs/{dash.run}/tasks", csrf, title="Fetch the spare keys", owner="team:it", due="2h")
    assert r.status_code == 422
    r = form(s, dash, f"/runs/{dash.run}/tasks", csrf, title="Fetch the spare keys", owner="team:it", reason="lost")
    assert r.status_code == 303 and "/tasks/adhoc%3A1" in r.headers["location"]
    assert dash.task("adhoc:1")["owner"] == "team:it"


def test_stand_down_asks_for_the_site_id_and_ends_the_lockdown(dash):
    s, csrf = dash.login("manager")
    assert form(s, dash, "/sites/xian/lockdown", csrf, mode="drill").status_code == 303
    assert 'action="/sites/xian/standdown"' in s.get(dash.url + "/", timeout=30).text
    assert form(s, dash, "/sites/xian/standdown", csrf).status_code == 422
    assert form(s, dash, "/sites/xian/standdown", csrf, confirm="xian").status_code == 303
    with dash.store.read() as rd:
        assert rd.active_lockdown("xian") is None
    assert "site.standdown" in audit_actions(dash, "site:xian")
