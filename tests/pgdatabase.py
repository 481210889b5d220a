"""Fresh PostgreSQL databases for tests, on the server `ASSISTANTS_TEST_PG_URL` names.

Default: the machine's local server (trust auth). Unreachable, creating a database raises, so the
tests that need one fail: never a skip, as the backend they cover would go untested
(`scripts/ensure-postgres` starts the local server).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import asyncpg
import sqlalchemy as sa

SERVER = os.environ.get("ASSISTANTS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
"""Where test databases are created and dropped (a plain libpq URL)."""
T = TypeVar("T")


def off_loop(function: Callable[..., T], *args: Any) -> T:
    """Call a sync function that runs its own event loop (asyncio.run, alembic), also from under a
    running loop (an async fixture), where it must go to a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return off_loop(asyncio.run, coroutine)


async def _admin(sql: str) -> None:
    try:
        connection = await asyncpg.connect(SERVER, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise RuntimeError(f"PostgreSQL at {SERVER} is unreachable ({exc}); start it with "
                           "scripts/ensure-postgres or set ASSISTANTS_TEST_PG_URL") from exc
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def fresh_database(purpose: str) -> Iterator[str]:
    """Create an empty database, yield its `postgresql+asyncpg://` URL, drop it (even if still in use)."""
    name = f"assistants_{purpose}_{os.getpid()}_{random.randrange(1 << 30)}"
    _run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(SERVER).set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False)
    finally:
        _run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def query(url: str, sql: str, *params: Any) -> list[tuple]:
    """Rows of one statement on a PostgreSQL database (`$1`-style parameters), from sync test code."""
    async def fetch() -> list[tuple]:
        connection = await asyncpg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False), timeout=10)
        try:
            return [tuple(row) for row in await connection.fetch(sql, *params)]
        finally:
            await connection.close()

    return _run(fetch())


async def terminate_connections(url: str) -> int:
    """pg_terminate_backend on every other session of the database: how a lost connection is made."""
    database = sa.make_url(url).database
    connection = await asyncpg.connect(SERVER, timeout=10)
    try:
        return await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()", database)
    finally:
        await connection.close()
