"""The long-lived services one server owns, opened and closed together (in reverse) with its lifespan.

Handlers do not see this object: `app.py` provides each service as its own dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistants.events import EventBus

# Runtime imports, not TYPE_CHECKING: the files and vector-store routes take this whole object, and
# litestar/msgspec resolve its annotations when they inject it. Neither loads an engine.
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
    bus: EventBus
    """Run events: persisted log + live subscribers (SSE)."""
    retrieval: Retrieval
    """The embedding model and the chunk index (loaded on first use; with or without a chat model)."""
    file_blobs: FileBlobs
    """Uploaded files' bytes under the data dir."""
    inference: Inference | None = None
    """None when the server runs without a model (`--no-model`): model routes answer 503."""
    worker: Worker | None = None
    """The run worker; None without a model or with --no-worker (another process's worker runs them)."""
    ingestion: IngestionWorker | None = None
    """Turns files added to vector stores into indexed chunks (a durable background job); None with
    --no-worker."""

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Services]:
        async with AsyncExitStack() as stack:
            database = await Database.open(settings.database_url)
            stack.push_async_callback(database.close)
            retrieval = Retrieval(settings.embedding_model, settings.data_dir / "chunks.sqlite3")
            stack.callback(retrieval.close)
            blobs = FileBlobs(settings.data_dir)
            ingestion = None
            if settings.run_worker:
                ingestion = await IngestionWorker.start(database, retrieval, blobs)
                stack.push_async_callback(ingestion.close)
            bus = EventBus(database)
            await bus.start()
            stack.push_async_callback(bus.close)
            inference = worker = None
            if settings.load_model:
                from assistants.runs.worker import start_worker

                inference = await Inference.start(settings)
                stack.push_async_callback(inference.close)
                if settings.run_worker:
                    worker = await start_worker(settings, bus, inference, retrieval)
                    stack.push_async_callback(worker.close)
            yield cls(settings=settings, database=database, bus=bus, retrieval=retrieval, file_blobs=blobs,
                      inference=inference, worker=worker, ingestion=ingestion)
