"""Assistant rows."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants import protocol as p
from assistants.errors import not_found
from assistants.store.ids import new_id, now
from assistants.store.models import assistants
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import Record, first_record, record_columns, select_records
from assistants.store.vector_stores import stored_tool_resources


async def create_assistant(session: AsyncSession, request: p.CreateAssistantRequest) -> Record:
    values = {
        "id": new_id("asst_"),
        "created_at": now(),
        "name": request.name,
        "description": request.description,
        "model": request.model,
        "instructions": request.instructions,
        "tools": p.to_json_value(request.tools or []),
        "tool_resources": await stored_tool_resources(session, request.tool_resources),
        "metadata": request.metadata or {},
        "temperature": p.DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        "top_p": p.DEFAULT_TOP_P if request.top_p is None else request.top_p,
        "response_format": p.to_json_value(request.response_format or "auto"),
    }
    await session.execute(sa.insert(assistants), values)
    return values


async def get_assistant(session: AsyncSession, assistant_id: str, *, param: str | None = None) -> Record:
    row = first_record(await session.execute(
        select_records(assistants).where(assistants.c.id == assistant_id)))
    if row is None:
        raise not_found("assistant", assistant_id, param=param)
    return row


async def update_assistant(session: AsyncSession, assistant_id: str,
                           request: p.UpdateAssistantRequest) -> Record:
    changes = {}
    for field in request.__struct_fields__:
        value = getattr(request, field)
        if value is p.UNSET or field == "reasoning_effort":
            continue
        if field == "metadata":
            value = value or {}
        elif field == "tools":
            value = p.to_json_value(value or [])
        elif field == "tool_resources":
            value = await stored_tool_resources(session, value)
        elif field == "response_format":
            value = p.to_json_value(value or "auto")
        elif field == "temperature" and value is None:
            value = p.DEFAULT_TEMPERATURE
        elif field == "top_p" and value is None:
            value = p.DEFAULT_TOP_P
        changes[field] = value
    statement = sa.update(assistants).where(assistants.c.id == assistant_id)
    if changes:
        statement = statement.values(changes)
    else:  # nothing to change: still answer with the (existing) object, or 404
        return await get_assistant(session, assistant_id)
    row = first_record(await session.execute(statement.returning(*record_columns(assistants))))
    if row is None:
        raise not_found("assistant", assistant_id)
    return row


async def delete_assistant(session: AsyncSession, assistant_id: str) -> None:
    """Runs that used it stay readable: they copied everything they need at creation."""
    result = await session.execute(sa.delete(assistants).where(assistants.c.id == assistant_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("assistant", assistant_id)


async def list_assistants(session: AsyncSession, page: PageRequest) -> Page:
    return await fetch_page(session, assistants, {}, page)
