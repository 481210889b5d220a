"""Many concurrent writers through `database.write()`: no "database is locked", nothing lost."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from assistants import protocol as p
from assistants import store
from assistants.store import Database
from assistants.store.models import messages


async def test_concurrent_writers_and_readers(database: Database) -> None:
    async with database.write() as session:
        thread = await store.create_thread(session, None)

    async def writer(i: int) -> None:
        for j in range(5):
            async with database.write() as session:
                # read-then-write in one transaction: the pattern that fails under deferred BEGIN
                await store.create_message(session, thread["id"],
                                           p.CreateMessageRequest(role="user", content=f"{i}-{j}"))

    async def reader() -> int:
        async with database.read() as session:
            page = await store.list_messages(session, thread["id"], store.page_request(limit=100))
        return len(page.rows)

    results = await asyncio.gather(*(writer(i) for i in range(40)), *(reader() for _ in range(20)))
    assert all(isinstance(r, int) or r is None for r in results)
    async with database.read() as session:
        count = (await session.execute(sa.select(sa.func.count()).select_from(messages))).scalar()
    assert count == 200


async def test_two_databases_on_one_file_both_write(database: Database, database_url: str) -> None:
    """A second process (here: a second Database) waits on SQLite's lock instead of failing."""
    other = await Database.open(database_url)
    try:
        async def create(db: Database) -> None:
            for _ in range(20):
                async with db.write() as session:
                    await store.create_thread(session, None)

        await asyncio.gather(create(database), create(other), create(database), create(other))
    finally:
        await other.close()
    async with database.read() as session:
        assert (await session.execute(sa.text("SELECT count(*) FROM threads"))).scalar() == 80


async def test_failed_write_rolls_back(database: Database) -> None:
    try:
        async with database.write() as session:
            await store.create_thread(session, None)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with database.read() as session:
        assert (await session.execute(sa.text("SELECT count(*) FROM threads"))).scalar() == 0


async def test_sqlite_pragmas(database: Database) -> None:
    async with database.write() as session:
        journal = (await session.execute(sa.text("PRAGMA journal_mode"))).scalar()
        foreign_keys = (await session.execute(sa.text("PRAGMA foreign_keys"))).scalar()
        synchronous = (await session.execute(sa.text("PRAGMA synchronous"))).scalar()
    assert (journal, foreign_keys, synchronous) == ("wal", 1, 1)
