"""The shipped bilingual runbook read by two people: the same run's page, task page and JSON
in Chinese for a zh-CN reader and in English for an en reader; the JSON carries both texts
under `texts`; a Chinese text is escaped like any other."""

from __future__ import annotations

from flows.actors import local_operator
from runbooks.texts import Texts


def _lockdown(dash) -> str:
    runs, _ = dash.engine.lockdown("xian", local_operator(), drill=True)
    return next(r["id"] for r in runs if r["runbook"] == "callcenter_lockdown")


def _page(dash, path: str, lang: str) -> str:
    session, _ = dash.login("manager")
    session.cookies.set("rb_lang", lang)
    r = session.get(dash.url + path, timeout=30)
    assert r.status_code == 200, (path, r.status_code)
    return r.text


def test_the_run_page_of_a_shipped_runbook_is_in_each_readers_language(dash):
    run = _lockdown(dash)
    zh, en = _page(dash, f"/runs/{run}", "zh-CN"), _page(dash, f"/runs/{run}", "en")
    for words in ("呼叫中心封控业务连续性", "西安客服中心", "居家坐席已上线"):
        assert words in zh and words not in en, words
    for words in ("Call-center lockdown continuity", "Home agents live"):
        assert words in en and words not in zh, words


def test_the_runbook_page_shows_its_inputs_descriptions_in_the_readers_language(dash):
    zh, en = _page(dash, "/runbooks/callcenter_lockdown", "zh-CN"), _page(dash, "/runbooks/callcenter_lockdown", "en")
    assert "保障热线所需的居家坐席人数" in zh and "呼叫中心封控业务连续性" in zh
    assert "Home agents needed to keep the hotline staffed" in en and "保障热线" not in en


def test_the_task_page_shows_the_task_and_its_field_descriptions_in_the_readers_language(dash):
    run = _lockdown(dash)
    dash.engine.close_muster(run, "roll_call", local_operator(), reason="test: the roll call is over")
    zh, en = _page(dash, f"/runs/{run}/tasks/experts", "zh-CN"), _page(dash, f"/runs/{run}/tasks/experts", "en")
    assert "指定在线解答居家坐席问题的资深员工" in zh and "专家支持线上的资深员工" in zh
    assert "Name the senior staff answering home agents&#39; questions online" in en
    assert "Senior staff on the expert line" in en and "专家" not in en


def test_the_json_gives_the_requests_language_and_both_texts(dash):
    run = _lockdown(dash)
    session, _ = dash.login("manager")
    for lang, title in (
        ("zh-CN", "指定在线解答居家坐席问题的资深员工"),
        ("en", "Name the senior staff answering home agents' questions online"),
    ):
        tasks = session.get(f"{dash.url}/api/runs/{run}/tasks", params={"lang": lang}, timeout=30).json()["tasks"]
        (experts,) = [t for t in tasks if t["id"] == "experts"]
        assert experts["title"] == title
        assert experts["texts"]["title"] == {
            "en": "Name the senior staff answering home agents' questions online",
            "zh-CN": "指定在线解答居家坐席问题的资深员工",
        }
    zh_run = session.get(f"{dash.url}/api/runs/{run}", headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=30).json()
    names = {o["id"]: o["name"] for o in zh_run["objectives"]}
    assert names["agents_live"] == "居家坐席已上线"
    assert {o["id"]: o["texts"]["name"]["en"] for o in zh_run["objectives"]}["agents_live"] == "Home agents live"
    # A text written in one language only is a plain string, with no `texts` beside it.
    plain = [t for t in session.get(f"{dash.url}/api/runs/{dash.run}/tasks", timeout=30).json()["tasks"]]
    assert plain and all("texts" not in t for t in plain)


def test_a_chinese_text_is_escaped_on_a_page_like_any_other():
    from console.pages import _env

    hostile = Texts({"en": "fine", "zh-CN": "<script>window.__xss=1</script>点名"})
    out = _env().from_string("<p>{{ t }}</p>").render(lang="zh-CN", t=hostile)
    assert out == "<p>&lt;script&gt;window.__xss=1&lt;/script&gt;点名</p>"


def test_a_staff_members_answer_page_is_in_their_own_language(dash):
    import requests

    run = _lockdown(dash)
    links = {
        x["person"]: x["url"].rsplit("/r/", 1)[1] for x in dash.engine.muster_links(run, "roll_call", local_operator())
    }
    english = "X0012"  # lang en in staff.csv; X0001 reads Chinese
    zh = requests.get(f"{dash.url}/r/{links['X0001']}", timeout=30).text
    en = requests.get(f"{dash.url}/r/{links[english]}", timeout=30).text
    assert "明天起您在哪里工作？" in zh and "居家办公" in zh and "From home" not in zh
    assert "Where can you work from tomorrow?" in en and "From home" in en and "居家办公" not in en
