"""The alembic migrations create exactly the tables of flows/store/schema.py."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from flows.store import metadata


def test_migrations_match_the_schema(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    # Type-only differences of UTCDateTime (a TypeDecorator over DateTime) are not schema changes.
    assert [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")] == []
