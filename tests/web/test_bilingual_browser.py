"""The shipped call-center runbook in headless Chromium with the Chinese UI: its run page, a
task page and its runbook page show the runbook's and the site's own Chinese texts."""

from __future__ import annotations

from playwright.sync_api import expect

from flows.actors import local_operator

from .test_browser import shot, signed_in


def test_a_shipped_runbook_in_chinese_shows_its_chinese_texts(browser, dash):
    runs, _ = dash.engine.lockdown("xian", local_operator(), drill=True)
    run = next(r["id"] for r in runs if r["runbook"] == "callcenter_lockdown")
    dash.engine.close_muster(run, "roll_call", local_operator(), reason="test: the roll call is over")
    with signed_in(browser, dash, "manager") as page:
        page.click("a.lang")
        page.goto(f"{dash.url}/runs/{run}")
        expect(page.locator("h1")).to_contain_text("呼叫中心封控业务连续性")
        expect(page.locator("h1")).to_contain_text("西安客服中心")
        expect(page.locator("main")).to_contain_text("居家坐席已上线")
        expect(page.locator("main")).not_to_contain_text("Home agents live")
        expect(page.locator("main")).to_contain_text("居家办公")  # the roll call's option labels in the headcount
        shot(page, "run-page-shipped-zh")

        page.goto(f"{dash.url}/runs/{run}/tasks/experts")
        expect(page.locator("h1")).to_have_text("指定在线解答居家坐席问题的资深员工")
        expect(page.locator("main")).to_contain_text("专家支持线上的资深员工")
        shot(page, "task-page-shipped-zh")

        page.goto(f"{dash.url}/runbooks/callcenter_lockdown")
        expect(page.locator("main")).to_contain_text("保障热线所需的居家坐席人数")
        expect(page.locator("main")).not_to_contain_text("Home agents needed to keep the hotline staffed")
