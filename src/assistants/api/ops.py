"""Operator routes: Prometheus `/metrics`, and llama-server's `/props` for its Web UI."""

from __future__ import annotations

from litestar import Response, get

from assistants import metrics, store
from assistants.services import Services


@get("/metrics", tags=["ops"], summary="Prometheus metrics", media_type=metrics.CONTENT_TYPE,
     description="Prometheus text exposition; every series is prefixed `assistants_`.")
async def get_metrics(services: Services) -> Response[bytes]:
    await refresh_live_metrics(services)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


async def refresh_live_metrics(services: Services) -> None:
    """Facts about the present are read at scrape time, so they are right after a restart."""
    async with services.database.read() as session:
        runs_by_status = await store.count_runs_by_status(session)
    metrics.set_live(runs_by_status=runs_by_status)


ROUTES = [get_metrics]
