"""Auth edge: accounts and their tokens, dashboard sessions with CSRF tokens, the access policy
(one table: which roles may call which route), login rate limits, and the audit of every
denial. A team lead's reach to tasks (their teams only) is the engine's ownership rule.

Tokens are `rbt_` + 192 random bits, shown once and stored as SHA-256. A session cookie holds
another random value (stored hashed) and ends after `RUNBOOK_SESSION_IDLE` minutes without a
request (default 120) or `RUNBOOK_SESSION_MAX` minutes after login (default 720: a shift)."""

from __future__ import annotations

import collections
import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flows.actors import Actor
from flows.errors import Conflict, Invalid, NotFound
from flows.store import Store, utcnow

ROLES = ("viewer", "team_lead", "manager", "admin", "gateway")
COOKIE = "rb_session"  # the dashboard's session cookie
READ = frozenset({"viewer", "team_lead", "manager", "admin"})
ACT = frozenset({"team_lead", "manager"})
MANAGE = frozenset({"manager"})

# The access policy, one row a route: the roles that may call it. For task routes the engine
# then checks ownership (a team lead: tasks of their teams; a manager: any, overriding with a
# reason). The authorisation matrix test is generated from this table.
POLICY: dict[str, frozenset[str]] = {
    "me": frozenset(ROLES),
    "openapi": READ,
    "metrics": READ,
    "lockdown": MANAGE,
    "standdown": MANAGE,
    "start_run": MANAGE,
    "cancel": MANAGE,
    "run_update": MANAGE,  # a status update on a run (event run.update, the site's default channel)
    "runbooks": READ,  # the library: runbooks with their inputs and the sites they validate for
    "runs": READ,
    "run": READ,
    "tasks": READ,
    "events": READ,
    "audit": READ,
    "complete": ACT,
    "approve": ACT,
    "reject": ACT,
    "complete_bulk": ACT,
    "skip": MANAGE,
    "retry": MANAGE,
    "reassign": MANAGE,
    "add_task": MANAGE,
    "outbox": MANAGE,
    "outbox_retry": MANAGE,
    "muster_links": MANAGE,
    "muster_answer": ACT,
    "muster_close": MANAGE,
    "headcount": READ,
    "inbound_sms": frozenset({"gateway"}),
    # the dashboard's data: each page and its JSON twin share a row
    "overview": READ,
    "board": READ,
    "task": READ,
    "my_tasks": READ,
    "calls": ACT,  # a lead reads their own teams' call list (flows/board.py), a manager every team's
    "restock": MANAGE,
    "pools": READ,
    "shifts": READ,  # a run's shift plan (who works when; no contact details)
    "shift_swap": ACT,  # a lead of the shifts step's owner team, or a manager (flows/shift_ops.py)
    "loans": READ,  # loans of agents between sites
    "loan_request": MANAGE,  # the borrowing site's manager (a tied manager: their sites only)
    "loan_decide": MANAGE,  # accept, refuse: the lender's manager; recall: either site's
    "coverage": READ,  # a site's 7x24 coverage (counts, no one's contact details): API and page
    # one person's story in a run, finding people, exports
    "person": READ,
    "people": READ,
    "audit_csv": READ,
    "tasks_csv": READ,
    "grants": MANAGE,  # the grant ledger: API, page and CSV (who holds which access)
    # after the event: a run's report (JSON, HTML, PDF, page) and findings tracked to closure
    "report": READ,
    "findings": READ,
    "findings_add": MANAGE,
    "findings_close": MANAGE,
}
AUDIT_CHAIN = "access"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return "rbt_" + secrets.token_urlsafe(24)


def actor_of(account: Mapping[str, Any]) -> Actor:
    return Actor(
        account["name"],
        account["role"],
        frozenset(tuple(t) for t in account["teams"]),
        account["staff_id"],
        sites=frozenset(account.get("sites") or ()),
    )


# --- accounts ------------------------------------------------------------------------------------


