"""create_app(settings): wiring only. Services are opened in the lifespan and handed to handlers by DI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, get
from litestar.config.app import AppConfig
from litestar.di import Provide

from assistants import logs, metrics, openapi, security
from assistants.api import ROUTE_HANDLERS
from assistants.errors import exception_handlers
from assistants.routing import install_allow_header_fix
from assistants.services import Services
from assistants.settings import Settings


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

    def provide_services() -> Services:
        return holder["services"]

    app = Litestar(
        route_handlers=[health, *ROUTE_HANDLERS],
        lifespan=[lifespan],
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        exception_handlers=exception_handlers(),
        request_max_body_size=settings.max_body_bytes,
        middleware=[logs.RequestContextMiddleware(),
                    *([security.ApiKeyMiddleware(settings.api_keys)] if settings.api_keys else [])],
        before_send=[logs.add_request_id_header, metrics.count_http_response],
        cors_config=security.cors_config(settings.cors_origins),
        openapi_config=openapi.config(),
        on_startup=[openapi.install],
        debug=False,
        signature_namespace={"Services": Services},
        on_app_init=[_no_default_logging],
    )
    install_allow_header_fix(app)
    return app


def _no_default_logging(config: AppConfig) -> AppConfig:
    # Errors are logged once by errors.exception_handlers; litestar's own handler would log them twice.
    config.logging_config = None
    return config
