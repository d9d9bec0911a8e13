"""The dashboard in Debian's headless Chromium, driven by Playwright: sign in, the overview, a
check-off in one browser showing on another's run page without a reload, ten at once, a
manager's skip with a reason, the Chinese UI, a phone-sized screen, and hostile names that never
run. Screenshots go to .artifacts/screenshots/."""

from __future__ import annotations

import contextlib

from playwright.sync_api import Page, expect

from flows.actors import local_operator

from .conftest import ARTIFACTS, HOME

PHONE = {"width": 390, "height": 844}


@contextlib.contextmanager
def signed_in(browser, dash, who: str, **context):
    """A browser context signed in through the login form; fails the test if any script it
    loads runs something it should not (an alert, or a page setting window.__xss)."""
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(dash.url + "/")
        expect(page).to_have_url(dash.url + "/login?next=%2F")
        page.fill("input[name=token]", dash.tokens[who])
        page.click("button[type=submit]")
        expect(page).to_have_url(dash.url + "/")
        yield page
        assert dialogs == []
        assert page.evaluate("typeof window.__xss") == "undefined"
    finally:
        ctx.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_a_check_off_in_one_browser_shows_on_the_run_page_of_another_without_reload(browser, dash):
    with signed_in(browser, dash, "manager") as watcher, signed_in(browser, dash, "lead_it") as lead:
        expect(watcher.locator("#site-evil h2")).to_contain_text("<script>window.__xss='site'</script>")
        shot(watcher, "overview")
        watcher.click("text=Web <script>window.__xss='runbook'</script> drill")
        expect(watcher.locator('[data-stage="training"] td').nth(1)).to_have_text("0")
        watcher.wait_for_function("document.body.getAttribute('data-live-open') === '1'")
        watcher.evaluate("window.__stayed = true")  # gone if the page reloads
        lead.goto(f"{dash.url}/runs/{dash.run}/tasks/training:{HOME[0]}")
        lead.fill("input[name='f.score']", "91")
        lead.fill("textarea[name=note]", "done over the phone")
        lead.click("button[value=complete]")
        expect(lead.locator(".flash")).to_be_visible()
        expect(lead.locator("dl.facts")).to_contain_text("done")
        expect(watcher.locator('[data-stage="training"] td').nth(1)).to_have_text("1", timeout=15000)
        expect(watcher.locator("#feed")).to_contain_text(f"task.done  training:{HOME[0]}", timeout=15000)
        assert watcher.evaluate("window.__stayed") is True, "updated in place, not reloaded"
        shot(watcher, "run-page")


def test_a_lead_checks_off_ten_tasks_at_once(browser, dash):
    with signed_in(browser, dash, "lead_it") as page:
        page.click("text=My tasks")
        group = page.locator('form[data-step="training"]')
        boxes = group.locator("input[name=task]")
        expect(boxes).to_have_count(12)
        for i in range(10):
            boxes.nth(i).check()
        group.locator("input[name='f.score']").fill("85")
        shot(page, "my-tasks")
        group.locator("button[value=complete]").click()
        expect(page.locator(".flash")).to_contain_text("10 ✓")
        expect(page.locator('form[data-step="training"] input[name=task]')).to_have_count(2)
    done = [t for t in (dash.task(f"training:{p}") for p in HOME) if t["state"] == "done"]
    assert len(done) == 10 and all(t["outputs"]["score"] == 85 for t in done)


def test_a_manager_skips_a_task_with_a_reason(browser, dash):
    with signed_in(browser, dash, "manager") as page:
        page.goto(f"{dash.url}/runs/{dash.run}/tasks/fix")
        form = page.locator("#intervene")
        form.locator("input[name=reason]").fill("the vendor fixed the VPN")
        form.locator("button[value=skip]").click()
        expect(page.locator("dl.facts")).to_contain_text("skipped")
        expect(page.locator("dl.facts")).to_contain_text("the vendor fixed the VPN")
    assert dash.task("fix")["state"] == "skipped"


def test_the_chinese_ui_on_a_phone_sized_screen(browser, dash):
    with signed_in(browser, dash, "lead_it", viewport=PHONE, is_mobile=True, has_touch=True) as page:
        page.click("a.lang")
        expect(page.locator("h1")).to_have_text("站点")
        for path in ("/", f"/runs/{dash.run}", "/my", f"/runs/{dash.run}/tasks/training:{HOME[0]}"):
            page.goto(dash.url + path)
            overflow = page.evaluate("document.documentElement.scrollWidth") - PHONE["width"]
            assert overflow <= 1, f"{path} is {overflow}px wider than a phone"
        page.goto(f"{dash.url}/runs/{dash.run}")
        expect(page.get_by_role("heading", name="目标", exact=True)).to_be_visible()  # after the headcount
        shot(page, "run-page-phone-zh")
        page.goto(dash.url + "/my")
        expect(page.locator("button[value=complete]").first).to_have_text("批量完成所选")


def test_the_coverage_heat_map_turns_covered_as_agents_are_trained_without_reload(browser, dash):
    with signed_in(browser, dash, "manager") as page:
        page.goto(f"{dash.url}/sites/evil/coverage?hours=24")
        expect(page.locator("svg.heatmap g.c-short")).to_have_count(48)
        expect(page.locator("h2")).to_contain_text("<script>window.__xss='queue'</script>")
        page.wait_for_function("document.body.getAttribute('data-live-open') === '1'")
        shot(page, "coverage-short")
        page.evaluate("window.__stayed = true")
        for agent in HOME[:3]:
            dash.engine.complete(dash.run, f"training:{agent}", local_operator(), fields={"score": "80"})
        expect(page.locator("svg.heatmap g.c-ok")).to_have_count(48, timeout=15000)
        expect(page.locator("svg.heatmap g.c-short")).to_have_count(0)
        assert page.evaluate("window.__stayed") is True, "updated in place, not reloaded"
        shot(page, "coverage-covered")