def add_account(
    store: Store,
    name: str,
    role: str,
    teams: Sequence[str] = (),
    staff_id: str | None = None,
    *,
    by: str,
    sites: Sequence[str] = (),
) -> str:
    """Create an account; returns its token (shown once, never stored). `sites`: a manager tied
    to those sites acts on their runs and loans only (none: global)."""
    if role not in ROLES:
        raise Invalid(f'unknown role "{role}" (roles: {", ".join(ROLES)})')
    if not name or len(name) > 100 or not name.isprintable():
        raise Invalid("an account name is 1 to 100 printable characters")
    pairs = [_team(t) for t in teams]
    if role == "team_lead" and not pairs:
        raise Invalid("a team lead needs --team SITE/TEAM (one or more)")
    if pairs and role != "team_lead":
        raise Invalid("--team is for team leads")
    if sites and role != "manager":
        raise Invalid("--site is for managers")
    tied = sorted({_site(s) for s in sites})
    token = new_token()
    now = utcnow()
    with store.transaction() as tx:
        if any(a["name"] == name and a["revoked_at"] is None for a in tx.accounts()):
            raise Conflict(f'an account "{name}" exists (revoke it first to replace its token)')
        tx.lock_chain(AUDIT_CHAIN)
        tx.insert_account(
            {
                "id": "a" + secrets.token_hex(6),
                "name": name,
                "role": role,
                "teams": pairs,
                "staff_id": staff_id,
                "sites": tied or None,
                "token_hash": _hash(token),
                "created_at": now,
                "created_by": by,
            }
        )
        tx.append_audit(
            AUDIT_CHAIN,
            actor=by,
            action="account.add",
            target=name,
            detail={"role": role, "teams": ["/".join(p) for p in pairs], "staff": staff_id, "sites": tied},
            at=now,
        )
    return token


def _site(site_id: str) -> str:
    from runbooks.library import find_site

    try:
        find_site(site_id, allow_path=False)
    except Exception as e:  # noqa: BLE001 - any reason the site is not found is the user's answer
        raise Invalid(f'--site "{site_id}": {getattr(e, "message", None) or e}') from None
    return site_id


def _team(text: str) -> list[str]:
    from runbooks.library import find_site
    from runbooks.sites import load_site

    site_id, sep, team = text.partition("/")
    if not sep or not site_id or not team:
        raise Invalid(f'--team "{text}": write SITE/TEAM, e.g. xian/it')
    try:
        site = load_site(find_site(site_id, allow_path=False))
    except Exception as e:  # noqa: BLE001 - any reason the site does not load is the user's answer
        raise Invalid(f'--team "{text}": {getattr(e, "message", None) or e}') from None
    if team not in site.teams:
        raise Invalid(f'--team "{text}": site {site_id} has no team "{team}" (teams: {", ".join(site.teams)})')
    return [site_id, team]


def revoke_account(store: Store, name: str, *, by: str) -> None:
    now = utcnow()
    with store.transaction() as tx:
        tx.lock_chain(AUDIT_CHAIN)
        if not tx.revoke_account(name, now):
            raise NotFound(f'no active account "{name}"')
        tx.append_audit(AUDIT_CHAIN, actor=by, action="account.revoke", target=name, at=now)


def list_accounts(store: Store) -> list[dict[str, Any]]:
    with store.read() as r:
        return [
            {
                "name": a["name"],
                "role": a["role"],
                "teams": ["/".join(t) for t in a["teams"]],
                "staff": a["staff_id"],
                "sites": list(a.get("sites") or []),
                "created_at": a["created_at"].isoformat(),
                "created_by": a["created_by"],
                "revoked_at": a["revoked_at"].isoformat() if a["revoked_at"] else None,
            }
            for a in r.accounts()
        ]


def ensure_admin(store: Store, home: Path) -> str | None:
    """On a first start: an `admin` account; its token printed once and written to
    `$RUNBOOK_HOME/admin.token` (mode 600). None when accounts exist."""
    with store.read() as r:
        if r.accounts():
            return None
    token = add_account(store, "admin", "admin", by="runbook serve (first start)")
    path = home / "admin.token"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token


def account_for_token(store: Store, token: str) -> dict[str, Any] | None:
    with store.read() as r:
        account = r.account_by_token(_hash(token))
    return account if account and account["revoked_at"] is None else None


# --- sessions ------------------------------------------------------------------------------------


def _minutes(name: str, default: float) -> timedelta:
    return timedelta(minutes=float(os.environ.get(name) or default))


@dataclass(frozen=True)
class Session:
    id_hash: str
    account: dict[str, Any]
    csrf: str


def login(store: Store, account: Mapping[str, Any]) -> tuple[str, str]:
    """A new session for an account → (cookie value, CSRF token)."""
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with store.transaction() as tx:
        tx.insert_session(
            {
                "id_hash": _hash(cookie),
                "account_id": account["id"],
                "csrf": csrf,
                "created_at": now,
                "last_seen": now,
                "expires_at": now + _minutes("RUNBOOK_SESSION_MAX", 720),
            }
        )
    return cookie, csrf


def session_for_cookie(store: Store, cookie: str) -> Session | None:
    id_hash = _hash(cookie)
    now = utcnow()
    with store.read() as r:
        row = r.session(id_hash)
        account = r.account(row["account_id"]) if row else None
    if row is None or account is None or account["revoked_at"] is not None:
        return None
    if now >= row["expires_at"] or now - row["last_seen"] >= _minutes("RUNBOOK_SESSION_IDLE", 120):
        with store.transaction() as tx:
            tx.delete_session(id_hash)
        return None
    if now - row["last_seen"] > timedelta(minutes=1):  # at most one write a minute per session
        with store.transaction() as tx:
            tx.touch_session(id_hash, now)
    return Session(id_hash, account, row["csrf"])


