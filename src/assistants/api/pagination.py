"""List routes: the shared query parameters (as a dependency) and the list envelope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter

from assistants import protocol as p
from assistants.store import Page, PageRequest, Record, page_request
from assistants.store.pagination import DEFAULT_LIMIT, MAX_LIMIT

# The bounds are checked by page_request (with OpenAI's messages); schema_extra only documents them.
_LIMIT = QueryParameter(schema_extra={"minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT})
_ORDER = QueryParameter(schema_extra={"enum": ["asc", "desc"], "default": "desc"})


def _provide_page(limit: Annotated[int | None, _LIMIT] = None, order: Annotated[str | None, _ORDER] = None,
                  after: FromQuery[str | None] = None, before: FromQuery[str | None] = None) -> PageRequest:
    return page_request(limit, order, after, before)


PAGE_DEPENDENCY = {"page": Provide(_provide_page, sync_to_thread=False)}
"""Add to a list handler's `dependencies`; the handler then takes `page: PageRequest`."""


def list_body(page: Page, convert: Callable[[Record], Any]) -> p.ListResponse[Any]:
    return p.list_response([convert(row) for row in page.rows], page.has_more)


__all__ = ["PAGE_DEPENDENCY", "PageRequest", "list_body"]
