"""An aiosqlite-shaped connection that runs SQLite calls inline on the event loop thread.

SQLAlchemy's aiosqlite adapter awaits a driver coroutine for every cursor step (create, execute,
fetch, close), and aiosqlite answers each one from its own thread: about four thread hand-offs per
statement, which cost far more CPU than the statements themselves (profiled: ~12 hand-offs and
~1.5 ms CPU for one create-message transaction; a local SQLite statement takes tens of µs).
Given to `create_async_engine(..., async_creator=...)`, this class keeps SQLAlchemy's async API while
each call runs directly. That is safe here because:
- in-process writers queue on the Database's asyncio lock, so `BEGIN IMMEDIATE` never waits on
  another of our own transactions, and WAL readers never wait at all;
- only another *process* writing the same file (`serve` + `worker` on one file) can make `BEGIN
  IMMEDIATE` wait, and then the event loop waits with it: for the length of that process's write
  transaction, which is short by design (no model calls inside one), bounded by the busy timeout.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any


class InlineCursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, operation: str, parameters: Any = ()) -> InlineCursor:
        self._cursor.execute(operation, parameters)
        return self

    async def executemany(self, operation: str, parameters: Iterable[Any]) -> InlineCursor:
        self._cursor.executemany(operation, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def fetchall(self) -> Sequence[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _CursorContext:
    """What `aiosqlite.Connection.cursor()` returns: awaitable and an async context manager."""

    def __init__(self, cursor: InlineCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Any:
        async def cursor() -> InlineCursor:
            return self._cursor

        return cursor().__await__()

    async def __aenter__(self) -> InlineCursor:
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        await self._cursor.close()


class InlineConnection:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection: sqlite3.Connection | None = connection  # SQLAlchemy checks it before rollback

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def execute_now(self, sql: str, parameters: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement directly (BEGIN IMMEDIATE from the `begin` listener; `store.direct`)."""
        return self._conn.execute(sql, parameters)

    def execute_many_now(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def cursor(self) -> _CursorContext:
        return _CursorContext(InlineCursor(self._conn.cursor()))

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:  # aiosqlite's forced close (used when SQLAlchemy terminates a connection)
        if self._connection is not None:
            self._connection = None
            self._conn.close()


def inline_creator(path: str) -> Any:
    """`async_creator` for create_async_engine: a connection with driver transaction control off
    (`isolation_level=None`): the engine's `begin` listener issues BEGIN itself."""

    async def connect() -> InlineConnection:
        # check_same_thread=False: the pool may close a connection from a finalizer on another thread.
        return InlineConnection(sqlite3.connect(path, isolation_level=None, check_same_thread=False))

    return connect