def logout(store: Store, cookie: str) -> None:
    with store.transaction() as tx:
        tx.delete_session(_hash(cookie))


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), (sent or "").encode())


# --- rate limits and denials ---------------------------------------------------------------------


class LoginLimiter:
    """At most `failures` failed attempts per client address per `window` seconds, and at most
    `ceiling` from all addresses together (a spread-out guess), in memory: each `runbook serve`
    replica counts its own. `begin` counts an attempt before it is checked and `succeeded`
    takes it back, so concurrent attempts cannot all pass one check (60 at once with a limit of
    10: 10 are evaluated)."""

    GLOBAL = "*"

    def __init__(self, failures: int = 10, window: float = 300.0, ceiling: int | None = None):
        self.failures, self.window = failures, window
        self.ceiling = ceiling if ceiling is not None else failures * 50
        self._seen: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def _wait(self, key: str, limit: int, now: float) -> float:
        q = self._seen[key]
        while q and q[0] <= now - self.window:
            q.popleft()
        return 0.0 if len(q) < limit else q[0] + self.window - now

    def retry_after(self, client: str) -> float:
        """0 when this client may try; else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            return max(self._wait(client, self.failures, now), self._wait(self.GLOBAL, self.ceiling, now))

    def begin(self, client: str) -> float | None:
        """Count an attempt from `client` now; None when it may go ahead, else the seconds to wait
        (and nothing is counted)."""
        now = time.monotonic()
        with self._lock:
            wait = max(self._wait(client, self.failures, now), self._wait(self.GLOBAL, self.ceiling, now))
            if wait:
                return wait
            self._seen[client].append(now)
            self._seen[self.GLOBAL].append(now)
            return None

    def succeeded(self, client: str) -> None:
        """The attempt `begin` counted was good: it is no failure."""
        with self._lock:
            for key in (client, self.GLOBAL):
                if self._seen[key]:
                    self._seen[key].pop()

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._seen[client].append(now)
            self._seen[self.GLOBAL].append(now)


class DenialBudget:
    """At most `per_minute` denial rows per client address a minute: a flood of refused
    requests must not queue ahead of real check-offs on the store's writer. The next row
    written says how many were left out."""

    def __init__(self, per_minute: int = 20):
        self.per_minute = per_minute
        self._seen: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._skipped: collections.Counter = collections.Counter()
        self._lock = threading.Lock()

    def take(self, client: str) -> int | None:
        """None: do not write a row; else how many were left out before this one."""
        now = time.monotonic()
        with self._lock:
            q = self._seen[client]
            while q and q[0] <= now - 60:
                q.popleft()
            if len(q) >= self.per_minute:
                self._skipped[client] += 1
                return None
            q.append(now)
            return self._skipped.pop(client, 0)


def client_of(request: Any) -> str:
    """The caller's address as the denial audit and the rate limits count it."""
    return request.client.host if request.client else "-"


def audit_denial(store: Store, who: str, what: str, why: str, client: str, budget: DenialBudget | None = None) -> None:
    skipped = budget.take(client) if budget is not None else 0
    if skipped is None:
        return
    now = utcnow()
    detail: dict[str, Any] = {"client": client}
    if skipped:
        detail["not_recorded_before"] = skipped  # denials from this client left out of the audit
    with store.transaction() as tx:
        tx.lock_chain(AUDIT_CHAIN)
        tx.append_audit(
            AUDIT_CHAIN, actor=who, action="access.denied", target=what[:300], reason=why, detail=detail, at=now
        )


# --- privacy -------------------------------------------------------------------------------------

CONTACT_KEYS = frozenset({"phone", "mobile", "email", "chat_id"})
PRIVATE_KEYS = frozenset({"unavailable_reason", "why_unavailable"})


def mask_phone(value: str) -> str:
    digits = str(value)
    return digits[:3] + "*" * max(0, len(digits) - 7) + digits[-4:] if len(digits) > 7 else "****"


def sees_private(role: str) -> bool:
    """Whether `role` sees contact details and private reasons unredacted."""
    return role in ("manager", "operator")


def redact(value: Any, role: str) -> Any:
    """Contact details and private reasons are for managers; others see masked phone numbers
    and nothing of emails, chat ids or why someone cannot work."""
    if sees_private(role):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in PRIVATE_KEYS:
                continue
            if k in CONTACT_KEYS and isinstance(v, str) and v:
                out[k] = mask_phone(v) if k in ("phone", "mobile") else "***"
            else:
                out[k] = redact(v, role)
        return out
    if isinstance(value, list):
        return [redact(v, role) for v in value]
    return value
