"""OpenID Connect, the client side (Authlib for the OAuth 2.0 flow and the ID token's claims,
joserfc for its signature): settings from the environment → `OidcClient`: the provider's
discovery document and keys, the authorization URL (code flow with `state`, `nonce` and a PKCE
S256 challenge), the code exchange, refreshes and userinfo, the ID token checked (signature
against the provider's JWKS, issuer, audience, expiry, nonce), the provider's logout URL. Every
call to the provider goes through the outbound check's `PinnedAdapter` (only the issuer's host,
and the hosts its discovery names). Refusals are `SignInRefused` with a reason for a person."""

from __future__ import annotations

import os
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from notifications.outbound import OutboundRefused, allow_list, pinned_session
from runbooks.diagnostics import Diagnostic, RunbookError

from .oidc_map import ClaimMap, load_claim_map

LEEWAY = 60  # seconds of clock difference allowed with the provider (exp, iat)
RECHECK_MAX = 300.0  # a session's rights are re-checked at least every 5 minutes
TIMEOUT = 10.0


class SignInRefused(Exception):
    """A sign-in (or a session's re-check) the provider's answer does not allow."""

    def __init__(self, message: str, status: int = 401, who: str = "anonymous"):
        super().__init__(message)
        self.message, self.status, self.who = message, status, who


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    client_id: str
    client_secret: str | None
    claim_map: ClaimMap
    name: str  # shown on the button: "Sign in with <name>"
    only: bool  # RUNBOOK_OIDC_ONLY=1: no token form
    recheck: timedelta
    scope: str

    @classmethod
    def from_env(cls) -> OidcSettings | None:
        """None when `RUNBOOK_OIDC_ISSUER` is unset; RunbookError (RB574, or the map's) when bad."""
        issuer = (os.environ.get("RUNBOOK_OIDC_ISSUER") or "").strip().rstrip("/")
        if not issuer:
            return None
        problems = []
        if urllib.parse.urlsplit(issuer).scheme not in ("http", "https"):
            problems.append(_setting("RUNBOOK_OIDC_ISSUER", f"{issuer!r} is not an http(s) URL"))
        client_id = (os.environ.get("RUNBOOK_OIDC_CLIENT_ID") or "").strip()
        if not client_id:
            problems.append(_setting("RUNBOOK_OIDC_CLIENT_ID", "is not set (the client id registered at the provider)"))
        map_path = (os.environ.get("RUNBOOK_OIDC_MAP") or "").strip()
        if not map_path:
            problems.append(_setting("RUNBOOK_OIDC_MAP", "is not set (the YAML file mapping groups to roles)"))
        try:
            recheck = float(os.environ.get("RUNBOOK_OIDC_RECHECK") or RECHECK_MAX)
        except ValueError:
            problems.append(_setting("RUNBOOK_OIDC_RECHECK", "is not a number of seconds"))
            recheck = RECHECK_MAX
        if problems:
            raise RunbookError(problems)
        return cls(
            issuer=issuer,
            client_id=client_id,
            client_secret=os.environ.get("RUNBOOK_OIDC_CLIENT_SECRET") or None,
            claim_map=load_claim_map(map_path),
            name=(os.environ.get("RUNBOOK_OIDC_NAME") or "the identity provider").strip(),
            only=os.environ.get("RUNBOOK_OIDC_ONLY", "") == "1",
            recheck=timedelta(seconds=min(max(recheck, 0.0), RECHECK_MAX)),
            scope=os.environ.get("RUNBOOK_OIDC_SCOPE") or "openid profile email",
        )


def _setting(name: str, message: str) -> Diagnostic:
    return Diagnostic("environment", 1, 1, "RB574", f"{name} {message}", "see docs/deploy.md, Sign-in")


def _id_token_problem(e: Exception, issuer: str) -> str:
    if isinstance(e, jose_errors.ExpiredTokenError):
        return "the provider's ID token has expired: sign in again (check the clocks if it keeps happening)"
    if isinstance(e, jose_errors.InvalidClaimError | jose_errors.MissingClaimError):
        claim = getattr(e, "claim", "") or str(e)
        if "aud" in claim or "azp" in claim:
            return "the provider's ID token is meant for another application (its audience is not our client id)"
        if "nonce" in claim:
            return "the provider's ID token does not carry this sign-in's nonce (replayed or injected)"
        if "iss" in claim:
            return f"the ID token was not issued by {issuer}"
        return f"the provider's ID token has a bad or missing claim ({claim})"
    if isinstance(e, jose_errors.BadSignatureError | jose_errors.InvalidKeyIdError):
        return "the provider's ID token is not signed by the provider's keys"
    return f"the provider's ID token is not valid ({type(e).__name__})"


