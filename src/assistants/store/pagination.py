"""Cursor pagination shared by every list route.

Order is `(created_at, sequence)`: `created_at` has one-second resolution, `sequence` breaks ties in
insertion order. `after` and `before` are bounds, not anchors: the page holds the first `limit` objects
(in the requested order) that come strictly after `after` and strictly before `before`. So the SDK's
auto-pagination, which keeps the original `before` and adds `after=<last id>`, walks every object
between the bounds exactly once. A cursor id that is not in this list (unknown, deleted, or from another
thread) is a 400 naming the parameter, rather than a silent empty page that would end a loop early.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.errors import InvalidRequest
from assistants.store.models import Record, record_columns

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

Order = Literal["asc", "desc"]


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_LIMIT
    order: Order = "desc"
    after: str | None = None
    before: str | None = None


def page_request(limit: int | None = None, order: str | None = None,
                 after: str | None = None, before: str | None = None) -> PageRequest:
    """Validate the list query parameters (absent ones take the API's defaults)."""
    if limit is None:
        limit = DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"Invalid 'limit': expected an integer between 1 and {MAX_LIMIT}, got {limit}.",
                             param="limit")
    if order is None:
        order = "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Invalid 'order': expected 'asc' or 'desc', got '{order}'.", param="order")
    return PageRequest(limit=limit, order=order, after=after or None, before=before or None)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Record]
    has_more: bool


async def fetch_page(session: AsyncSession, table: sa.Table, where: Sequence[sa.ColumnElement[bool]],
                     request: PageRequest) -> Page:
    """One page of `table` rows matching `where` (the list's scope, e.g. thread_id = ...)."""
    created_at, sequence = table.c.created_at, table.c.sequence
    conditions = list(where)
    for param, cursor in (("after", request.after), ("before", request.before)):
        if cursor is None:
            continue
        key = (await session.execute(
            sa.select(created_at, sequence).where(table.c.id == cursor, *where))).first()
        if key is None:
            raise InvalidRequest(f"Invalid '{param}': no object with id '{cursor}' in this list.",
                                 param=param)
        # "after" in descending order means older; "before" in descending order means newer.
        forward = (param == "after") == (request.order == "asc")
        conditions.append(_beyond(created_at, sequence, key[0], key[1], greater=forward))
    ordering = (created_at.asc(), sequence.asc()) if request.order == "asc" else (
        created_at.desc(), sequence.desc())
    statement = (sa.select(*record_columns(table)).where(*conditions).order_by(*ordering)
                 .limit(request.limit + 1))
    rows = (await session.execute(statement)).mappings().all()
    return Page(rows=rows[: request.limit], has_more=len(rows) > request.limit)


def _beyond(created_at: sa.Column[Any], sequence: sa.Column[Any], at: int, seq: int, *,
            greater: bool) -> sa.ColumnElement[bool]:
    # Expanded row-value comparison: (created_at, sequence) > (at, seq), which any SQL database runs.
    if greater:
        return sa.or_(created_at > at, sa.and_(created_at == at, sequence > seq))
    return sa.or_(created_at < at, sa.and_(created_at == at, sequence < seq))
