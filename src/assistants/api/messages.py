"""/v1/threads/{thread_id}/messages: create, list (optionally by run_id), retrieve, modify, delete."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from assistants import openapi, store
from assistants import protocol as p
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest, list_body
from assistants.store import Database


class MessagesController(Controller):
    path = "/v1/threads/{thread_id:str}/messages"
    tags = ["messages"]

    @post("/", status_code=200, opt=openapi.body(p.CreateMessageRequest))
    async def create_message(self, thread_id: FromPath[str], request: Request[Any, Any, Any],
                             database: NamedDependency[Database]) -> p.Message:
        body = p.decode(p.CreateMessageRequest, await request.body())
        async with database.write() as session:
            row = await store.create_message(session, thread_id, body)
        return p.message_object(row)

    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_messages(self, thread_id: FromPath[str], database: NamedDependency[Database],
                            page: NamedDependency[PageRequest],
                            run_id: FromQuery[str | None] = None) -> p.ListResponse[p.Message]:
        async with database.read() as session:
            result = await store.list_messages(session, thread_id, page, run_id=run_id or None)
        return list_body(result, p.message_object)

    @get("/{message_id:str}")
    async def retrieve_message(self, thread_id: FromPath[str], message_id: FromPath[str],
                               database: NamedDependency[Database]) -> p.Message:
        async with database.read() as session:
            return p.message_object(await store.get_message(session, thread_id, message_id))

    @post("/{message_id:str}", status_code=200, opt=openapi.body(p.UpdateMessageRequest))
    async def modify_message(self, thread_id: FromPath[str], message_id: FromPath[str],
                             request: Request[Any, Any, Any],
                             database: NamedDependency[Database]) -> p.Message:
        body = p.decode(p.UpdateMessageRequest, await request.body())
        async with database.write() as session:
            row = await store.update_message(session, thread_id, message_id, body)
        return p.message_object(row)

    @delete("/{message_id:str}", status_code=200)
    async def delete_message(self, thread_id: FromPath[str], message_id: FromPath[str],
                             database: NamedDependency[Database]) -> p.Deleted:
        async with database.write() as session:
            await store.delete_message(session, thread_id, message_id)
        return p.Deleted(id=message_id, object="thread.message.deleted")
