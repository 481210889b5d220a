"""The long-lived services one server owns, opened and closed together with the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistants.events import EventBus

# A runtime import, not TYPE_CHECKING: litestar/msgspec resolve this dataclass's annotations when they
# inject it. `assistants.inference` does not import an engine until a model is loaded.
from assistants.inference import Inference
from assistants.ingestion import IngestionWorker
from assistants.retrieval.service import Retrieval
from assistants.settings import Settings
from assistants.store import Database
from assistants.store.files import FileBlobs

if TYPE_CHECKING:
    from assistants.runs.worker import Worker
else:
    Worker = Any  # resolvable at run time without importing the worker


@dataclass
class Services:
    settings: Settings
    database: Database
    inference: Inference | None = None
    """None when the server runs without a model (`--no-model`): model routes answer 503."""
    events: EventBus | None = None
    """Run events: persisted log + live subscribers (SSE)."""
    run_queue: Worker | None = None
    """The run worker; None without a model or with --no-worker (another process's worker runs them)."""
    retrieval: Retrieval = None  # type: ignore[assignment]
    """The embedding model and the chunk index (loaded on first use; with or without a chat model)."""
    file_blobs: FileBlobs = None  # type: ignore[assignment]
    """Uploaded files' bytes under the data dir."""
    ingestion: IngestionWorker | None = None
    """Turns files added to vector stores into indexed chunks (a durable background job); None with
    --no-worker."""

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Services]:
        database = await Database.open(settings.database_url)
        retrieval = Retrieval(settings.embedding_model, settings.data_dir / "chunks.sqlite3")
        blobs = FileBlobs(settings.data_dir)
        ingestion = await IngestionWorker.start(database, retrieval, blobs) if settings.run_worker else None
        events = EventBus(database)
        await events.start()
        try:
            inference = None
            if settings.load_model:
                inference = await Inference.start(settings)
            try:
                worker = None
                if inference is not None and settings.run_worker:
                    from assistants.runs.worker import start_worker

                    worker = await start_worker(settings, events, inference, retrieval)
                try:
                    yield cls(settings=settings, database=database, inference=inference, events=events,
                              run_queue=worker, retrieval=retrieval, file_blobs=blobs, ingestion=ingestion)
                finally:
                    if worker is not None:
                        await worker.close()
            finally:
                if inference is not None:
                    await inference.close()
        finally:
            await events.close()
            if ingestion is not None:
                await ingestion.close()
            retrieval.close()
            await database.close()
