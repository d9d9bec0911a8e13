"""The dashboard's pages over HTTP, as a browser without script sees them: who sees what, forms
that act once and only with the session's CSRF token, hostile names shown as text, the JSON
twins, the language and the site's time zone."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import requests

from console.api import CSP
from flows.actors import local_operator

from .conftest import HOME

HOSTILE = re.compile(r"<script>window|<img src=x|href=\"?javascript:|onerror=\"window", re.I)


def pages(dash) -> dict[str, str]:
    run = dash.run
    return {
        "overview": "/",
        "run": f"/runs/{run}",
        "task": f"/runs/{run}/tasks/training:{HOME[0]}",
        "fix": f"/runs/{run}/tasks/fix",
        "my": "/my",
        "audit": f"/runs/{run}/audit",
        "calls": f"/runs/{run}/muster/roll/calls",
        "coverage": "/sites/evil/coverage",
        "coverage_sites": "/coverage",
    }


def test_without_a_session_every_page_sends_to_the_login_page(dash):
    for name, path in pages(dash).items():
        r = requests.get(dash.url + path, allow_redirects=False, timeout=30)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), name
    r = requests.get(dash.url + "/", cookies={"rb_session": "forged"}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, "a forged session cookie is no session"


def test_each_role_sees_what_the_policy_allows(dash):
    expect = {"viewer": {"calls": 403}, "lead_it": {}, "manager": {}}  # a lead reads their own teams' call list
    for who, refused in expect.items():
        s, _ = dash.login(who)
        for name, path in pages(dash).items():
            r = s.get(dash.url + path, timeout=30)
            assert r.status_code == refused.get(name, 200), (who, name, r.status_code, r.text[:300])
            assert r.headers["content-security-policy"] == CSP
            assert r.headers["x-frame-options"] == "DENY"
    s, _ = dash.login("manager")
    calls = s.get(dash.url + pages(dash)["calls"], timeout=30).text
    assert "E0001" in calls and "+441000000001" in calls and "E0003" not in calls, "who has not answered, with phones"
    s, _ = dash.login("viewer")
    assert "+441000000001" not in s.get(dash.url + "/api/runs/" + dash.run + "/board", timeout=30).text


def test_a_lead_checks_off_from_the_task_page_once_and_only_with_the_csrf_token(dash):
    s, csrf = dash.login("lead_it")
    path = pages(dash)["task"]
    page = s.get(dash.url + path, timeout=30).text
    assert 'name="action" value="complete"' in page and 'name="f.score"' in page
    before = dash.denials()
    r = s.post(dash.url + path, data={"action": "complete", "f.score": "90"}, allow_redirects=False, timeout=30)
    assert r.status_code == 403 and dash.task(f"training:{HOME[0]}")["state"] == "waiting"
    assert dash.denials() == before + 1, "the refusal is audited"
    form = {"csrf": csrf, "action": "complete", "f.score": "90", "note": "passed", "idem": "k1"}
    first = s.post(dash.url + path, data=form, allow_redirects=False, timeout=30)
    again = s.post(dash.url + path, data=form, allow_redirects=False, timeout=30)  # a double click
    assert first.status_code == again.status_code == 303
    task = dash.task(f"training:{HOME[0]}")
    assert task["state"] == "done" and task["outputs"]["score"] == 90
    with dash.store.read() as r:
        assert len(r.checkoffs(dash.run, f"training:{HOME[0]}")) == 1
    shown = s.get(dash.url + first.headers["location"], timeout=30).text
    assert "passed" in shown and "lead_it" in shown
    bad = s.post(
        dash.url + pages(dash)["task"].replace(HOME[0], HOME[1]),
        data={"csrf": csrf, "action": "complete", "f.score": "ninety"},
        timeout=30,
    )
    assert bad.status_code == 422 and "score" in bad.text and dash.task(f"training:{HOME[1]}")["state"] == "waiting"


def test_a_lead_checks_off_ten_at_once_and_never_another_teams_task(dash):
    s, csrf = dash.login("lead_it")
    my = s.get(dash.url + "/my", timeout=30).text
    assert my.count('name="task"') == 12 + 1, "12 trainings and the fix task"
    ten = [f"training:{p}" for p in HOME[:10]]
    r = s.post(
        dash.url + "/my",
        data={"csrf": csrf, "run": dash.run, "action": "complete", "task": ten, "f.score": "88", "idem": "bulk1"},
        timeout=30,
    )
    assert r.status_code == 200 and "10 ✓" in r.text
    assert all(dash.task(t)["state"] == "done" for t in ten)
    other, other_csrf = dash.login("lead_ops")
    before = dash.denials()
    r = other.post(
        dash.url + "/my",
        data={
            "csrf": other_csrf,
            "run": dash.run,
            "action": "complete",
            "task": [f"training:{HOME[10]}"],
            "f.score": "1",
        },
        timeout=30,
    )
    assert "0 ✓" in r.text and "1 ✗" in r.text and dash.task(f"training:{HOME[10]}")["state"] == "waiting"
    assert dash.denials() == before + 1, "another team's task: refused and audited"
    viewer, viewer_csrf = dash.login("viewer")
    r = viewer.post(dash.url + "/my", data={"csrf": viewer_csrf, "run": dash.run, "task": ["fix"]}, timeout=30)
    assert r.status_code == 403 and dash.task("fix")["state"] == "waiting"


def test_a_manager_intervenes_only_with_a_reason_and_it_is_audited(dash):
    s, csrf = dash.login("manager")
    path = pages(dash)["fix"]
    r = s.post(dash.url + path, data={"csrf": csrf, "action": "skip"}, timeout=30)
    assert r.status_code == 422 and dash.task("fix")["state"] == "waiting"
    r = s.post(dash.url + path, data={"csrf": csrf, "action": "skip", "reason": "VPN fixed by the vendor"}, timeout=30)
    assert r.status_code == 200 and dash.task("fix")["state"] == "skipped"
    audit = s.get(dash.url + f"/runs/{dash.run}/audit", timeout=30).text
    assert "VPN fixed by the vendor" in audit and "verified" in audit
    lead, lead_csrf = dash.login("lead_it")
    r = lead.post(dash.url + pages(dash)["task"], data={"csrf": lead_csrf, "action": "skip", "reason": "x"}, timeout=30)
    assert r.status_code == 403


def test_hostile_names_and_notes_are_text_on_every_page(dash):
    lead, csrf = dash.login("lead_it")
    lead.post(
        dash.url + pages(dash)["task"],
        timeout=30,
        data={
            "csrf": csrf,
            "action": "complete",
            "f.score": "70",
            "note": "<script>window.__xss='note'</script> @all <a href=\"javascript:alert(1)\">x</a>",
        },
    )
    s, _ = dash.login("manager")
    for name, path in pages(dash).items():
        html = s.get(dash.url + path, timeout=30).text
        assert not HOSTILE.search(html), (name, HOSTILE.search(html).group(0))
        if name in ("overview", "run", "task", "calls", "coverage"):
            assert "&lt;script&gt;window.__xss=" in html or "&lt;img src=x" in html, f"{name}: the names are shown"
    assert (
        "&lt;script&gt;window.__xss=&#39;note&#39;&lt;/script&gt;"
        in s.get(dash.url + pages(dash)["task"], timeout=30).text
    )


def test_every_page_has_its_json_twin(dash):
    s, _ = dash.login("manager")
    board = s.get(dash.url + f"/api/runs/{dash.run}/board", timeout=30).json()
    stages = {x["id"]: x for x in board["funnel"]["stages"]}
    assert stages["answered"]["reached"] == 12 and stages["training"]["stuck"] == 12
    assert board["objectives"][0]["value"] == 0 and board["objectives"][0]["target"] == 12
    html = s.get(dash.url + f"/runs/{dash.run}", timeout=30).text
    assert re.search(r'data-stage="training"><td>training</td><td class="num">0</td>\s*<td class="num">12', html)
    overview = s.get(dash.url + "/api/overview", timeout=30).json()
    assert [site["id"] for site in overview["sites"] if site["runs"]] == ["evil"]
    assert {"evil", "xian", "beijing"} <= {site["id"] for site in overview["sites"]}  # every site, to declare one
    mine = dash.login("lead_it")[0].get(dash.url + "/api/my/tasks", timeout=30).json()
    assert sorted(t["id"] for t in mine["runs"][0]["tasks"]) == sorted(["fix"] + [f"training:{p}" for p in HOME])
    task = s.get(dash.url + f"/api/runs/{dash.run}/tasks/fix", timeout=30).json()
    assert task["may"] == {
        "act": True,
        "override": True,
        "intervene": True,
        "skip": True,
        "retry": False,
        "reassign": True,
    }
    calls = s.get(dash.url + f"/api/runs/{dash.run}/muster/roll/calls", timeout=30).json()
    assert calls["total"] == 2 and {t["team"] for t in calls["teams"]} == {"it", "operations"}


def test_chinese_by_choice_or_browser_and_times_in_the_site_zone(dash):
    s, _ = dash.login("lead_it")
    assert "<h1>站点</h1>" in s.get(dash.url + "/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=30).text
    r = s.get(dash.url + "/lang", params={"to": "zh-CN", "next": "/my"}, allow_redirects=False, timeout=30)
    assert r.headers["location"] == "/my"
    assert "我的任务" in s.get(dash.url + "/my", timeout=30).text
    s.get(dash.url + "/lang", params={"to": "en", "next": "/"}, timeout=30)
    page = s.get(dash.url + pages(dash)["fix"], timeout=30).text
    due = dash.task("fix")["due_at"].astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")
    assert f"<dd>{due} CST</dd>" in page, "the due time in Xi'an's zone"


def test_redirects_stay_on_this_server(dash):
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = requests.get(dash.url + "/lang", params={"to": "en", "next": target}, allow_redirects=False, timeout=30)
        assert r.headers["location"] == "/", target
        r = requests.post(
            dash.url + "/login",
            data={"token": dash.tokens["viewer"], "next": target},
            allow_redirects=False,
            timeout=30,
        )
        assert r.headers["location"] == "/", target
    assert requests.get(dash.url + "/static/../api.py", timeout=30).status_code == 404
    assert requests.get(dash.url + "/static/app.js", timeout=30).headers["content-type"].startswith("text/javascript")


def test_the_coverage_page_draws_required_against_staffed_and_follows_the_run(dash):
    s, _ = dash.login("viewer")
    run_page = s.get(dash.url + f"/runs/{dash.run}", timeout=30).text
    assert 'href="/sites/evil/coverage"' in run_page, "the run page links to its site's coverage"
    html = s.get(dash.url + "/sites/evil/coverage?hours=24", timeout=30).text
    assert f'data-runs="{dash.run}:' in html, "the page follows the run that supplies it"
    assert html.count('<g class="c-short g3">') == 48 and html.count("<line ") == 96, "short cells are crossed out"
    assert "0 staffed, 3 required, 3 short</title>" in html
    assert html.count("<svg") == 1, "one heat map: the one queue"
    for agent in HOME[:3]:  # three trained agents: 3 required, 3 staffed
        dash.engine.complete(dash.run, f"training:{agent}", local_operator(), fields={"score": "80"})
    html = s.get(dash.url + "/sites/evil/coverage?hours=24", timeout=30).text
    assert html.count('<g class="c-short') == 0 and html.count('<g class="c-ok">') == 48
    assert ">100%</strong>" in html
    zh = s.get(dash.url + "/sites/evil/coverage", headers={"Accept-Language": "zh-CN"}, timeout=30).text
    assert "服务覆盖" in zh and "已覆盖" in zh and "3 在岗, 3 需要" in zh
    assert s.get(dash.url + "/sites/nowhere/coverage", timeout=30).status_code == 404
    index = s.get(dash.url + "/coverage", timeout=30).text
    assert 'href="/sites/evil/coverage"' in index and f'href="/runs/{dash.run}"' in index
    assert 'href="/coverage"' in s.get(dash.url + "/", timeout=30).text, "the overview links to it"


def test_a_lead_ticks_people_on_a_people_field_and_a_stranger_is_refused(dash):
    s, csrf = dash.login("lead_ops")
    path = f"/runs/{dash.run}/tasks/crew"
    page = s.get(dash.url + path, timeout=30).text
    boxes = re.findall(r'<input type="checkbox" name="f.people" value="(E\d{4})">', page)
    assert len(boxes) == 16 and boxes[0] == "E0001", "one box per person of the roster"
    assert not HOSTILE.search(page), "the roster's names and teams are text"
    bad = s.post(
        dash.url + path,
        data={"csrf": csrf, "action": "complete", "f.people": ["E0003", "Z9999"], "idem": "p0"},
        timeout=30,
    )
    assert bad.status_code == 422 and "not among the people this field lists: Z9999" in bad.text
    form = {"csrf": csrf, "action": "complete", "f.people": ["E0003", "E0004", "E0015"], "idem": "p1"}
    assert s.post(dash.url + path, data=form, allow_redirects=False, timeout=30).status_code == 303
    task = dash.task("crew")
    assert task["state"] == "done" and task["outputs"]["people"] == ["E0003", "E0004", "E0015"]
