"""The store's side of OpenID Connect sign-in, on SQLite and PostgreSQL: a sign-in's state is
good once, one request of a session takes its re-check, a session's provider tokens end with it,
and a revoked account is no longer the subject's."""

from __future__ import annotations

from datetime import timedelta

from flows.store import utcnow


def _account(tx, account_id: str, name: str) -> None:
    now = utcnow()
    tx.insert_account(
        {
            "id": account_id,
            "name": name,
            "role": "team_lead",
            "teams": [["lab", "it"]],
            "staff_id": "L0002",
            "sites": ["lab"],
            "token_hash": account_id * 4,
            "created_at": now,
            "created_by": "test",
        }
    )
    tx.insert_oidc_link(
        {
            "account_id": account_id,
            "issuer": "https://idp",
            "subject": "s1",
            "sites": ["lab"],
            "groups": ["g"],
            "updated_at": now,
        }
    )


def test_a_sign_in_state_is_taken_once(store):
    now = utcnow()
    with store.transaction() as tx:
        row = {"state_hash": "h1", "browser_hash": "b", "nonce": "n", "verifier": "v", "next": "/", "created_at": now}
        tx.insert_oidc_login(row)
        tx.insert_oidc_login({**row, "state_hash": "old", "created_at": now - timedelta(hours=1)})
        tx.drop_oidc_logins_before(now - timedelta(minutes=10))
    with store.transaction() as tx:
        assert tx.take_oidc_login("h1")["nonce"] == "n"
        assert tx.take_oidc_login("h1") is None
        assert tx.take_oidc_login("old") is None


def test_one_request_takes_a_sessions_recheck_and_its_tokens_end_with_the_session(store):
    now = utcnow()
    with store.transaction() as tx:
        _account(tx, "a1", "lena")
        for h in ("s1", "s2"):
            tx.insert_session(
                {
                    "id_hash": h,
                    "account_id": "a1",
                    "csrf": "c",
                    "created_at": now,
                    "last_seen": now,
                    "expires_at": now + timedelta(hours=1),
                }
            )
            tx.insert_oidc_session(
                {"session_hash": h, "account_id": "a1", "tokens": {"refresh_token": "r"}, "checked_at": now}
            )
    with store.read() as r:
        seen = r.oidc_session("s1")["checked_at"]
        assert r.oidc_account("https://idp", "s1")["sites"] == ["lab"]
    later = now + timedelta(seconds=5)
    with store.transaction() as tx:
        assert tx.claim_oidc_check("s1", seen, later) is True
        assert tx.claim_oidc_check("s1", seen, later + timedelta(seconds=1)) is False  # taken already
        tx.delete_session("s1")
    with store.read() as r:
        assert r.oidc_session("s1") is None and r.oidc_session("s2") is not None
    with store.transaction() as tx:
        assert tx.revoke_account("lena", later)
    with store.read() as r:
        assert r.oidc_session("s2") is None
        assert r.oidc_account("https://idp", "s1") is None
