"""The report page, linked from the run page: the same report as the API's, its roll-call curve
and step-duration bars drawn as SVG by the server, names from the runbook escaped, the
dashboard's language; the site's findings page and the open findings on the overview."""

from __future__ import annotations

import re

from markupsafe import escape

from flows.actors import local_operator


def test_the_run_page_links_the_report_page_which_draws_its_charts(dash):
    s, _ = dash.login("viewer")
    run_page = s.get(f"{dash.url}/runs/{dash.run}", timeout=30).text
    assert f'href="/runs/{dash.run}/report"' in run_page
    page = s.get(f"{dash.url}/runs/{dash.run}/report", timeout=30)
    assert page.status_code == 200 and "After-action report" in page.text
    assert '<svg class="curve"' in page.text and "<polyline" in page.text, "the roll call's response curve"
    assert "<script>" not in page.text and "<style>" not in page.text, "nothing inline (the CSP allows none)"
    report = dash.engine.report(dash.run)
    for o in report["objectives"]:
        assert str(escape(o["name"])) in page.text
    assert "<img" not in page.text, "names from the runbook are text"
    (rc,) = report["roll_calls"]
    assert f"{rc['answered']} / {rc['asked']}" in page.text
    s.cookies.set("rb_lang", "zh-CN")
    assert "事后总结报告" in s.get(f"{dash.url}/runs/{dash.run}/report", timeout=30).text
    assert s.get(f"{dash.url}/runs/rnope/report", timeout=30).status_code == 404


def test_open_findings_show_on_the_overview_and_the_sites_findings_page(dash):
    found = dash.engine.add_finding(
        dash.run,
        local_operator(),
        observation="<b>Call list</b> printed late",
        recommendation="Print it at the escalation",
        owner="team:it",
        due="7d",
    )
    s, _ = dash.login("viewer")
    overview = s.get(dash.url + "/", timeout=30).text
    assert "Print it at the escalation" in overview and "/sites/evil/findings" in overview
    page = s.get(f"{dash.url}/sites/evil/findings", timeout=30).text
    assert found["id"] in page and "&lt;b&gt;Call list&lt;/b&gt;" in page and "<b>Call list" not in page
    assert re.search(rf'href="/runs/{dash.run}/report"', page)


def test_a_manager_records_and_closes_a_finding_from_the_pages_and_others_cannot(dash):
    s, csrf = dash.login("manager")
    page = s.get(f"{dash.url}/runs/{dash.run}/report", timeout=30).text
    idem = re.search(r'name="idem" value="([^"]+)"', page).group(1)
    form = {
        "csrf": csrf,
        "idem": idem,
        "observation": "Call list late",
        "recommendation": "Print it at the escalation",
        "owner": "team:it",
        "due": "7d",
    }
    for _ in range(2):  # a double click records one
        r = s.post(f"{dash.url}/runs/{dash.run}/findings", data=form, timeout=30, allow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith(f"/runs/{dash.run}/report?ok=1")
    (found,) = dash.engine.findings("evil")["findings"]
    assert found["observation"] == "Call list late" and found["created_by"] == "manager"
    bad = s.post(f"{dash.url}/runs/{dash.run}/findings", data={**form, "idem": "x2", "due": "soon"}, timeout=30)
    assert bad.status_code == 422 and "--due takes a duration" in bad.text
    forged = s.post(f"{dash.url}/runs/{dash.run}/findings", data={**form, "csrf": "nope", "idem": "x3"}, timeout=30)
    assert forged.status_code == 403
    v, vcsrf = dash.login("viewer")
    assert 'id="add-finding"' not in v.get(f"{dash.url}/runs/{dash.run}/report", timeout=30).text
    refused = v.post(
        f"{dash.url}/sites/evil/findings/{found['id']}/close", data={"csrf": vcsrf, "reason": "x"}, timeout=30
    )
    assert refused.status_code == 403
    assert "/close" in s.get(f"{dash.url}/sites/evil/findings", timeout=30).text
    closed = s.post(
        f"{dash.url}/sites/evil/findings/{found['id']}/close",
        data={"csrf": csrf, "reason": "printed at 3h now"},
        timeout=30,
        allow_redirects=False,
    )
    assert closed.status_code == 303
    assert dash.engine.finding(found["id"])["reason"] == "printed at 3h now"
    assert len(dash.engine.findings("evil")["findings"]) == 1
