"""OpenID Connect, the accounts side: a sign-in started (its state, nonce and PKCE verifier kept
in the store, bound to the browser by a cookie), a callback → the account created or updated
from the map (console/oidc_map.py) and a session; a session's re-check (refresh token, else
userinfo) → its rights again, or its end. Every sign-in, every change of rights and every end
of rights is a row of the access chain (docs/api.md, Sign-in with OpenID Connect)."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flows.notify import PUBLIC_URL_SETTING
from flows.store import Store, Tx, utcnow

from . import auth
from .oidc import OidcClient, SignInRefused
from .oidc_map import Rights, rights_of

LOGIN_TTL = timedelta(minutes=10)  # a sign-in started and not finished by then is forgotten
BROWSER_COOKIE = "rb_oidc"  # binds a sign-in under way to the browser that started it


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True)
class SignedIn:
    account: dict[str, Any]
    cookie: str
    csrf: str
    next_page: str


def base_url(store: Store, request_base: str) -> str:
    """Where the provider sends the browser back to: the public base URL (kept by `runbook serve`,
    or RUNBOOK_PUBLIC_URL), else the request's own (the provider only accepts registered ones)."""
    with store.read() as r:
        kept = r.setting(PUBLIC_URL_SETTING)
    return (kept or os.environ.get("RUNBOOK_PUBLIC_URL") or request_base).rstrip("/")


def begin(store: Store, client: OidcClient, redirect_uri: str, next_page: str) -> tuple[str, str]:
    """A new sign-in → (the provider's authorization URL, the browser cookie's value)."""
    state, nonce, verifier, browser = (secrets.token_urlsafe(32) for _ in range(4))
    url = client.authorize_url(redirect_uri, state, nonce, verifier)
    now = utcnow()
    with store.transaction() as tx:
        tx.drop_oidc_logins_before(now - LOGIN_TTL)
        tx.insert_oidc_login(
            {
                "state_hash": _hash(state),
                "browser_hash": _hash(browser),
                "nonce": nonce,
                "verifier": verifier,
                "next": next_page,
                "created_at": now,
            }
        )
    return url, browser


def finish(
    store: Store, client: OidcClient, params: Mapping[str, str], browser: str | None, redirect_uri: str
) -> SignedIn:
    """The provider's redirect back → a session, or SignInRefused (the route audits it)."""
    state = params.get("state") or ""
    with store.transaction() as tx:
        pending = tx.take_oidc_login(_hash(state)) if state else None
    if pending is None or utcnow() - pending["created_at"] > LOGIN_TTL:
        raise SignInRefused(
            "this sign-in's state does not match one this server started (an old or forged link, or it took "
            "longer than 10 minutes): start again",
            400,
        )
    if not browser or not secrets.compare_digest(_hash(browser), pending["browser_hash"]):
        raise SignInRefused("this sign-in was started in another browser: start again from this one", 400)
    if params.get("error"):
        reason = (params.get("error_description") or params["error"])[:200]
        raise SignInRefused(f"the identity provider did not sign you in: {reason}", 403)
    code = params.get("code")
    if not code:
        raise SignInRefused("the identity provider sent no code", 400)
    tokens = client.exchange(code, pending["verifier"], redirect_uri)
    if not tokens.get("id_token"):
        raise SignInRefused("the identity provider sent no ID token (is the `openid` scope allowed?)", 502)
    claims = client.id_claims(tokens["id_token"], pending["nonce"], tokens.get("access_token"))
    claims = _with_userinfo(client, claims, tokens)
    rights = rights_of(claims, client.settings.claim_map)
    who = f"oidc:{claims.get(client.settings.claim_map.name_claim) or claims['sub']}"[:200]
    if rights.role is None:
        raise SignInRefused(
            "you are signed in at the identity provider, but none of your groups gives rights here: ask for "
            "a group that the continuity team maps",
            403,
            who,
        )
    now = utcnow()
    with store.transaction() as tx:
        tx.lock_chain(auth.AUDIT_CHAIN)
        account = _apply(tx, client, claims, rights, who, "signin")
        tx.append_audit(
            auth.AUDIT_CHAIN,
            actor=who,
            action="account.signin",
            target=account["name"],
            detail={"via": "oidc", "issuer": client.settings.issuer, "groups": list(rights.groups), **rights.shape()},
            at=now,
        )
    cookie, csrf = auth.login(store, account)
    with store.transaction() as tx:
        tx.insert_oidc_session(
            {
                "session_hash": _hash(cookie),
                "account_id": account["id"],
                "tokens": _kept(tokens),
                "checked_at": now,
            }
        )
    return SignedIn(account, cookie, csrf, pending["next"])


def _kept(tokens: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tokens[k] for k in ("refresh_token", "access_token", "id_token") if tokens.get(k)}


def _with_userinfo(client: OidcClient, claims: dict[str, Any], tokens: Mapping[str, Any]) -> dict[str, Any]:
    """Claims the ID token lacks (the groups, at some providers) from userinfo, for the same subject."""
    needed = [c for c in (client.settings.claim_map.groups_claim, client.settings.claim_map.staff_id_claim) if c]
    if all(c in claims for c in needed) or not tokens.get("access_token"):
        return claims
    info = client.userinfo(tokens["access_token"])
    if info and info.get("sub") != claims.get("sub"):
        raise SignInRefused("the provider's userinfo is about another person than its ID token", 502)
    return {**info, **claims}


def _account_name(tx: Tx, client: OidcClient, claims: Mapping[str, Any]) -> str:
    base = str(claims.get(client.settings.claim_map.name_claim) or claims.get("email") or claims["sub"])
    base = "".join(ch for ch in base if ch.isprintable())[:90] or str(claims["sub"])[:90]
    taken = {a["name"] for a in tx.accounts() if a["revoked_at"] is None}
    if base not in taken:
        return base
    return f"{base}~{hashlib.sha256(str(claims['sub']).encode()).hexdigest()[:8]}"


