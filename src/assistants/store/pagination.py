"""Cursor pagination shared by every list route.

Order is `(created_at, sequence)`: `created_at` has one-second resolution, `sequence` breaks ties in
insertion order. As OpenAI and Stripe (`ending_before`) define them, `after=X` is the page that follows X
and `before=X` the page just before X, both listed in the requested order; `has_more` says whether more
objects lie beyond the page in the direction it was taken (past its last object for `after`, before its
first one for `before`). Given both, the page follows `after` and stops at `before`, so the SDK's
auto-pagination, which keeps the original `before` and adds `after=<last id>`, walks every object
between the two exactly once. A cursor id that is not in this list (unknown, deleted, or from another
thread) is a 400 naming the parameter, rather than a silent empty page that would end a loop early.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.errors import InvalidRequest
from assistants.store import direct
from assistants.store.records import Record, select_records

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


async def fetch_page(session: AsyncSession, table: sa.Table, scope: dict[str, Any],
                     request: PageRequest) -> Page:
    """One page of `table` rows whose columns equal `scope` (the list, e.g. {"thread_id": ...})."""
    statement = _page_statement(table, tuple(scope), request.order, request.after is not None,
                                request.before is not None)
    params = {**scope, "after": request.after, "before": request.before, "limit": request.limit + 1}
    rows = (await direct.execute(session, statement, params)).records
    if not rows:
        # A cursor that is not in this list matches nothing: tell that apart from a real empty page.
        for param, cursor in (("after", request.after), ("before", request.before)):
            if cursor is not None and not await _in_list(session, table, scope, cursor):
                raise InvalidRequest(f"Invalid '{param}': no object with id '{cursor}' in this list.",
                                     param=param)
    page = rows[: request.limit]
    if _backward(request.after is not None, request.before is not None):
        page = page[::-1]  # fetched walking away from `before`; shown in the requested order
    return Page(rows=page, has_more=len(rows) > request.limit)


def _backward(after: bool, before: bool) -> bool:
    """A page taken from `before` alone is the `limit` objects nearest before it: walk towards the start."""
    return before and not after


async def _in_list(session: AsyncSession, table: sa.Table, scope: dict[str, Any], object_id: str) -> bool:
    where = [table.c[name] == value for name, value in scope.items()]
    found = await session.execute(sa.select(table.c.id).where(table.c.id == object_id, *where))
    return found.first() is not None


@functools.cache
def _page_statement(table: sa.Table, scope: tuple[str, ...], order: Order, after: bool,
                    before: bool) -> sa.Select[Any]:
    """Built once per shape and reused with bound values: building and keying a statement costs more
    CPU than SQLite takes to run it. Cursor keys are looked up inside the statement."""
    created_at, sequence = table.c.created_at, table.c.sequence
    in_scope = [table.c[name] == sa.bindparam(name) for name in scope]
    conditions = list(in_scope)
    for param, present in (("after", after), ("before", before)):
        if not present:
            continue
        cursor = table.c.id == sa.bindparam(param)
        at = sa.select(created_at).where(cursor, *in_scope).scalar_subquery()
        seq = sa.select(sequence).where(cursor, *in_scope).scalar_subquery()
        # "after" in descending order means older; "before" in descending order means newer.
        forward = (param == "after") == (order == "asc")
        conditions.append(_beyond(created_at, sequence, at, seq, greater=forward))
    ascending = (order == "asc") != _backward(after, before)
    ordering = (created_at.asc(), sequence.asc()) if ascending else (created_at.desc(), sequence.desc())
    return select_records(table).where(*conditions).order_by(*ordering).limit(sa.bindparam("limit"))


def _beyond(created_at: sa.Column[Any], sequence: sa.Column[Any], at: Any, seq: Any, *,
            greater: bool) -> sa.ColumnElement[bool]:
    # Expanded row-value comparison: (created_at, sequence) > (at, seq), which any SQL database runs.
    if greater:
        return sa.or_(created_at > at, sa.and_(created_at == at, sequence > seq))
    return sa.or_(created_at < at, sa.and_(created_at == at, sequence < seq))
