"""The long-lived services one server owns, opened and closed together (in reverse) with its lifespan.

Handlers do not see this object: `app.py` provides each service as its own dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assistants.events import EventBus
from assistants.events.pruner import DeltaPruner

# Runtime imports, not TYPE_CHECKING: the files and vector-store routes take this whole object, and
# litestar/msgspec resolve its annotations when they inject it. Neither loads an engine.
from assistants.inference.models import Models
from assistants.ingestion import IngestionWorker
from assistants.retrieval.service import Retrieval
from assistants.runs.live import LiveRuns
from assistants.settings import Settings
from assistants.store import Database
from assistants.store.database import PostgresOptions
from assistants.store.files import FileBlobs
from assistants.store.leases import heartbeat_tick, new_worker_id

if TYPE_CHECKING:
    from assistants.jobs import Worker
    from assistants.responses.worker import ResponseJobs
else:
    Worker = ResponseJobs = Any  # resolvable at run time without importing the workers


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
    live_runs: LiveRuns
    """Run retrieves (polling) answered from prebuilt bytes, checked against the database each time."""
    models: Models | None = None
    """None when the server runs without a model (`--no-model`): model routes answer 503."""
    worker: Worker | None = None
    """The process's one worker (runs and background responses); None without a model or with
    --no-worker (another process's worker decodes them)."""
    ingestion: IngestionWorker | None = None
    """Turns files added to vector stores into indexed chunks (a durable background job); None with
    --no-worker."""
    responses: ResponseJobs | None = None
    """The worker's background-response kind (its in-process followers of response logs); None as
    `worker` is."""

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
            worker_id = new_worker_id()
            """One per process: its ingestion jobs, runs and background responses are all leased by it."""
            if settings.run_worker:
                ingestion = await IngestionWorker.start(database, retrieval, blobs, worker_id=worker_id,
                                                        heartbeat_timeout=settings.heartbeat_timeout)
                stack.push_async_callback(ingestion.close)
                if settings.delta_retention > 0:  # beside every worker: the log's old deltas go
                    pruner = DeltaPruner(database, retention=settings.delta_retention * 3600)
                    pruner.start()
                    stack.push_async_callback(pruner.close)
            bus = EventBus(database)
            await bus.start()
            stack.push_async_callback(bus.close)
            models = worker = responses = None
            if settings.load_model:
                models = await Models.open(settings)
                stack.push_async_callback(models.close)
                if settings.run_worker:
                    worker, responses = await start_worker(settings, bus, models, retrieval, worker_id)
                    stack.push_async_callback(worker.close)
            # The view serves from cache only the runs this process's worker holds (and terminal ones).
            live_runs = LiveRuns(database, worker_id=worker_id if worker is not None else None)
            live_runs.start(bus)
            stack.push_async_callback(live_runs.close)
            yield cls(settings=settings, database=database, bus=bus, retrieval=retrieval, file_blobs=blobs,
                      live_runs=live_runs, models=models, worker=worker, ingestion=ingestion,
                      responses=responses)


async def start_worker(settings: Settings, bus: EventBus, models: Models, retrieval: Retrieval,
                       worker_id: str) -> tuple[Worker, ResponseJobs]:
    """The process's one worker, leasing runs and background responses under `worker_id`."""
    from assistants.jobs import Worker
    from assistants.responses.worker import ResponseJobs
    from assistants.runs.worker import RunJobs, run_executor
    executor = run_executor(bus, models, worker_id=worker_id, max_tool_rounds=settings.max_tool_rounds,
                            crash_on_metadata=settings.debug_crash_on_metadata, retrieval=retrieval)
    runs = RunJobs(bus, executor, heartbeat_timeout=settings.heartbeat_timeout)
    responses = ResponseJobs(bus, models, heartbeat_timeout=settings.heartbeat_timeout,
                             worker_id=worker_id, retrieval=retrieval)
    # The heartbeat tick: a worker's jobs go stale after five missed heartbeats. The poll (and sweep)
    # is a backstop only: jobs queued anywhere are announced through the event log (jobs.announcements).
    tick = heartbeat_tick(settings.heartbeat_timeout)
    poll = settings.worker_poll_interval or tick
    worker = Worker(bus, [runs, responses], capacity=settings.parallel, poll_interval=poll,
                    heartbeat_interval=tick)
    await worker.start()
    return worker, responses
