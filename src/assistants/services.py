"""The long-lived services one server owns, opened and closed together with the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

# A runtime import, not TYPE_CHECKING: litestar/msgspec resolve this dataclass's annotations when they
# inject it. `assistants.inference` does not import an engine until a model is loaded.
from assistants.inference import Inference
from assistants.settings import Settings
from assistants.store import Database


@dataclass
class Services:
    settings: Settings
    database: Database
    inference: Inference | None = None
    """None when the server runs without a model (`--no-model`): model routes answer 503."""

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings) -> AsyncIterator[Services]:
        database = await Database.open(settings.database_url)
        try:
            inference = None
            if settings.load_model:
                inference = await Inference.start(settings)
            try:
                yield cls(settings=settings, database=database, inference=inference)
            finally:
                if inference is not None:
                    await inference.close()
        finally:
            await database.close()
