"""Ingestion: files added to vector stores become indexed chunks, as a durable background job.

The job is the `vector_store_files` row itself: `in_progress` until this worker has extracted the text,
chunked it by the embedding model's tokens, embedded the chunks and written them to the index; then
`completed`, or `failed` with `last_error` (`unsupported_file` / `invalid_file`, or `server_error`).
Nothing about a job lives only in memory, so a server killed mid-ingestion resumes it on its next start
(a job is claimed again from scratch: the index write replaces the file's chunks in one transaction).
A file that keeps taking the server down fails after `MAX_ATTEMPTS` starts instead of looping forever.

The outcome is recorded only if the row is still the job that was claimed: a file deleted, cancelled or
re-added meanwhile leaves the result unrecorded and its chunks removed again.

One job at a time: embedding is one thread anyway, and chunks are embedded in small batches so a
search or /v1/embeddings call waits for at most one batch, never for a whole file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import numpy as np

from assistants.retrieval.chunking import Chunk, chunk_tokens
from assistants.retrieval.embedder import Embedder
from assistants.retrieval.extract import ExtractionError, InvalidFile, extract_text
from assistants.retrieval.service import Retrieval
from assistants.store import Database, now
from assistants.store import files as file_store
from assistants.store import vector_stores as vs_store
from assistants.store.files import FileBlobs
from assistants.store.records import Record

log = logging.getLogger("assistants.ingestion")

MAX_ATTEMPTS = 3
CHUNKS_PER_CALL = 16
"""Chunks embedded per hop to the embedding thread."""


class IngestionWorker:
    def __init__(self, database: Database, retrieval: Retrieval, blobs: FileBlobs, *,
                 poll_interval: float = 1.0) -> None:
        self.database = database
        self.retrieval = retrieval
        self.blobs = blobs
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._busy: list[int] = []

    @classmethod
    async def start(cls, database: Database, retrieval: Retrieval, blobs: FileBlobs) -> IngestionWorker:
        worker = cls(database, retrieval, blobs)
        async with database.read() as session:
            known = await file_store.file_ids(session)
        removed = await asyncio.to_thread(blobs.sweep, known)
        if removed:
            log.info("removed %d partial or orphaned upload(s)", removed)
        worker._task = asyncio.create_task(worker._loop(), name="ingestion-worker")
        return worker

    def notify(self) -> None:
        """A file was queued for ingestion: start now rather than at the next poll."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        await self._reconcile_index()
        while True:
            try:
                await self._expire_files()
                while (job := await self._claim()) is not None:
                    await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ingestion loop error")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def _reconcile_index(self) -> None:
        """After a crash the index may hold chunks of files the database dropped; and an index built for
        another embedding model was emptied on open, so every completed file is ingested again."""
        async with self.database.read() as session:
            keys = await vs_store.store_file_keys(session)
        if not keys and not self.retrieval.index_exists():
            return
        try:
            rebuilt, stale = await self.retrieval.index_call(lambda index: (index.rebuilt,
                                                                            index.file_keys() - keys))
            for store_id, file_id in stale:
                await self.retrieval.forget_file([store_id], file_id)
            if rebuilt:
                async with self.database.write() as session:
                    count = await vs_store.requeue_completed(session)
                log.warning("chunk index rebuilt for a new embedding model: %d file(s) queued again", count)
        except Exception:
            log.exception("could not reconcile the chunk index")

    async def _claim(self) -> Record | None:
        async with self.database.write() as session:
            return await vs_store.claim_ingestion(session, self._busy)

    async def _expire_files(self) -> None:
        async with self.database.read() as session:
            expired = await file_store.expired_files(session, now())
        for row in expired:
            with contextlib.suppress(Exception):  # deleted by someone else meanwhile
                async with self.database.write() as session:
                    stores = await file_store.delete_file(session, row["id"])
                await self.retrieval.forget_file(stores, row["id"])
                await asyncio.to_thread(self.blobs.remove, row["id"])

    async def _run(self, job: Record) -> None:
        self._busy.append(job["sequence"])
        try:
            status, usage, error = await self._ingest(job)
            async with self.database.write() as session:
                recorded = await vs_store.finish_ingestion(session, job, status, usage, error)
            if not recorded and status == "completed":
                await self.retrieval.forget_file([job["vector_store_id"]], job["id"])
        finally:
            self._busy.remove(job["sequence"])

    async def _ingest(self, job: Record) -> tuple[str, int, dict[str, str] | None]:
        store_id, file_id = job["vector_store_id"], job["id"]
        if job["attempts"] > MAX_ATTEMPTS:
            return "failed", 0, {"code": "server_error", "message": (
                f"Ingestion of this file was interrupted {MAX_ATTEMPTS} times (the server stopped while "
                "it was in progress); it was not tried again.")}
        try:
            data = await asyncio.to_thread(self.blobs.path(file_id).read_bytes)
            text = await asyncio.to_thread(extract_text, job["filename"], data)
            static = job["chunking_strategy"]["static"]
            chunks = await self.retrieval.call(lambda embedder: _chunk(embedder, text, static))
            parts = []
            for start in range(0, len(chunks), CHUNKS_PER_CALL):
                batch = chunks[start:start + CHUNKS_PER_CALL]
                ids = [chunk.token_ids for chunk in batch]
                parts.append(await self.retrieval.call(lambda embedder, ids=ids: embedder.embed_tokens(ids)))
            vectors = np.vstack(parts)
            texts = [chunk.text for chunk in chunks]
            await self.retrieval.index_call(lambda index: index.replace_file(store_id, file_id, texts,
                                                                             vectors))
        except ExtractionError as exc:
            return "failed", 0, {"code": exc.code, "message": exc.message}
        except FileNotFoundError:
            return "failed", 0, {"code": "invalid_file", "message": "The file's contents are gone."}
        except Exception as exc:
            log.exception("ingestion of %s into %s failed", file_id, store_id)
            return "failed", 0, {"code": "server_error",
                                 "message": f"Ingestion failed: {type(exc).__name__}."}
        return "completed", _usage_bytes(texts, vectors), None


def _chunk(embedder: Embedder, text: str, static: dict[str, Any]) -> list[Chunk]:
    ids, offsets = embedder.encode(text)
    chunks = chunk_tokens(text, ids, offsets, static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
    if not chunks:
        raise InvalidFile("The file contains no text.")
    return chunks


def _usage_bytes(texts: list[str], vectors: np.ndarray) -> int:
    """What the store keeps for the file: its chunks' text and their float32 vectors."""
    return sum(len(text.encode()) for text in texts) + int(vectors.nbytes)
