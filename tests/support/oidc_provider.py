"""A real OpenID provider on a local socket for the sign-in tests: a FastAPI app under uvicorn
(discovery, JWKS, authorize, token, userinfo, end_session) that signs RS256 ID tokens with
joserfc. The person "signed in at the provider" is `signed_in`; authorization codes are good
once and bound to their PKCE challenge and redirect URI; refresh tokens rotate. The knobs make
it misbehave the ways a provider (or an attacker between it and us) can: `tamper` (claims of the
next ID token: another audience, an expiry in the past, another nonce), `rogue_key` (a key not in
its JWKS signs the next ID token), `state` (the state it sends back), `inject_code` (a code it
sends instead of a new one: a replay); `signed_in = None` makes it answer `login_required`."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.processes import free_port, wait_for

CLIENT_ID = "runbook-dashboard"
CLIENT_SECRET = "s3cret-of-the-test-client"


@dataclass
class Provider:
    url: str = ""
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    signed_in: str | None = None
    tamper: dict[str, Any] = field(default_factory=dict)
    state: str | None = None
    inject_code: str | None = None
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    issued_codes: list[str] = field(default_factory=list)
    refresh_tokens: dict[str, str] = field(default_factory=dict)  # token → user
    access_tokens: dict[str, str] = field(default_factory=dict)
    refused_refresh: set[str] = field(default_factory=set)  # users whose refresh is refused
    logouts: list[dict[str, str]] = field(default_factory=list)
    refreshes: int = 0
    refresh: bool = True  # False: no refresh tokens (the client re-checks through userinfo)
    rogue_key: RSAKey | None = None  # signs the next ID token instead of the provider's key
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}))

    def id_token(self, user: str, nonce: str | None, access_token: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": self.users[user]["sub"],
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "preferred_username": user,
            **{k: v for k, v in self.users[user].items() if k != "sub"},
        }
        if nonce is not None:
            claims["nonce"] = nonce
        half = hashlib.sha256(access_token.encode()).digest()[:16]
        claims["at_hash"] = base64.urlsafe_b64encode(half).rstrip(b"=").decode()
        claims.update(self.tamper)
        self.tamper = {}
        key, self.rogue_key = self.rogue_key or self.key, None
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)

    def tokens(self, user: str, nonce: str | None) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens[access] = user
        answer = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": self.id_token(user, nonce, access),
        }
        if self.refresh:
            self.refresh_tokens[refresh] = user
            answer["refresh_token"] = refresh
        return answer


def _app(p: Provider) -> FastAPI:
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    def discovery() -> dict[str, Any]:
        return {
            "issuer": p.url,
            "authorization_endpoint": p.url + "/authorize",
            "token_endpoint": p.url + "/token",
            "userinfo_endpoint": p.url + "/userinfo",
            "jwks_uri": p.url + "/jwks",
            "end_session_endpoint": p.url + "/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    @app.get("/jwks")
    def jwks() -> dict[str, Any]:
        return {"keys": [p.key.as_dict(private=False)]}

    @app.get("/authorize")
    def authorize(request: Request) -> Any:
        q = request.query_params
        if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
            return JSONResponse({"error": "invalid_request"}, 400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge") or not q.get("nonce"):
            return JSONResponse({"error": "invalid_request", "error_description": "PKCE S256 and nonce"}, 400)
        back = q["redirect_uri"]
        if p.signed_in is None:
            return RedirectResponse(f"{back}?error=login_required&state={q.get('state', '')}", 303)
        code = secrets.token_urlsafe(16)
        p.codes[code] = {
            "user": p.signed_in,
            "challenge": q["code_challenge"],
            "redirect_uri": back,
            "nonce": q["nonce"],
        }
        p.issued_codes.append(code)
        sent = p.inject_code or code
        state = p.state if p.state is not None else q.get("state", "")
        query = urllib.parse.urlencode({"code": sent, "state": state})
        return RedirectResponse(f"{back}?{query}", 303)

    def _client_ok(authorization: str | None) -> bool:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        return authorization == f"Basic {expected}"

    @app.post("/token")
    async def token(request: Request, authorization: str | None = Header(None)) -> Any:
        form = {k: v[0] for k, v in urllib.parse.parse_qs((await request.body()).decode()).items()}
        grant_type, code, code_verifier = form.get("grant_type"), form.get("code"), form.get("code_verifier")
        redirect_uri, refresh_token = form.get("redirect_uri"), form.get("refresh_token")
        if not _client_ok(authorization):
            return JSONResponse({"error": "invalid_client"}, 401)
        if grant_type == "authorization_code":
            grant = p.codes.pop(code or "", None)  # good once
            if grant is None or redirect_uri != grant["redirect_uri"] or not code_verifier:
                return JSONResponse({"error": "invalid_grant"}, 400)
            digest = hashlib.sha256(code_verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
            return p.tokens(grant["user"], grant["nonce"])
        if grant_type == "refresh_token":
            p.refreshes += 1
            user = p.refresh_tokens.pop(refresh_token or "", None)  # rotated: good once
            if user is None or user in p.refused_refresh:
                return JSONResponse({"error": "invalid_grant"}, 400)
            return p.tokens(user, None)
        return JSONResponse({"error": "unsupported_grant_type"}, 400)

    @app.get("/userinfo")
    def userinfo(authorization: str | None = Header(None)) -> Any:
        user = p.access_tokens.get((authorization or "").removeprefix("Bearer "))
        if user is None:
            return JSONResponse({"error": "invalid_token"}, 401)
        return {"sub": p.users[user]["sub"], "preferred_username": user, **p.users[user]}

    @app.get("/logout")
    def logout(request: Request) -> Any:
        p.logouts.append(dict(request.query_params))
        p.signed_in = None
        return RedirectResponse(request.query_params.get("post_logout_redirect_uri", "/"), 303)

    return app


class ProviderServer:
    """The provider on 127.0.0.1, started and stopped by a fixture."""

    def __init__(self) -> None:
        port = free_port()
        self.provider = Provider(url=f"http://127.0.0.1:{port}")
        self._server = uvicorn.Server(
            uvicorn.Config(_app(self.provider), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> Provider:
        self._thread.start()
        wait_for(lambda: self._server.started, 30, what="the OpenID provider")
        return self.provider

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(30)
