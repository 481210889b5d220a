"""/v1/conversations: create (with up to 20 items), retrieve, update metadata, delete; and its items:
add, list (cursor `after`, default order desc), retrieve, delete (which answers the conversation).

Items are checked like a response's input (`assistants.responses.items`): a `function_call_output`
must answer a call already in the conversation (or earlier in the same call), an `item_reference`
must name a stored item. A bad item writes nothing.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post

from assistants import openapi
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest
from assistants.protocol import decode
from assistants.protocol.conversations import (
    AddItemsRequest,
    Conversation,
    ConversationDeleted,
    CreateConversationRequest,
    ItemList,
    UpdateConversationRequest,
    conversation_object,
)
from assistants.responses import items as it
from assistants.responses.service import resolve_references
from assistants.services import Services
from assistants.store import conversations as store

Items = list[dict[str, Any]]


async def _checked_items(session: Any, raw: Items, history: Items) -> Items:
    resolved = await resolve_references(session, it.normalize_input(raw, "items"), "items")
    it.check_call_outputs(history, resolved, "items")
    return resolved


class ConversationsController(Controller):
    path = "/v1/conversations"
    tags = ["conversations"]

    @post("/", status_code=200, opt=openapi.body(CreateConversationRequest))
    async def create_conversation(self, request: Request[Any, Any, Any], services: Services) -> Conversation:
        body = decode(CreateConversationRequest, await request.body())
        async with services.database.write() as session:
            items = await _checked_items(session, body.items or [], [])
            row = await store.create_conversation(session, body.metadata, items)
        return conversation_object(row)

    @get("/{conversation_id:str}")
    async def retrieve_conversation(self, conversation_id: str, services: Services) -> Conversation:
        async with services.database.read() as session:
            return conversation_object(await store.get_conversation(session, conversation_id))

    @post("/{conversation_id:str}", status_code=200, opt=openapi.body(UpdateConversationRequest))
    async def update_conversation(self, conversation_id: str, request: Request[Any, Any, Any],
                                  services: Services) -> Conversation:
        body = decode(UpdateConversationRequest, await request.body())
        async with services.database.write() as session:
            row = await store.update_conversation(session, conversation_id, body.metadata)
        return conversation_object(row)

    @delete("/{conversation_id:str}", status_code=200)
    async def delete_conversation(self, conversation_id: str, services: Services) -> ConversationDeleted:
        async with services.database.write() as session:
            await store.delete_conversation(session, conversation_id)
        # Its responses' KV cache (keyed by the conversation), as a deleted thread's (api.threads).
        for inference in services.models.loaded() if services.models is not None else ():
            inference.forget_cache(conversation_id)
        return ConversationDeleted(conversation_id)

    @post("/{conversation_id:str}/items", status_code=200, opt=openapi.body(AddItemsRequest))
    async def create_items(self, conversation_id: str, request: Request[Any, Any, Any], services: Services,
                           include: list[str] | None = None) -> ItemList:
        body = decode(AddItemsRequest, await request.body())
        async with services.database.write() as session:
            history = await store.all_items(session, conversation_id)
            items = await _checked_items(session, body.items, history)
            await store.append_items(session, conversation_id, items)
        return ItemList.of(items)

    @get("/{conversation_id:str}/items", dependencies=PAGE_DEPENDENCY)
    async def list_items(self, conversation_id: str, services: Services, page: PageRequest,
                         include: list[str] | None = None) -> ItemList:
        async with services.database.read() as session:
            result = await store.list_items(session, conversation_id, page)
        return ItemList.of([row["item"] for row in result.rows], result.has_more)

    @get("/{conversation_id:str}/items/{item_id:str}")
    async def retrieve_item(self, conversation_id: str, item_id: str, services: Services,
                            include: list[str] | None = None) -> dict[str, Any]:
        async with services.database.read() as session:
            return await store.get_item(session, conversation_id, item_id)

    @delete("/{conversation_id:str}/items/{item_id:str}", status_code=200)
    async def delete_item(self, conversation_id: str, item_id: str, services: Services) -> Conversation:
        async with services.database.write() as session:
            return conversation_object(await store.delete_item(session, conversation_id, item_id))