def _apply(tx: Tx, client: OidcClient, claims: Mapping[str, Any], rights: Rights, who: str, why: str) -> dict[str, Any]:
    """The account of this subject with these rights: created, updated (a change audited) or as is."""
    issuer, subject = client.settings.issuer, str(claims["sub"])
    teams = [list(t) for t in rights.teams]
    now = utcnow()
    current = tx.oidc_account(issuer, subject)
    if current is None:
        account: dict[str, Any] = {
            "id": "a" + secrets.token_hex(6),
            "name": _account_name(tx, client, claims),
            "role": rights.role,
            "teams": teams,
            "sites": list(rights.sites) or None,
            "staff_id": rights.staff_id,
            # never shown to anyone: this account signs in through the provider only
            "token_hash": _hash(secrets.token_urlsafe(32)),
            "created_at": now,
            "created_by": f"oidc:{issuer}"[:200],
        }
        tx.insert_account(account)
        tx.insert_oidc_link(
            {
                "account_id": account["id"],
                "issuer": issuer,
                "subject": subject,
                "sites": list(rights.sites),
                "groups": list(rights.groups),
                "updated_at": now,
            }
        )
        tx.append_audit(
            auth.AUDIT_CHAIN,
            actor=who,
            action="account.add",
            target=account["name"],
            detail={"via": "oidc", "subject": subject, "groups": list(rights.groups), **rights.shape()},
            at=now,
        )
        return account
    before = Rights(
        current["role"],
        tuple((t[0], t[1]) for t in current["teams"]),
        tuple(current["sites"] or ()),
        tuple(current["groups"]),
        current["staff_id"],
    )
    if before.shape() != rights.shape():
        tx.update_account_rights(current["id"], str(rights.role), teams, list(rights.sites), rights.staff_id)
        tx.append_audit(
            auth.AUDIT_CHAIN,
            actor=who,
            action="account.rights",
            target=str(current["name"]),
            reason=f"groups at the provider ({why})",
            detail={"before": before.shape(), "after": rights.shape(), "groups": list(rights.groups)},
            at=now,
        )
    tx.update_oidc_link(current["id"], sites=list(rights.sites), groups=list(rights.groups), updated_at=now)
    return {
        **current,
        "role": rights.role,
        "teams": teams,
        "sites": list(rights.sites) or None,
        "staff_id": rights.staff_id,
    }


# --- a session's re-check ----------------------------------------------------------------------


def recheck(store: Store, client: OidcClient, session: auth.Session) -> auth.Session | None:
    """The session with its rights as the provider says now (checked at most every
    `RUNBOOK_OIDC_RECHECK` seconds), or None: its end (a refresh the provider refused, or
    groups that map to nothing: the account's rights are gone, audited)."""
    with store.read() as r:
        row = r.oidc_session(session.id_hash)
        link = r.oidc_link(session.account["id"]) if row is not None else None
    now = utcnow()
    if row is None or now - row["checked_at"] < client.settings.recheck:
        return session  # a token-form session, or checked recently
    with store.transaction() as tx:
        if not tx.claim_oidc_check(session.id_hash, row["checked_at"], now):
            return session  # another request of this session is checking it now
    tokens = dict(row["tokens"])
    account = session.account
    who = f"oidc:{account['name']}"
    try:
        if tokens.get("refresh_token"):
            fresh = client.refresh(tokens["refresh_token"])
            tokens.update(_kept(fresh))
            claims = (
                client.id_claims(fresh["id_token"], None, fresh.get("access_token")) if fresh.get("id_token") else {}
            )
        else:
            claims = {}
        if not claims or client.settings.claim_map.groups_claim not in claims:
            if not tokens.get("access_token"):
                raise SignInRefused("no token left to ask the provider with")
            claims = {**client.userinfo(tokens["access_token"]), **claims}
        if link is None or str(claims.get("sub")) != link["subject"]:
            raise SignInRefused("the provider's answer is about someone else than this session's person")
    except SignInRefused as e:
        _end(store, session, account, who, f"re-check failed: {e.message}", revoke=False)
        return None
    rights = rights_of(claims, client.settings.claim_map)
    if rights.role is None:
        _end(store, session, account, who, "none of the person's groups at the provider maps to rights", revoke=True)
        return None
    with store.transaction() as tx:
        tx.lock_chain(auth.AUDIT_CHAIN)
        updated = _apply(tx, client, claims, rights, who, "re-check")
        tx.update_oidc_session(session.id_hash, tokens)
    return auth.Session(session.id_hash, {**account, **updated}, session.csrf)


def _end(store: Store, session: auth.Session, account: Mapping[str, Any], who: str, why: str, *, revoke: bool) -> None:
    now = utcnow()
    with store.transaction() as tx:
        tx.lock_chain(auth.AUDIT_CHAIN)
        if revoke:  # its every session ends with it; a later sign-in with rights makes a new account
            tx.revoke_account(account["name"], now)
        tx.delete_session(session.id_hash)
        tx.append_audit(
            auth.AUDIT_CHAIN,
            actor=who,
            action="account.revoke" if revoke else "session.end",
            target=account["name"],
            reason=why[:300],
            detail={"via": "oidc"},
            at=now,
        )


def logout_url(store: Store, client: OidcClient, session_hash: str, after: str) -> str | None:
    """Where the browser goes to sign out at the provider too, for a session signed in there."""
    with store.read() as r:
        row = r.oidc_session(session_hash)
    if row is None:
        return None
    return client.logout_url(row["tokens"].get("id_token"), after)
