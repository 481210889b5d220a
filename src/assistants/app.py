"""create_app(settings): wiring only. Services open with the lifespan; each is its own dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, get
from litestar.config.app import AppConfig
from litestar.di import Provide

from assistants import logs, metrics, openapi, security
from assistants.api import ROUTE_HANDLERS
from assistants.api.conversations import ConversationsController
from assistants.api.errors import exception_handlers
from assistants.api.responses import ResponsesController
from assistants.errors import ServiceUnavailable
from assistants.events import EventBus
from assistants.inference.models import Models
from assistants.routing import install_allow_header_fix
from assistants.runs.live import LiveRuns
from assistants.services import Services
from assistants.settings import Settings
from assistants.store import Database


@get("/health", sync_to_thread=False, include_in_schema=True, tags=["health"], opt=security.PUBLIC)
def health() -> dict[str, str]:
    return {"status": "ok"}


def create_app(settings: Settings, services: Services | None = None) -> Litestar:
    """Build the app. `services` may be injected (tests); otherwise they open with the app's lifespan."""
    holder: dict[str, Services] = {}

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if services is not None:
            holder["services"] = services
            yield
            return
        async with Services.open(settings) as opened:
            holder["services"] = opened
            yield

    def provide(read: Callable[[Services], Any]) -> Provide:
        return Provide(lambda: read(holder["services"]), sync_to_thread=False)

    def models(opened: Services) -> Models:
        if opened.models is None:
            raise ServiceUnavailable("This server runs without a model (--no-model).")
        return opened.models

    app = Litestar(
        route_handlers=[health, *ROUTE_HANDLERS, ResponsesController, ConversationsController],
        lifespan=[lifespan],
        dependencies={
            "settings": provide(lambda opened: opened.settings),
            "database": provide(lambda opened: opened.database),
            "bus": provide(lambda opened: opened.bus),
            "worker": provide(lambda opened: opened.worker),
            "live_runs": provide(lambda opened: opened.live_runs),
            "models": provide(models),
            "loaded_models": provide(lambda opened: opened.models),
            # The files and vector-store routes (merged from the file_search branch) still take the
            # whole object; give them the services they use, as the other routes have.
            "services": provide(lambda opened: opened),
        },
        exception_handlers=exception_handlers(),
        request_max_body_size=settings.max_body_bytes,
        middleware=[logs.RequestContextMiddleware(),
                    *([security.ApiKeyMiddleware(settings.api_keys)] if settings.api_keys else [])],
        before_send=[logs.add_request_id_header, metrics.count_http_response],
        cors_config=security.cors_config(settings.cors_origins),
        openapi_config=openapi.config(),
        debug=False,
        signature_namespace={"Database": Database, "EventBus": EventBus, "Models": Models,
                             "Services": Services, "Settings": Settings, "LiveRuns": LiveRuns},
        on_app_init=[_no_default_logging],
    )
    install_allow_header_fix(app)
    return app


def _no_default_logging(config: AppConfig) -> AppConfig:
    # Errors are logged once by api.errors.exception_handlers; litestar's own handler would log them twice.
    config.logging_config = None
    return config
