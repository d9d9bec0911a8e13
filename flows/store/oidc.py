"""The SQL of OpenID Connect sign-in (mixins of Reader and Tx): accounts linked to a provider's
subject, sign-ins under way, and the provider's tokens of a session."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from .base import Queries
from .schema import accounts, oidc_links, oidc_logins, oidc_sessions


class OidcReads(Queries):
    def oidc_account(self, issuer: str, subject: str) -> dict[str, Any] | None:
        """The active account linked to `subject` at `issuer` (`sites` the account's), with the link's `groups`."""
        row = self.fetch_one(
            select(accounts, oidc_links.c.groups)
            .join(oidc_links, oidc_links.c.account_id == accounts.c.id)
            .where(oidc_links.c.issuer == issuer, oidc_links.c.subject == subject, accounts.c.revoked_at.is_(None))
        )
        return row

    def oidc_link(self, account_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(oidc_links).where(oidc_links.c.account_id == account_id))

    def oidc_session(self, session_hash: str) -> dict[str, Any] | None:
        return self.fetch_one(select(oidc_sessions).where(oidc_sessions.c.session_hash == session_hash))


class OidcWrites(Queries):
    def insert_oidc_link(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(oidc_links).values(**row))

    def update_oidc_link(self, account_id: str, **values: Any) -> None:
        self.conn.execute(update(oidc_links).where(oidc_links.c.account_id == account_id).values(**values))

    def update_account_rights(
        self, account_id: str, role: str, teams: list[list[str]], sites: list[str], staff_id: str | None
    ) -> None:
        """Rights from the provider's groups; an account with no sites is not tied to any (NULL, as `users add`)."""
        self.conn.execute(
            update(accounts)
            .where(accounts.c.id == account_id)
            .values(role=role, teams=teams, sites=sites or None, staff_id=staff_id)
        )

    def insert_oidc_login(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(oidc_logins).values(**row))

    def take_oidc_login(self, state_hash: str) -> dict[str, Any] | None:
        """The sign-in under way with this state, removed: a state is good once."""
        row = self.fetch_one(select(oidc_logins).where(oidc_logins.c.state_hash == state_hash))
        if row is not None:
            self.conn.execute(oidc_logins.delete().where(oidc_logins.c.state_hash == state_hash))
        return row

    def drop_oidc_logins_before(self, at: datetime) -> None:
        self.conn.execute(oidc_logins.delete().where(oidc_logins.c.created_at < at))

    def insert_oidc_session(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(oidc_sessions).values(**row))

    def claim_oidc_check(self, session_hash: str, seen: datetime, at: datetime) -> bool:
        """Take the session's re-check (its `checked_at` still `seen`): one request of a session
        refreshes its tokens, the others go on with the rights of the last check."""
        result = self.conn.execute(
            update(oidc_sessions)
            .where(oidc_sessions.c.session_hash == session_hash, oidc_sessions.c.checked_at == seen)
            .values(checked_at=at)
        )
        return bool(result.rowcount)

    def update_oidc_session(self, session_hash: str, tokens: Mapping[str, Any]) -> None:
        self.conn.execute(
            update(oidc_sessions).where(oidc_sessions.c.session_hash == session_hash).values(tokens=dict(tokens))
        )

    def delete_oidc_sessions(self, *, session_hash: str | None = None, account_id: str | None = None) -> None:
        if session_hash is not None:
            self.conn.execute(oidc_sessions.delete().where(oidc_sessions.c.session_hash == session_hash))
        if account_id is not None:
            self.conn.execute(oidc_sessions.delete().where(oidc_sessions.c.account_id == account_id))
