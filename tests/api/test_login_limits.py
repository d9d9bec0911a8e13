"""Login limits (issue 23): counted before the check, so concurrent bad logins cannot all be
evaluated; failed bearer tokens count too; roll-call links are limited apart, so failed logins
from an address never lock its staff out of their links."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests


def test_concurrent_bad_logins_are_evaluated_at_most_up_to_the_limit(api):
    def attempt(i: int) -> int:
        return requests.post(f"{api.url}/login", json={"token": f"rbt_wrong_{i}"}, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(attempt, range(60)))
    assert statuses.count(401) == 10 and statuses.count(429) == 50, statuses
    # Everyone behind that address is not locked out: a valid token still signs in from it.
    good = requests.post(f"{api.url}/login", json={"token": api.tokens["lead_it"]}, timeout=30)
    assert good.status_code == 200 and good.json()["name"] == "lead_it"
    assert requests.post(f"{api.url}/login", json={"token": "rbt_wrong_again"}, timeout=30).status_code == 429


def test_failed_bearer_tokens_are_limited_and_a_roll_call_link_still_answers(api):
    for i in range(10):
        r = api.session(None).get(f"{api.url}/api/runs", headers={"Authorization": f"Bearer wrong{i}"}, timeout=30)
        assert r.status_code == 401
    r = api.session(None).get(f"{api.url}/api/runs", headers={"Authorization": "Bearer wrong"}, timeout=30)
    assert r.status_code == 429
    assert api.call("manager", "GET", "/api/runs").status_code == 200  # a valid token still passes
    # The same address: a staff member's link is not locked out by those failures.
    page = requests.post(f"{api.url}/r/not-a-real-token-000000", data={"option": "home"}, timeout=30)
    assert page.status_code == 404


def test_login_from_another_origin_is_refused_and_audited(api):
    token = api.tokens["manager"]
    evil = requests.post(
        f"{api.url}/login", json={"token": token}, headers={"Origin": "https://evil.example"}, timeout=30
    )
    assert evil.status_code == 403 and "another origin" in evil.json()["error"]["message"]
    referer = requests.post(
        f"{api.url}/login", json={"token": token}, headers={"Referer": "https://evil.example/page"}, timeout=30
    )
    assert referer.status_code == 403
    assert any("another origin" in (e["reason"] or "") for e in api.denials())
    own = requests.post(f"{api.url}/login", json={"token": token}, headers={"Origin": api.url}, timeout=30)
    assert own.status_code == 200
    assert requests.post(f"{api.url}/login", json={"token": token}, timeout=30).status_code == 200  # no browser


def test_an_event_stream_ends_within_seconds_of_its_token_being_revoked(api):
    import time

    from console import auth

    token = auth.add_account(api.store, "shortlived", "manager", by="test")
    run = api.start()
    with requests.get(
        f"{api.url}/api/runs/{run}/events", headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=30
    ) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        assert any(line.startswith(b": connected") for line in lines if line)
        auth.revoke_account(api.store, "shortlived", by="test")
        revoked = time.monotonic()
        for _ in lines:  # the server closes the stream: iteration ends
            assert time.monotonic() - revoked < 10, "the stream outlived its revoked token"
        assert time.monotonic() - revoked < 10


def test_guessing_personal_links_is_throttled_alike_on_check_in_roll_call_and_shift_links(api):
    """The three kinds of personal link count their unknown tokens against one limit per address
    (30): each guess is "gone" (404) until then, and every kind answers "busy" (429) after."""
    kinds = [("c", {"q1": "fine"}), ("r", {"option": "home"}), ("s", {"answer": "ack"})]
    for i in range(10):
        for kind, form in kinds:
            r = requests.post(f"{api.url}/{kind}/guess-{kind}-{i:04d}-0000000000", data=form, timeout=30)
            assert r.status_code == 404, (kind, i, r.status_code)
    for kind, form in kinds:
        r = requests.post(f"{api.url}/{kind}/guess-{kind}-last-0000000000", data=form, timeout=30)
        assert r.status_code == 429 and "<html" in r.text.lower(), (kind, r.status_code)
        # reading a page is not an answer: never throttled, an unknown link is simply gone
        assert requests.get(f"{api.url}/{kind}/guess-{kind}-last-0000000000", timeout=30).status_code == 404


def test_a_personal_link_form_with_too_many_fields_is_refused_before_it_is_read(api):
    fields = {f"x{i}": "1" for i in range(6)}  # roll-call and shift links take at most 5
    for kind in ("r", "s"):
        assert requests.post(f"{api.url}/{kind}/any-token-0000000000", data=fields, timeout=30).status_code == 413
