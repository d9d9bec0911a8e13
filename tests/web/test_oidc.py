"""Sign-in through a real OpenID provider on a local socket (tests/support/oidc_provider.py): in
headless Chromium a lead signs in, lands with the mapped role and teams and checks off a team
task; their groups change at the provider and the session's rights follow within the re-check;
a wrong audience, an expired ID token, a bad nonce, a replayed code and a mismatched state are
each refused with a page saying why and an audit row. Without a browser: a refused refresh ends
the session at once, the provider's logout, and the map's located diagnostics."""

from __future__ import annotations

import time

import pytest
import requests
from joserfc.jwk import RSAKey
from playwright.sync_api import expect

from console import auth
from runbooks.diagnostics import RunbookError
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, ProviderServer
from tests.support.processes import wait_for

from .conftest import ARTIFACTS, HOME

MAP = """groups_claim: groups
staff_id_claim: employee_id
groups:
  evil-it-leads: {role: team_lead, teams: [evil/it]}
  evil-viewers: {role: viewer}
  bcm-managers: {role: manager, sites: [evil]}
"""


@pytest.fixture
def idp(tmp_path, monkeypatch, request):
    """The provider, the app configured for it (re-checks every second), and the dashboard."""
    with ProviderServer() as provider:
        provider.users["lena"] = {"sub": "u-1001", "employee_id": "E0001", "groups": ["evil-it-leads", "other"]}
        provider.signed_in = "lena"
        path = tmp_path / "oidc-map.yaml"
        path.write_text(MAP)
        monkeypatch.setenv("RUNBOOK_OIDC_ISSUER", provider.url)
        monkeypatch.setenv("RUNBOOK_OIDC_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("RUNBOOK_OIDC_CLIENT_SECRET", CLIENT_SECRET)
        monkeypatch.setenv("RUNBOOK_OIDC_MAP", str(path))
        monkeypatch.setenv("RUNBOOK_OIDC_NAME", "Bank SSO")
        monkeypatch.setenv("RUNBOOK_OIDC_RECHECK", "1")
        monkeypatch.setenv("RUNBOOK_OIDC_ONLY", "1")
        dash = request.getfixturevalue("dash")  # built after the settings above, so the app has them
        yield provider, dash


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def access_rows(dash, action: str) -> list[dict]:
    with dash.store.read() as r:
        return [e for e in r.audit(auth.AUDIT_CHAIN) if e["action"] == action]


def sign_in_with_requests(dash) -> requests.Session:
    s = requests.Session()
    r = s.get(dash.url + "/auth/oidc/login?next=/my", timeout=30)  # → provider → callback
    assert r.status_code == 200 and r.url.startswith(dash.url + "/auth/oidc/callback"), (r.status_code, r.text)
    return s


def test_a_lead_signs_in_at_the_provider_checks_off_a_team_task_and_loses_rights_with_their_group(browser, idp):
    provider, dash = idp
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(dash.url + "/")
        expect(page.locator("input[name=token]")).to_have_count(0)  # RUNBOOK_OIDC_ONLY=1
        shot(page, "oidc-login")
        page.click("text=Sign in with Bank SSO")
        expect(page).to_have_url(dash.url + "/")
        me = page.request.get(dash.url + "/api/me").json()
        assert (me["name"], me["role"], me["teams"], me["staff"], me["via"]) == (
            "lena",
            "team_lead",
            ["evil/it"],
            "E0001",
            "session",
        )
        [added] = [e for e in access_rows(dash, "account.add") if e["target"] == "lena"]
        [signin] = access_rows(dash, "account.signin")
        assert added["detail"]["subject"] == "u-1001" and signin["detail"]["groups"] == ["evil-it-leads"]

        page.goto(f"{dash.url}/runs/{dash.run}/tasks/training:{HOME[0]}")
        page.fill("input[name='f.score']", "88")
        page.click("button[value=complete]")
        expect(page.locator(".flash")).to_be_visible()
        task = dash.task(f"training:{HOME[0]}")
        assert task["state"] == "done" and task["outputs"]["score"] == 88

        provider.users["lena"]["groups"] = ["evil-viewers"]  # moved to a read-only group at the provider
        wait_for(lambda: page.request.get(dash.url + "/api/me").json().get("role") == "viewer", 30, what="the re-check")
        [change] = access_rows(dash, "account.rights")
        assert change["detail"]["before"]["role"] == "team_lead" and change["detail"]["after"]["role"] == "viewer"
        page.goto(f"{dash.url}/runs/{dash.run}/tasks/training:{HOME[1]}")
        expect(page.locator("button[value=complete]")).to_have_count(0)

        provider.users["lena"]["groups"] = []  # no group that maps: no rights at all
        wait_for(lambda: page.request.get(dash.url + "/api/me").status == 401, 30, what="the rights to go")
        page.goto(dash.url + "/")
        expect(page).to_have_url(dash.url + "/login?next=%2F")
        [revoked] = access_rows(dash, "account.revoke")
        assert revoked["target"] == "lena" and "maps" in revoked["reason"]
        assert dash.task(f"training:{HOME[1]}")["state"] == "waiting"
    finally:
        ctx.close()


REFUSALS = {
    "wrong audience": ({"tamper": {"aud": "another-app"}}, "meant for another application"),
    "expired ID token": ({"tamper": {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}}, "has expired"),
    "bad nonce": ({"tamper": {"nonce": "not-this-sign-in"}}, "nonce"),
    "replayed code": ({"inject_code": "USED"}, "refused the sign-in code"),
    "mismatched state": ({"state": "forged-state"}, "state does not match"),
    "foreign signature": ({"rogue_key": RSAKey.generate_key(2048, parameters={"kid": "k1"})}, "not signed by"),
    "the provider says no": ({"signed_in": None}, "did not sign you in: login_required"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_bad_answer_from_the_provider_is_refused_with_a_page_and_an_audit_row(browser, idp, case):
    provider, dash = idp
    knobs, says = REFUSALS[case]
    if case == "replayed code":  # a code the provider issued and we already exchanged
        sign_in_with_requests(dash)
        knobs = {"inject_code": provider.issued_codes[-1]}
    for name, value in knobs.items():
        setattr(provider, name, value)
    before = len(access_rows(dash, "access.denied"))
    ctx = browser.new_context()
    page = ctx.new_page()
    try:
        page.goto(dash.url + "/login")
        with page.expect_response(lambda r: "/auth/oidc/callback" in r.url) as answer:
            page.click("#oidc-login")
        assert 400 <= answer.value.status < 500
        expect(page.locator(".flash.err")).to_contain_text(says)
        shot(page, "oidc-refused-" + case.replace(" ", "-"))
        assert page.request.get(dash.url + "/api/me").status == 401  # no session came of it
    finally:
        ctx.close()
    denied = [d for d in access_rows(dash, "access.denied")[before:] if d["target"] == "GET /auth/oidc/callback"]
    assert [says in d["reason"] for d in denied] == [True], denied


def test_a_refresh_the_provider_refuses_ends_the_session_at_once(idp):
    provider, dash = idp
    s = sign_in_with_requests(dash)
    assert s.get(dash.url + "/api/me", timeout=30).json()["role"] == "team_lead"
    provider.refused_refresh.add("lena")
    wait_for(lambda: s.get(dash.url + "/api/me", timeout=30).status_code == 401, 30, what="the session to end")
    assert provider.refreshes == 1  # the first re-check asked, was refused, and ended the session
    [ended] = access_rows(dash, "session.end")
    assert "refused to renew" in ended["reason"] and ended["target"] == "lena"


def test_a_refresh_about_another_person_ends_the_session(idp):
    provider, dash = idp
    s = sign_in_with_requests(dash)
    assert s.get(dash.url + "/api/me", timeout=30).json()["name"] == "lena"
    provider.tamper = {"sub": "u-9999"}  # the refreshed ID token names someone else
    wait_for(lambda: s.get(dash.url + "/api/me", timeout=30).status_code == 401, 30, what="the session to end")
    [ended] = access_rows(dash, "session.end")
    assert "someone else" in ended["reason"]
    with dash.store.read() as r:
        assert [a["name"] for a in r.accounts() if a["created_by"].startswith("oidc:")] == ["lena"]


def test_without_refresh_tokens_the_session_is_rechecked_through_userinfo(idp):
    provider, dash = idp
    provider.refresh = False
    s = sign_in_with_requests(dash)
    assert s.get(dash.url + "/api/me", timeout=30).json()["role"] == "team_lead"
    provider.users["lena"]["groups"] = ["bcm-managers"]
    me = wait_for(lambda: (m := s.get(dash.url + "/api/me", timeout=30).json())["role"] == "manager" and m, 30)
    assert me["sites"] == ["evil"] and me["teams"] == [] and provider.refreshes == 0
    [change] = access_rows(dash, "account.rights")
    assert change["detail"]["after"] == {"role": "manager", "teams": [], "sites": ["evil"], "staff": "E0001"}
    # the groups tie the account to its site: a manager of `evil` only
    refused = s.post(
        dash.url + "/api/sites/xian/lockdown", json={"drill": True}, headers={"X-CSRF-Token": me["csrf"]}, timeout=30
    )
    assert refused.status_code == 403 and "manages evil, not xian" in refused.text, (refused.status_code, refused.text)


def test_signing_out_offers_the_providers_logout_and_the_token_form_is_off(idp):
    provider, dash = idp
    s = sign_in_with_requests(dash)
    csrf = s.get(dash.url + "/api/me", timeout=30).json()["csrf"]
    r = s.post(dash.url + "/logout", data={"csrf": csrf}, timeout=30, allow_redirects=False)
    assert r.status_code == 200 and 'id="provider-logout"' in r.text
    logout = r.text.split('id="provider-logout" href="')[1].split('"')[0].replace("&amp;", "&")
    assert logout.startswith(provider.url + "/logout?") and "id_token_hint=" in logout
    assert s.get(dash.url + "/api/me", timeout=30).status_code == 401
    requests.get(logout, timeout=30)
    assert provider.logouts and provider.logouts[0]["client_id"] == CLIENT_ID
    refused = requests.post(dash.url + "/login", json={"token": dash.tokens["manager"]}, timeout=30)
    assert refused.status_code == 403  # RUNBOOK_OIDC_ONLY=1; the token still works as a Bearer token
    bearer = requests.get(dash.url + "/api/me", headers={"Authorization": f"Bearer {dash.tokens['manager']}"})
    assert bearer.json()["role"] == "manager"


def test_a_bad_sign_in_map_is_reported_where_it_is(tmp_path, monkeypatch):
    from console.oidc_map import load_claim_map

    monkeypatch.delenv("RUNBOOK_SITES", raising=False)  # the shipped sites: xian, beijing
    path = tmp_path / "map.yaml"
    path.write_text(
        "groups_claim: groups\n"
        "group_claim: x\n"
        "groups:\n"
        "  a: {role: boss}\n"
        "  b: {role: team_lead, teams: [xian/itt]}\n"
        "  c: {role: manager, sites: bejing}\n"
        "  d: {rol: viewer}\n"
    )
    with pytest.raises(RunbookError) as e:
        load_claim_map(path)
    got = [(d.line, d.code) for d in e.value.diagnostics]
    assert got == [(2, "RB570"), (4, "RB571"), (5, "RB572"), (6, "RB573"), (7, "RB570"), (7, "RB570")], got
    hints = {d.code: d.hint for d in e.value.diagnostics}
    assert hints["RB572"] == 'did you mean "it"?' and "no team" in str(e.value)


def test_missing_sign_in_settings_are_named(monkeypatch):
    from console.oidc import OidcSettings

    monkeypatch.setenv("RUNBOOK_OIDC_ISSUER", "https://sso.bank.example/realms/bcm")
    monkeypatch.delenv("RUNBOOK_OIDC_CLIENT_ID", raising=False)
    monkeypatch.delenv("RUNBOOK_OIDC_MAP", raising=False)
    with pytest.raises(RunbookError) as e:
        OidcSettings.from_env()
    assert [d.code for d in e.value.diagnostics] == ["RB574", "RB574"]
    assert "RUNBOOK_OIDC_CLIENT_ID" in str(e.value) and "RUNBOOK_OIDC_MAP" in str(e.value)
