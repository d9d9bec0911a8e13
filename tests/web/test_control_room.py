"""The control room in headless Chromium (issue 26, Must show): a manager declares a drill
lockdown of xian from the overview, starts datacenter_failover with non-default inputs from its
form, posts a status update and stands down; the run page in zh-CN shows no English state, kind
or event word; axe-core finds no serious or critical violation on any page in either language;
at 390 px no page scrolls sideways."""

from __future__ import annotations

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from flows.actors import local_operator
from flows.kinds import KINDS
from flows.states import RUN_STATES, STATES
from runbooks.models import EVENTS

from .conftest import HOME
from .test_browser import PHONE, shot, signed_in

ENGINE_WORDS = {*STATES, *RUN_STATES, *KINDS, *EVENTS, "muster.answer", "muster.closed", "active"}
# Where the UI shows the engine's own words: state chips, step kinds, the graph's kinds, the
# timeline's and the live feed's events, the funnel's stages.
WORD_PLACES = (
    ".state, #phases small, svg.graph text.small, ol.graph-list small, ol.timeline strong, #feed li, "
    "table.funnel td:first-child"
)


def run_of(page) -> str:
    match = re.search(r"/runs/(r[0-9a-f]+)", page.url)
    assert match, page.url
    return match.group(1)


def test_a_manager_runs_the_response_from_the_dashboard(browser, dash):
    with signed_in(browser, dash, "manager") as page:
        declare = page.locator("#site-xian form.declare")
        expect(declare.locator("input[value=drill]")).to_be_checked()
        declare.get_by_role("button").click()
        expect(page.locator(".flash")).to_contain_text("Lockdown declared")
        expect(page.locator("h1 .badge.drill")).to_be_visible()
        xian_run = run_of(page)
        assert dash.engine.run(xian_run)["drill"] is True

        page.click("nav >> text=Runbooks")
        page.click("text=Data-center failover to the backup site")
        start = page.locator("form#start")
        start.locator("select[name=site]").select_option("beijing")
        start.locator("input[name='in.target_site']").fill("xian")
        start.locator("input[name='in.drain_minutes']").fill("9")
        shot(page, "runbook-start")
        start.get_by_role("button", name="Start").click()
        expect(page.locator(".flash")).to_contain_text("Run started")
        failover = dash.engine.run(run_of(page))
        assert failover["runbook"] == "datacenter_failover" and failover["site"] == "beijing"
        assert failover["inputs"] == {"target_site": "xian", "drain_minutes": 9} and failover["drill"] is True

        page.goto(f"{dash.url}/runs/{xian_run}")
        page.fill("#update-text", "Floor 3 sealed; 28 staying on site")
        page.click("#update-form button")
        expect(page.locator("ol.timeline")).to_contain_text("Floor 3 sealed; 28 staying on site")
        shot(page, "run-timeline")

        standdown = page.locator("form#standdown")
        standdown.locator("input[name=confirm]").fill("xian")
        standdown.get_by_role("button").click()
        expect(page.locator(".flash")).to_contain_text("Stood down")
        expect(page.locator("#site-xian form.declare")).to_be_visible()
    with dash.store.read() as r:
        assert r.active_lockdown("xian") is None


def test_the_run_page_in_chinese_shows_no_english_state_kind_or_event_word(browser, dash):
    dash.engine.update(dash.run, local_operator(), text="现场已封闭")
    with signed_in(browser, dash, "manager") as page:
        page.click("a.lang")
        page.goto(f"{dash.url}/runs/{dash.run}")
        page.wait_for_function("document.body.getAttribute('data-live-open') === '1'")
        dash.engine.complete(dash.run, f"training:{HOME[0]}", local_operator(), fields={"score": "90"})
        expect(page.locator("#feed")).to_contain_text("任务完成", timeout=15000)
        texts = page.locator(WORD_PLACES).all_text_contents()
        assert len(texts) > 20
        english = sorted({w for t in texts for w in re.findall(r"[a-z_]+(?:\.[a-z_]+)?", t) if w in ENGINE_WORDS})
        assert english == [], english
        assert re.search(r"\d\d:\d\d:\d\d [A-Z]{3,4}", page.locator("#feed li").last.inner_text())
        shot(page, "run-page-zh")


def pages_of(dash) -> list[str]:
    run = dash.run
    return [
        "/",
        "/runbooks",
        "/runbooks/datacenter_failover",
        f"/runs/{run}",
        f"/runs/{run}/tasks/training:{HOME[0]}",
        f"/runs/{run}/tasks/fix",
        f"/runs/{run}/audit",
        f"/runs/{run}/muster/roll/calls",
        f"/runs/{run}/people?q=E00",
        f"/runs/{run}/people/{HOME[0]}",
        "/sites/evil/coverage",
        "/coverage",
        "/my",
    ]


def serious(page) -> list[str]:
    result = Axe().run(
        page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]}}
    )
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}"
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_page_passes_axe_and_fits_a_phone_in_both_languages(browser, dash):
    found: dict[str, list[str]] = {}
    wide: dict[str, int] = {}
    with signed_in(browser, dash, "manager", viewport=PHONE, is_mobile=True, has_touch=True) as page:
        for lang in ("en", "zh-CN"):
            page.goto(f"{dash.url}/lang?to={lang}&next=/")
            for path in pages_of(dash):
                page.goto(dash.url + path)
                if problems := serious(page):
                    found[f"{lang} {path}"] = problems
                over = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                if over > 0:
                    wide[f"{lang} {path}"] = over
            page.goto(f"{dash.url}/runs/{dash.run}")
            expect(page.locator("ol.graph-list")).to_be_visible()
            expect(page.locator("svg.graph")).to_be_hidden()
            shot(page, f"run-phone-{lang}")
    with browser.new_context() as ctx:
        login = ctx.new_page()
        login.goto(dash.url + "/login")
        if problems := serious(login):
            found["/login"] = problems
    assert found == {}
    assert wide == {}, "pages wider than a 390 px phone"
