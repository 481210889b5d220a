"""Unit fixtures. Store: a migrated SQLite database in a temporary directory, opened as the server does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from assistants.store import Database
from assistants.store.migrate import upgrade_to_head


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
