"""Ingestion: files added to vector stores become indexed chunks, as a durable background job.

The job is the `vector_store_files` row itself: `in_progress` until this worker has extracted the text,
chunked it by the embedding model's tokens, embedded the chunks and written them to the index; then
`completed`, or `failed` with `last_error` (`unsupported_file` / `invalid_file`, or `server_error`).
Nothing about a job lives only in memory, so a server killed mid-ingestion resumes it on its next start
(a job is claimed again from scratch: the index write replaces the file's chunks in one transaction).
A file that keeps taking the server down fails after `MAX_ATTEMPTS` starts instead of looping forever.

Jobs are leased like runs (`store.ingestion_jobs`): any number of workers in any processes may share a
database (and its data dir: the blobs and the chunk index live there), each job is held by one worker,
which renews its lease every heartbeat tick (`store.leases.heartbeat_tick`) while it works; a job whose
worker died (stale lease, or a dead pid on this host) is claimed again by any worker.

The outcome is recorded only if the row is still the job this worker claimed: a file deleted, cancelled,
re-added or taken over meanwhile leaves the result unrecorded and its chunks removed again.

One job at a time: embedding is one thread anyway, and chunks are embedded in small batches so a
search or /v1/embeddings call waits for at most one batch, never for a whole file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import numpy as np

from assistants.retrieval.chunking import Chunk, chunk_tokens
from assistants.retrieval.embedder import Embedder
from assistants.retrieval.extract import ExtractionError, InvalidFile, extract_text
from assistants.retrieval.service import Retrieval
from assistants.store import Database, ingestion_jobs, now
from assistants.store import files as file_store
from assistants.store import vector_stores as vs_store
from assistants.store.files import SWEEP_GRACE_SECONDS, FileBlobs
from assistants.store.leases import heartbeat_tick, new_worker_id
from assistants.store.records import Record

log = logging.getLogger("assistants.ingestion")

MAX_ATTEMPTS = 3
CHUNKS_PER_CALL = 16
"""Chunks embedded per hop to the embedding thread."""


class IngestionWorker:
    def __init__(self, database: Database, retrieval: Retrieval, blobs: FileBlobs, *,
                 poll_interval: float = 1.0, heartbeat_timeout: float = 15.0,
                 worker_id: str | None = None) -> None:
        self.database = database
        self.retrieval = retrieval
        self.blobs = blobs
        self.poll_interval = poll_interval
        self.heartbeat_timeout = heartbeat_timeout
        self.worker_id = worker_id or new_worker_id()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._swept_at = 0.0

    @classmethod
    async def start(cls, database: Database, retrieval: Retrieval, blobs: FileBlobs, *,
                    heartbeat_timeout: float = 15.0, worker_id: str | None = None) -> IngestionWorker:
        worker = cls(database, retrieval, blobs, heartbeat_timeout=heartbeat_timeout, worker_id=worker_id,
                     poll_interval=heartbeat_tick(heartbeat_timeout))
        await worker._sweep_blobs()
        worker._task = asyncio.create_task(worker._loop(), name="ingestion-worker")
        return worker

    async def _sweep_blobs(self) -> None:
        """Remove partial uploads and orphaned bytes (old enough not to be an upload in flight)."""
        self._swept_at = time.monotonic()
        async with self.database.read() as session:
            known = await file_store.file_ids(session)
        removed = await asyncio.to_thread(self.blobs.sweep, known)
        if removed:
            log.info("removed %d partial or orphaned upload(s)", removed)

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
                if time.monotonic() - self._swept_at >= SWEEP_GRACE_SECONDS:
                    await self._sweep_blobs()  # what a crash left, once it is old enough to tell
                while (job := await self._claim()) is not None:
                    await self._run(job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("ingestion loop error")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: no task per wait (jobs.worker)
                async with asyncio.timeout(self.poll_interval):
                    await self._wake.wait()

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
                    count = await ingestion_jobs.requeue_completed(session)
                log.warning("chunk index rebuilt for a new embedding model: %d file(s) queued again", count)
        except Exception:
            log.exception("could not reconcile the chunk index")

    async def _claim(self) -> Record | None:
        async with self.database.write() as session:
            return await ingestion_jobs.claim(session, self.worker_id, self.heartbeat_timeout)

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
        lease = asyncio.create_task(self._keep_lease(job), name="ingestion-lease")
        try:
            status, usage, error = await self._ingest(job)
        finally:
            lease.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lease
        async with self.database.write() as session:
            recorded = await ingestion_jobs.finish(session, job, status, usage, error)
        if not recorded and status == "completed":
            # Unless the job went to another worker, which writes (or has written) the same chunks.
            async with self.database.read() as session:
                taken_over = await ingestion_jobs.taken_over(session, job)
            if not taken_over:
                await self.retrieval.forget_file([job["vector_store_id"]], job["id"])

    async def _keep_lease(self, job: Record) -> None:
        """Renew the job's lease until cancelled (a lost lease only means the result goes unrecorded)."""
        while True:
            await asyncio.sleep(heartbeat_tick(self.heartbeat_timeout))
            try:
                async with self.database.write() as session:
                    if not await ingestion_jobs.heartbeat(session, job):
                        log.warning("ingestion of %s: the lease was lost", job["id"])
                        return
            except Exception:
                log.exception("ingestion lease renewal failed")

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
