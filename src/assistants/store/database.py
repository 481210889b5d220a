"""Engine and session setup: `Database.open(url)`, `database.write()`, `database.read()`.

SQLite (the default) gets WAL, foreign keys, `synchronous=NORMAL` and a busy timeout on every connection.
Write transactions start with `BEGIN IMMEDIATE`, so they hold the write lock from their first statement:
a deferred transaction that reads first and writes later can fail with "database is locked" when
another writer got in between, and no busy timeout helps then. Inside one process, writers also queue
on an asyncio lock, so they wait on the event loop instead of in SQLite's sleep-and-retry busy handler.
Reads run in autocommit mode on their own small pool: under WAL they never block nor take the lock.
SQLite calls run inline on the event loop (`sqlite_inline`): cheaper than a thread hand-off per call.
PostgreSQL gets one pool (`PostgresOptions`: size, overflow, checkout timeout) whose connections carry
a `statement_timeout`, with the client giving up shortly after it (a black-holed network is not a hung
request); it relies on the database's own locking, and transactions that append events also take the
log's advisory lock (`store.events`).

A session that loses the database (refused or dropped connection, timeout, pool exhausted) raises
`DatabaseUnavailable` (503, `x-should-retry: true`), whatever statement it was at: its transaction
is gone, so nothing is half-written. Text holding NUL, which PostgreSQL cannot store or compare, is a 400.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from assistants.errors import DatabaseUnavailable, InvalidRequest
from assistants.protocol.codec import encoder
from assistants.store.sqlite_inline import inline_creator

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_POOL_SIZE = 4

log = logging.getLogger("assistants.store")


@dataclass(frozen=True)
class PostgresOptions:
    """Pool and timeouts of a PostgreSQL database (`--db-pool-size` ...); SQLite ignores them."""

    pool_size: int = 10
    """Connections kept open. Requests hold one for a transaction only, so ~10 serve hundreds."""
    max_overflow: int = 10
    """Extra connections opened under a burst and closed when returned."""
    pool_timeout: float = 10.0
    """Seconds a session waits for a free connection before it answers 503."""
    statement_timeout: float = 30.0
    """Seconds one statement may run on the server (PostgreSQL cancels it); 0 means no limit."""
    connect_timeout: float = 5.0
    """Seconds to open a connection (refused or unanswered: 503)."""


_UNAVAILABLE_SQLSTATES = frozenset({
    "57P01", "57P02", "57P03",  # terminated by an administrator, crash shutdown, cannot connect now
    "57014",  # statement_timeout cancelled the statement
    "53300",  # too many connections
    "40P01",  # deadlock detected: the transaction was rolled back, a retry succeeds
})
_NUL_SQLSTATE = "22021"  # character_not_in_repertoire: a NUL in a text parameter


def _sqlstate(exc: sa.exc.DBAPIError) -> str:
    return str(getattr(exc.orig, "sqlstate", None) or "")


def _database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or answered in time; the transaction did not happen."""
    if isinstance(exc, sa.exc.DBAPIError):
        state = _sqlstate(exc)
        return (exc.connection_invalidated or isinstance(exc, sa.exc.InterfaceError)
                or state.startswith("08") or state in _UNAVAILABLE_SQLSTATES)
    # Connection refused or reset (asyncpg raises OSError unwrapped on connect), a client-side
    # timeout, or no pooled connection free within pool_timeout.
    return isinstance(exc, (OSError, TimeoutError, sa.exc.TimeoutError))


@asynccontextmanager
async def _database_errors() -> AsyncIterator[None]:
    try:
        yield
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) == _NUL_SQLSTATE:
            raise InvalidRequest("Invalid request: text must not contain the NUL character (\\u0000).",
                                 code="invalid_text") from exc
        if _database_unavailable(exc):
            log.warning("database unavailable: %s", exc.orig)
            raise DatabaseUnavailable("The database is unavailable; try again shortly.") from exc
        raise
    except (OSError, TimeoutError, sa.exc.TimeoutError) as exc:
        log.warning("database unavailable: %r", exc)
        raise DatabaseUnavailable("The database is unavailable; try again shortly.") from exc


def json_serializer(value: Any) -> str:
    return encoder.encode(value).decode()


def _engine(url: sa.URL, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(
        url, json_serializer=json_serializer, json_deserializer=msgspec.json.decode, **kwargs
    )


def _postgres_engine(url: sa.URL, options: PostgresOptions) -> AsyncEngine:
    server_settings = {"statement_timeout": str(int(options.statement_timeout * 1000)),
                       "idle_in_transaction_session_timeout": str(int(options.statement_timeout * 2000))}
    connect_args: dict[str, Any] = {"server_settings": server_settings, "timeout": options.connect_timeout}
    if options.statement_timeout > 0:
        # The client's own limit, past the server's: a statement on a connection whose network went
        # silent (no reset, no answer) ends too.
        connect_args["command_timeout"] = options.statement_timeout + 5
    return _engine(url, pool_size=options.pool_size, max_overflow=options.max_overflow,
                   pool_timeout=options.pool_timeout, pool_pre_ping=True, connect_args=connect_args)


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


Session = AsyncSession
"""What repository functions take (a `write()` or `read()` session); the layers above the store name
the type through this alias, never through sqlalchemy."""


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
    async def open(cls, url: str, postgres: PostgresOptions | None = None) -> Database:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() != "sqlite":
            engine = _postgres_engine(parsed, postgres or PostgresOptions())
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
        async with (_database_errors(), self._write_lock or nullcontext(), self._write_sessions() as session,
                    session.begin()):
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reads. On SQLite each statement sees a consistent snapshot of its own."""
        async with _database_errors(), self._read_sessions() as session:
            yield session
