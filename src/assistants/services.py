"""The long-lived services one server owns, opened and closed together (in reverse) with its lifespan.

Handlers do not see this object: `app.py` provides each service as its own dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistants.events import EventBus
from assistants.settings import Settings
from assistants.store import Database

if TYPE_CHECKING:  # both load the engine stack; `--no-model` never imports them
    from assistants.inference import Inference
    from assistants.runs.worker import Worker


@dataclass
class Services:
    settings: Settings
    database: Database
    bus: EventBus
    """Run events: persisted log + live subscribers (SSE)."""
    inference: Inference | None = None
    """None when the server runs without a model (`--no-model`): model routes answer 503."""
    worker: Worker | None = None
    """The run worker; None without a model or with --no-worker (another process's worker runs them)."""

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Services]:
        async with AsyncExitStack() as stack:
            database = await Database.open(settings.database_url)
            stack.push_async_callback(database.close)
            bus = EventBus(database)
            await bus.start()
            stack.push_async_callback(bus.close)
            inference = worker = None
            if settings.load_model:
                from assistants.inference import Inference
                from assistants.runs.worker import start_worker

                inference = await Inference.start(settings)
                stack.push_async_callback(inference.close)
                if settings.run_worker:
                    worker = await start_worker(settings, bus, inference)
                    stack.push_async_callback(worker.close)
            yield cls(settings=settings, database=database, bus=bus, inference=inference, worker=worker)
