"""Unit fixtures. Store: a migrated SQLite database in a temporary directory, opened as the server does;
`postgres_url`: one migrated PostgreSQL database for the session, emptied for each test that uses it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from assistants.store import Database
from assistants.store.migrate import upgrade_to_head
from assistants.store.models import Base
from tests.pgdatabase import fresh_database, off_loop, query


@pytest.fixture()
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    upgrade_to_head(url)  # synchronous (alembic runs its own loop), so in a sync fixture
    return url


@pytest.fixture()
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await Database.open(database_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(scope="session")
def migrated_postgres() -> Iterator[str]:
    with fresh_database("unit") as url:
        off_loop(upgrade_to_head, url)
        yield url


@pytest.fixture()
def postgres_url(migrated_postgres: str) -> str:
    """The session's PostgreSQL database, every table emptied (cheaper than migrating a new one)."""
    tables = ", ".join(sa.table(name).name for name in Base.metadata.tables)
    query(migrated_postgres, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return migrated_postgres


@pytest.fixture(params=["sqlite", "postgres"])
async def backend_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database of each backend in turn (a module whose store behaviour must hold
    on both overrides `database` with it)."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        off_loop(upgrade_to_head, url)
    db = await Database.open(url)
    try:
        yield db
    finally:
        await db.close()
