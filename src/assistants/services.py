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
from assistants.inference.models import Models
from assistants.ingestion import IngestionWorker
from assistants.retrieval.service import Retrieval
from assistants.settings import Settings
from assistants.store import Database
from assistants.store.database import PostgresOptions
from assistants.store.files import FileBlobs

if TYPE_CHECKING:
    from assistants.responses.worker import BackgroundResponses
    from assistants.runs.worker import Worker
else:
    Worker = BackgroundResponses = Any  # resolvable at run time without importing the workers


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
    models: Models | None = None
    """Every model served, by id; None when the server runs without a model (`--no-model`): model
    routes answer 503."""
    worker: Worker | None = None
    """The run worker; None without a model or with --no-worker (another process's worker runs them)."""
    ingestion: IngestionWorker | None = None
    """Turns files added to vector stores into indexed chunks (a durable background job); None with
    --no-worker."""
    responses: BackgroundResponses | None = None
    """Decodes background responses; None as `worker` is."""

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Services]:
        async with AsyncExitStack() as stack:
            database = await Database.open(settings.database_url, PostgresOptions(
                pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow,
                pool_timeout=settings.db_pool_timeout, statement_timeout=settings.db_statement_timeout))
            stack.push_async_callback(database.close)
            retrieval = Retrieval(settings.embedding_model, settings.data_dir / "chunks.sqlite3")
            stack.callback(retrieval.close)
            blobs = FileBlobs(settings.data_dir)
            ingestion = None
            if settings.run_worker:
                ingestion = await IngestionWorker.start(database, retrieval, blobs,
                                                        heartbeat_timeout=settings.heartbeat_timeout)
                stack.push_async_callback(ingestion.close)
            bus = EventBus(database)
            await bus.start()
            stack.push_async_callback(bus.close)
            models = worker = responses = None
            if settings.load_model:
                from assistants.runs.worker import start_worker

                models = await Models.open(settings)
                stack.push_async_callback(models.close)
                if settings.run_worker:
                    from assistants.responses.worker import BackgroundResponses

                    worker = await start_worker(settings, bus, models, retrieval)
                    stack.push_async_callback(worker.close)
                    # One worker id per process: runs and responses are leased by the same worker.
                    responses = BackgroundResponses(
                        database, models, capacity=settings.parallel,
                        heartbeat_timeout=settings.heartbeat_timeout,
                        poll_interval=min(1.0, settings.heartbeat_timeout / 5), worker_id=worker.worker_id,
                        retrieval=retrieval)
                    await responses.start()
                    stack.push_async_callback(responses.close)
            yield cls(settings=settings, database=database, bus=bus, retrieval=retrieval, file_blobs=blobs,
                      models=models, worker=worker, ingestion=ingestion, responses=responses)
