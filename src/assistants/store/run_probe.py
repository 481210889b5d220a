"""The cheapest read that says whether a cached run object is still the database's: one run's
`status`, `worker_id`, `attempts` and `metadata` (as stored text), by its id.

Used by `runs.live` on every poll of a run (`GET .../runs/{id}`), so it skips SQLAlchemy on SQLite
(`side_reader`: a connection of its own and one prepared statement, a few µs against ~300 µs for a
session, an ORM select and a Run struct). PostgreSQL answers the same statement through an ordinary
read session (a round trip either way).
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa

from assistants.store.database import Database
from assistants.store.side_reader import SideReader

_COLUMNS = "status, worker_id, attempts, CAST(metadata AS TEXT)"
_SQL = f"SELECT {_COLUMNS} FROM runs WHERE id = :id AND thread_id = :thread_id"
_SQLITE_SQL = f"SELECT {_COLUMNS} FROM runs WHERE id = ? AND thread_id = ?"


class RunState(NamedTuple):
    status: str
    worker_id: str | None
    attempts: int
    """Counts claims: a run that went back to `queued` and was claimed again differs here."""
    metadata: str
    """The stored JSON text (compared parsed: PostgreSQL may reorder keys)."""


class RunProbe:
    """Owned by the live-run view; `close()` with it."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._side = SideReader(database)

    async def state(self, thread_id: str, run_id: str) -> RunState | None:
        """The run's state now (None: no such run in this thread)."""
        if self._side.available:
            rows = self._side.rows(_SQLITE_SQL, (run_id, thread_id))
            row = rows[0] if rows else None
        else:
            async with self._database.read() as session:
                row = (await session.execute(sa.text(_SQL), {"id": run_id, "thread_id": thread_id})).first()
        return None if row is None else RunState(row[0], row[1], row[2], row[3] or "{}")

    def close(self) -> None:
        self._side.close()
