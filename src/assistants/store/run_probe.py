"""The cheapest read that says whether a cached run object is still the database's: one run's
`status`, `worker_id`, `attempts` and `metadata` (as stored text), by its id.

Used by `runs.live` on every poll of a run (`GET .../runs/{id}`), so it skips SQLAlchemy on SQLite:
a connection of its own (autocommit, WAL: it never waits on writers) and one prepared statement,
a few µs against ~300 µs for a session, an ORM select and a Run struct. PostgreSQL answers the same
statement through an ordinary read session (a round trip either way).
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

import sqlalchemy as sa

from assistants.store.database import SQLITE_BUSY_TIMEOUT_MS, Database

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
        url = sa.make_url(database.url)
        self._sqlite_path = url.database if url.get_backend_name() == "sqlite" else None
        self._connection: sqlite3.Connection | None = None

    async def state(self, thread_id: str, run_id: str) -> RunState | None:
        """The run's state now (None: no such run in this thread)."""
        if self._sqlite_path is not None:
            # fetchall: the statement runs to its end, so it holds no read snapshot afterwards.
            rows = self._sqlite().execute(_SQLITE_SQL, (run_id, thread_id)).fetchall()
            row = rows[0] if rows else None
        else:
            async with self._database.read() as session:
                row = (await session.execute(sa.text(_SQL), {"id": run_id, "thread_id": thread_id})).first()
        return None if row is None else RunState(row[0], row[1], row[2], row[3] or "{}")

    def _sqlite(self) -> sqlite3.Connection:
        if self._connection is None:
            assert self._sqlite_path is not None
            # check_same_thread=False: a finalizer may close it on another thread.
            connection = sqlite3.connect(self._sqlite_path, isolation_level=None, check_same_thread=False)
            connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            self._connection = connection
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