class OidcClient:
    """One per app: the provider's metadata and keys, fetched once and kept (keys again when a
    token names a key we do not have: the provider rotated them)."""

    def __init__(self, settings: OidcSettings):
        self.settings = settings
        self._allowed = allow_list([settings.issuer])
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    def _http(self) -> requests.Session:
        return pinned_session(self._allowed)

    def _oauth(self, redirect_uri: str | None = None) -> OAuth2Session:
        s = self.settings
        session = OAuth2Session(
            s.client_id,
            s.client_secret,
            scope=s.scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            # a public client (no secret) names itself in the body; PKCE is what binds its code
            token_endpoint_auth_method="client_secret_basic" if s.client_secret else "none",
        )
        pinned_session(self._allowed, session)
        return session

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                url = self.settings.issuer + "/.well-known/openid-configuration"
                data = self._get_json(url, "its discovery document")
                if str(data.get("issuer", "")).rstrip("/") != self.settings.issuer:
                    raise SignInRefused(
                        f"the provider's discovery names the issuer {data.get('issuer')!r}, not {self.settings.issuer}",
                        502,
                    )
                missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not data.get(k)]
                if missing:
                    raise SignInRefused(f"the provider's discovery has no {', '.join(missing)}", 502)
                hosts = [data[k] for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
                hosts += [data[k] for k in ("userinfo_endpoint", "end_session_endpoint") if data.get(k)]
                self._allowed = allow_list([self.settings.issuer, *hosts])
                self._metadata = data
            return self._metadata

    def _get_json(self, url: str, what: str, **kw: Any) -> dict[str, Any]:
        try:
            r = self._http().get(url, timeout=TIMEOUT, **kw)
            r.raise_for_status()
            data = r.json()
        except OutboundRefused as e:
            raise SignInRefused(f"cannot reach the identity provider: {e}", 502) from None
        except (requests.RequestException, ValueError) as e:
            raise SignInRefused(f"the identity provider did not answer {what} ({type(e).__name__})", 502) from None
        if not isinstance(data, dict):
            raise SignInRefused(f"the identity provider's {what} is not a JSON object", 502)
        return data

    def _key_set(self, force: bool = False) -> KeySet:
        if self._keys is None or force:
            self._keys = KeySet.import_key_set(self._get_json(self.metadata()["jwks_uri"], "its keys (JWKS)"))  # type: ignore[arg-type]
        return self._keys

    # --- the flow --------------------------------------------------------------------------

    def authorize_url(self, redirect_uri: str, state: str, nonce: str, verifier: str) -> str:
        url, _ = self._oauth(redirect_uri).create_authorization_url(
            self.metadata()["authorization_endpoint"], state=state, code_verifier=verifier, nonce=nonce
        )
        return str(url)

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """The code → the provider's tokens (refused: used already, expired, not ours)."""
        try:
            token = self._oauth(redirect_uri).fetch_token(
                self.metadata()["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                timeout=TIMEOUT,
            )
        except OAuthError as e:
            raise SignInRefused(
                f"the identity provider refused the sign-in code ({e.error}): it was used already, has expired "
                "or was not issued for this sign-in; start again"
            ) from None
        except (requests.RequestException, OutboundRefused, ValueError) as e:
            raise SignInRefused(f"the identity provider's token endpoint failed ({type(e).__name__})", 502) from None
        return dict(token)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        try:
            token = self._oauth().refresh_token(
                self.metadata()["token_endpoint"], refresh_token=refresh_token, timeout=TIMEOUT
            )
        except OAuthError as e:
            raise SignInRefused(f"the identity provider refused to renew the session ({e.error})") from None
        except (requests.RequestException, OutboundRefused, ValueError) as e:
            raise SignInRefused(
                f"the identity provider could not renew the session ({type(e).__name__})", 502
            ) from None
        return dict(token)

    def userinfo(self, access_token: str) -> dict[str, Any]:
        endpoint = self.metadata().get("userinfo_endpoint")
        if not endpoint:
            return {}
        return self._get_json(endpoint, "userinfo", headers={"Authorization": f"Bearer {access_token}"})

    def id_claims(self, id_token: str, nonce: str | None, access_token: str | None = None) -> dict[str, Any]:
        """The ID token's claims once its signature (the provider's JWKS), issuer, audience,
        expiry and (at sign-in) nonce are checked; SignInRefused naming what failed."""
        algorithms = self.metadata().get("id_token_signing_alg_values_supported") or ["RS256"]
        registry = JWSRegistry(algorithms=[a for a in algorithms if a != "none"])
        try:
            try:
                token = jwt.decode(id_token, self._key_set(), registry=registry)
            except jose_errors.InvalidKeyIdError:
                token = jwt.decode(id_token, self._key_set(force=True), registry=registry)
            params: dict[str, Any] = {"client_id": self.settings.client_id}
            if nonce is not None:
                params["nonce"] = nonce
            if access_token:
                params["access_token"] = access_token
            options: dict[str, Any] = {
                "iss": {"essential": True, "value": self.metadata()["issuer"]},
                "aud": {"essential": True, "value": self.settings.client_id},
            }
            claims = CodeIDToken(token.claims, token.header, options, params)
            claims.validate(leeway=LEEWAY)
            if nonce is not None and "nonce" not in claims:
                raise jose_errors.MissingClaimError("nonce")
        except (jose_errors.JoseError, ValueError) as e:
            raise SignInRefused(_id_token_problem(e, self.settings.issuer)) from None
        return dict(claims)

    def logout_url(self, id_token: str | None, after: str) -> str | None:
        """The provider's end-session URL (RP-initiated logout), when it offers one."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except SignInRefused:
            return None
        if not endpoint:
            return None
        query = {"client_id": self.settings.client_id, "post_logout_redirect_uri": after}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urllib.parse.urlencode(query)}"
