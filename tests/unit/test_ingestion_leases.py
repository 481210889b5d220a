"""Ingestion jobs are leased like runs, on both backends: two workers on one database ingest each file
exactly once; a job whose worker died (stale heartbeat, or a dead pid on this host) is taken over, and
the worker it was taken from can neither renew nor record it."""

from __future__ import annotations

import asyncio
import collections
import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from assistants.ingestion import IngestionWorker
from assistants.protocol.vector_stores import stored_chunking
from assistants.retrieval.index import ChunkIndex
from assistants.retrieval.service import Retrieval
from assistants.retrieval.sqlite_index import SqliteChunkIndex
from assistants.store import Database, ingestion_jobs, new_id
from assistants.store import files as file_store
from assistants.store import vector_stores as vs_store
from assistants.store.files import FileBlobs
from assistants.store.models import vector_store_files
from assistants.store.vector_stores import FileEntry

DEAD_PID = 2**22 + 12345  # above the default pid_max: no such process
ME, OTHER = "elsewhere:1:aaaaaa", "elsewhere:2:bbbbbb"


@pytest.fixture()
def database(backend_database: Database) -> Database:
    return backend_database


class WordEmbedder:
    """Tokens are words, vectors a hash of them: enough to chunk and index without the real model."""

    model_id, dimensions, vocab_size = "words", 8, 1000

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        return [[hash(word) % self.vocab_size for word in text.split()] for text in texts]

    def encode(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        spans, position = [], 0
        for word in text.split():
            start = text.index(word, position)
            spans.append((start, start + len(word)))
            position = start + len(word)
        return self.tokenize([text])[0], spans

    def embed_tokens(self, token_lists: list[list[int]]) -> np.ndarray:
        time.sleep(0.01)  # long enough for the two workers to overlap
        rows = np.ones((len(token_lists), self.dimensions), dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def counting_index(writes: collections.Counter[str]):  # type: ignore[no-untyped-def]
    def factory(path: Path, embedder: object) -> ChunkIndex:
        index = SqliteChunkIndex(path, "words", 8)
        replace = index.replace_file

        def counted(store_id: str, file_id: str, texts: Sequence[str], vectors: np.ndarray) -> None:
            writes[file_id] += 1
            replace(store_id, file_id, texts, vectors)

        index.replace_file = counted  # type: ignore[method-assign]
        return index
    return factory


async def add_files(database: Database, blobs: FileBlobs, count: int) -> tuple[str, list[str]]:
    ids = [new_id("file-") for _ in range(count)]
    async with database.write() as session:
        for number, file_id in enumerate(ids):
            text = f"Fact {number}: the kelp tower number {number} is blue."
            blobs.path(file_id).write_bytes(text.encode())
            await file_store.create_file(session, file_id, f"f{number}.txt", "assistants", 40, None)
        store = await vs_store.create_vector_store(
            session, "kb", None, None, None, [FileEntry(f, None, stored_chunking(None)) for f in ids])
    return store["id"], ids


async def jobs(database: Database) -> dict[str, tuple[str, int, str | None]]:
    async with database.read() as session:
        rows = await session.execute(sa.select(vector_store_files.c.id, vector_store_files.c.status,
                                               vector_store_files.c.attempts, vector_store_files.c.worker_id))
        return {row[0]: (row[1], row[2], row[3]) for row in rows}


async def test_two_workers_on_one_database_ingest_each_file_once(database: Database, tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path)
    _, ids = await add_files(database, blobs, 12)
    writes: collections.Counter[str] = collections.Counter()
    retrievals = [Retrieval(None, tmp_path / "chunks.sqlite3", loader=lambda _: WordEmbedder(),
                            index_factory=counting_index(writes)) for _ in range(2)]
    workers = [await IngestionWorker.start(database, retrieval, blobs, worker_id=name)
               for retrieval, name in zip(retrievals, (ME, OTHER), strict=True)]
    try:
        deadline = time.monotonic() + 60
        while any(status == "in_progress" for status, _, _ in (await jobs(database)).values()):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        for worker in workers:
            await worker.close()
        for retrieval in retrievals:
            retrieval.close()
    done = await jobs(database)
    assert {status for status, _, _ in done.values()} == {"completed"}
    assert {attempts for _, attempts, _ in done.values()} == {1}  # claimed once each
    assert writes == collections.Counter({file_id: 1 for file_id in ids})  # indexed once each
    assert {owner for _, _, owner in done.values()} == {ME, OTHER}  # both took a share


async def test_a_dead_workers_job_is_taken_over_and_the_old_lease_is_void(database: Database,
                                                                           tmp_path: Path) -> None:
    _, (first, second, third) = await add_files(database, FileBlobs(tmp_path), 3)
    async with database.write() as session:
        mine = await ingestion_jobs.claim(session, ME, stale_after=15)
        theirs = await ingestion_jobs.claim(session, OTHER, stale_after=15)
        assert (mine["id"], mine["attempts"], theirs["id"]) == (first, 1, second)
        gone = await ingestion_jobs.claim(session, f"{socket.gethostname()}:{DEAD_PID}:cccccc", 15)
        assert gone["id"] == third
        assert await ingestion_jobs.claim(session, OTHER, stale_after=15) is not None  # the dead pid's
        assert await ingestion_jobs.claim(session, OTHER, stale_after=15) is None  # live leases hold
        assert await ingestion_jobs.heartbeat(session, mine)
        await session.execute(sa.update(vector_store_files).where(vector_store_files.c.id == first)
                              .values(heartbeat_at=time.time() - 60))
    async with database.write() as session:
        taken = await ingestion_jobs.claim(session, OTHER, stale_after=15)
        assert (taken["id"], taken["attempts"], taken["worker_id"]) == (first, 2, OTHER)
        # The worker presumed dead comes back: it can neither renew nor record the job.
        assert not await ingestion_jobs.heartbeat(session, mine)
        assert not await ingestion_jobs.finish(session, mine, "completed", 1, None)
        assert await ingestion_jobs.taken_over(session, mine)
        assert await ingestion_jobs.finish(session, taken, "completed", 1, None)
    assert (await jobs(database))[first][:2] == ("completed", 2)


async def test_a_worker_resumes_a_job_whose_worker_was_killed(database: Database, tmp_path: Path) -> None:
    """Held by a process of this host that no longer exists, with a fresh heartbeat: taken at once."""
    blobs = FileBlobs(tmp_path)
    _, [file_id] = await add_files(database, blobs, 1)
    async with database.write() as session:
        await ingestion_jobs.claim(session, f"{socket.gethostname()}:{DEAD_PID}:dddddd", 15)
    retrieval = Retrieval(None, tmp_path / "chunks.sqlite3", loader=lambda _: WordEmbedder(),
                          index_factory=counting_index(collections.Counter()))
    worker = await IngestionWorker.start(database, retrieval, blobs, worker_id=ME)
    try:
        deadline = time.monotonic() + 30
        while (await jobs(database))[file_id][0] == "in_progress":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
    finally:
        await worker.close()
        retrieval.close()
    assert (await jobs(database))[file_id] == ("completed", 2, ME)


def test_the_blob_sweep_spares_young_files_another_process_may_be_writing(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path)
    staged, orphan, kept = blobs.staging_path(), blobs.path("file-orphan"), blobs.path("file-kept")
    for path in (staged, orphan, kept):
        path.write_bytes(b"x")
    assert blobs.sweep({"file-kept"}) == 0  # all young: maybe an upload in flight
    old = time.time() - 3600
    for path in (staged, orphan, kept):
        os.utime(path, (old, old))
    assert blobs.sweep({"file-kept"}) == 2
    assert not staged.exists() and not orphan.exists() and kept.exists()
