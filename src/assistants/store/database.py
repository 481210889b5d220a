"""Engine and session setup: `Database.open(url)`, `database.write()`, `database.read()`.

SQLite (the default) gets WAL, foreign keys, `synchronous=NORMAL` and a busy timeout on every connection.
Write transactions start with `BEGIN IMMEDIATE`, so they hold the write lock from their first statement:
a deferred transaction that reads first and writes later can fail with "database is locked" when
another writer got in between, and no busy timeout helps then. Inside one process, writers also queue
on an asyncio lock, so they wait on the event loop instead of in SQLite's sleep-and-retry busy handler.
Reads run in autocommit mode on their own small pool: under WAL they never block nor take the lock.
SQLite calls run inline on the event loop (`sqlite_inline`): cheaper than a thread hand-off per call.
Any other URL (PostgreSQL) uses its driver's defaults and the database's own locking; transactions
that append events also take the log's advisory lock (`store.events`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from assistants.protocol.codec import encoder
from assistants.store.sqlite_inline import inline_creator

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_POOL_SIZE = 4

def json_serializer(value: Any) -> str:
    return encoder.encode(value).decode()


def _engine(url: sa.URL, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(
        url, json_serializer=json_serializer, json_deserializer=msgspec.json.decode, **kwargs
    )


def _sqlite_engine(url: sa.URL, *, begin: str | None, pool_size: int) -> AsyncEngine:
    # Statements run inline (see sqlite_inline), with the driver's transaction control off.
    engine = _engine(url, pool_size=pool_size, max_overflow=0,
                     pool_reset_on_return=None if begin is None else "rollback",
                     async_creator=inline_creator(url.database or ""))

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL",
                       f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        if begin is not None:
            # Straight to the driver: a full SQLAlchemy execution here would cost more than the write.
            connection.connection.driver_connection.execute_now(begin)  # type: ignore[union-attr]

    return engine


class Database:
    """One per server. Sessions are short: open, do one request's work, commit."""

    def __init__(self, url: str, write_engine: AsyncEngine, read_engine: AsyncEngine,
                 write_lock: asyncio.Lock | None) -> None:
        self.url = url
        self.write_engine = write_engine
        self.read_engine = read_engine
        self._write_lock = write_lock
        self._write_sessions = async_sessionmaker(write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(read_engine, expire_on_commit=False)

    @classmethod
    async def open(cls, url: str) -> Database:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() != "sqlite":
            engine = _engine(parsed, pool_pre_ping=True)
            return cls(url, engine, engine, None)
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("SQLite needs a file path: an in-memory database is not shared by connections")
        # One writer connection is enough: the lock lets one write transaction run at a time anyway.
        write_engine = _sqlite_engine(parsed, begin="BEGIN IMMEDIATE", pool_size=1)
        read_engine = _sqlite_engine(parsed, begin=None, pool_size=READ_POOL_SIZE)
        database = cls(url, write_engine, read_engine, asyncio.Lock())
        async with database.write() as session:  # fail at start-up, not on the first request
            await session.execute(sa.text("SELECT 1"))
        return database

    async def close(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        Keep the block short and free of slow awaits (no model calls): it holds the write lock.
        """
        async with self._write_lock or nullcontext(), self._write_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads. On SQLite each statement sees a consistent snapshot of its own."""
        async with self._read_sessions() as session:
            yield session
