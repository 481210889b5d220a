"""Conversation rows and their items. Deleting a conversation removes its items (foreign-key cascade)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistants.errors import not_found
from assistants.store.ids import new_id, now
from assistants.store.models import conversation_items, conversations
from assistants.store.pagination import Page, PageRequest, fetch_page
from assistants.store.records import (
    Record,
    all_records,
    first_record,
    record_columns,
    select_records,
    update_metadata,
)


async def create_conversation(session: AsyncSession, metadata: dict[str, str] | None,
                              items: Sequence[Mapping[str, Any]]) -> Record:
    conversation_id = new_id("conv_")
    values = {"id": conversation_id, "created_at": now(), "metadata": metadata or {}}
    await session.execute(sa.insert(conversations), values)
    await append_items(session, conversation_id, items)
    return values


async def get_conversation(session: AsyncSession, conversation_id: str) -> Record:
    row = first_record(await session.execute(
        select_records(conversations).where(conversations.c.id == conversation_id)))
    if row is None:
        raise not_found("conversation", conversation_id)
    return row


async def update_conversation(session: AsyncSession, conversation_id: str,
                              metadata: dict[str, str] | None) -> Record:
    return await update_metadata(session, conversations, "conversation", conversation_id, metadata)


async def delete_conversation(session: AsyncSession, conversation_id: str) -> None:
    result = await session.execute(sa.delete(conversations).where(conversations.c.id == conversation_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("conversation", conversation_id)


async def append_items(session: AsyncSession, conversation_id: str, items: Sequence[Mapping[str, Any]],
                       *, missing_ok: bool = False) -> None:
    """Add items at the end of the conversation (404 if it does not exist, unless `missing_ok`: a
    background response whose conversation was deleted meanwhile still ends)."""
    exists = (await session.execute(sa.select(conversations.c.id)
                                    .where(conversations.c.id == conversation_id))).first()
    if exists is None:
        if missing_ok:
            return
        raise not_found("conversation", conversation_id)
    if items:
        created_at = now()
        await session.execute(sa.insert(conversation_items), [
            {"id": item["id"], "created_at": created_at, "conversation_id": conversation_id,
             "type": item["type"], "item": dict(item)} for item in items])


async def all_items(session: AsyncSession, conversation_id: str) -> list[dict[str, Any]]:
    """Every item, oldest first: what a response with `conversation` sees before its input."""
    await get_conversation(session, conversation_id)
    rows = all_records(await session.execute(
        sa.select(*record_columns(conversation_items))
        .where(conversation_items.c.conversation_id == conversation_id)
        .order_by(conversation_items.c.sequence)))
    return [row["item"] for row in rows]


async def list_items(session: AsyncSession, conversation_id: str, page: PageRequest) -> Page:
    await get_conversation(session, conversation_id)
    return await fetch_page(session, conversation_items, {"conversation_id": conversation_id}, page)


async def get_item(session: AsyncSession, conversation_id: str, item_id: str) -> dict[str, Any]:
    await get_conversation(session, conversation_id)
    row = first_record(await session.execute(
        select_records(conversation_items).where(conversation_items.c.conversation_id == conversation_id,
                                                 conversation_items.c.id == item_id)))
    if row is None:
        raise not_found("item", item_id)
    return dict(row["item"])


async def delete_item(session: AsyncSession, conversation_id: str, item_id: str) -> Record:
    """Remove one item; returns the conversation (what the API answers)."""
    conversation = await get_conversation(session, conversation_id)
    result = await session.execute(sa.delete(conversation_items).where(
        conversation_items.c.conversation_id == conversation_id, conversation_items.c.id == item_id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("item", item_id)
    return conversation
