"""Many concurrent writers through `database.write()`: no "database is locked", nothing lost."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

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
                # Read, yield to the loop mid-transaction, then write: the interleaving that ends in
                # "database is locked" unless writers take the lock up front, one at a time.
                await store.get_thread(session, thread["id"])
                await asyncio.sleep(0)
                await store.create_message(session, thread["id"],
                                           p.CreateMessageRequest(role="user", content=f"{i}-{j}"))

    async def reader() -> int:
        async with database.read() as session:
            page = await store.list_messages(session, thread["id"], store.page_request(limit=100))
        return len(page.rows)

    results = await asyncio.gather(*(writer(i) for i in range(40)), *(reader() for _ in range(20)))
    assert all(0 <= seen <= 100 for seen in results[40:])  # a reader sees a page of committed rows
    async with database.read() as session:
        contents = (await session.execute(sa.select(messages.c.content))).scalars().all()
    # Every write committed exactly once: nothing lost, nothing doubled.
    assert sorted(content[0]["text"]["value"] for content in contents) == sorted(
        f"{i}-{j}" for i in range(40) for j in range(5))


async def test_writer_waits_for_another_process_holding_the_lock(database: Database, database_url: str,
                                                                 tmp_path: Path) -> None:
    """Another process in a write transaction: our write waits (busy timeout) instead of failing."""
    db_file = tmp_path / "test.db"
    holder = subprocess.Popen([sys.executable, "-c", (  # noqa: ASYNC220 (a real second process)
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(db_file)!r}, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE'); c.execute(\"INSERT INTO threads (id, created_at, metadata) "
        "VALUES ('thread_other', 1, '{}')\")\n"
        "print('locked', flush=True); time.sleep(0.5); c.execute('COMMIT')\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        async with database.write() as session:
            await store.create_thread(session, None)
    finally:
        assert holder.wait(10) == 0
        holder.stdout.close()
    async with database.read() as session:
        assert (await session.execute(sa.text("SELECT count(*) FROM threads"))).scalar() == 2


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
