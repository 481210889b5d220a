"""/v1/threads: create (with initial messages), retrieve, modify, delete, and list.

The list is our extension (OpenAI documents no thread list); the playground page reads it. It pages
like every other list (`limit`, `order`, `after`, `before`), newest first by default.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from assistants import openapi, store
from assistants import protocol as p
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest, list_body
from assistants.inference.models import Models
from assistants.store import Database


class ThreadsController(Controller):
    path = "/v1/threads"
    tags = ["threads"]

    @post("/", status_code=200, opt=openapi.body(p.CreateThreadRequest, required=False))
    async def create_thread(self, request: Request[Any, Any, Any],
                            database: NamedDependency[Database]) -> p.Thread:
        raw = await request.body()
        # The SDK sends `{}` for a bare create; an empty body is just as clearly "no options".
        body = p.decode(p.CreateThreadRequest, raw) if raw.strip() else None
        async with database.write() as session:
            row = await store.create_thread(session, body)
        return p.thread_object(row)

    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_threads(self, database: NamedDependency[Database],
                           page: NamedDependency[PageRequest]) -> p.ListResponse[p.Thread]:
        async with database.read() as session:
            return list_body(await store.list_threads(session, page), p.thread_object)

    @get("/{thread_id:str}")
    async def retrieve_thread(self, thread_id: FromPath[str],
                              database: NamedDependency[Database]) -> p.Thread:
        async with database.read() as session:
            return p.thread_object(await store.get_thread(session, thread_id))

    @post("/{thread_id:str}", status_code=200, opt=openapi.body(p.UpdateThreadRequest))
    async def modify_thread(self, thread_id: FromPath[str], request: Request[Any, Any, Any],
                            database: NamedDependency[Database]) -> p.Thread:
        body = p.decode(p.UpdateThreadRequest, await request.body())
        async with database.write() as session:
            row = await store.update_thread(session, thread_id, body)
        return p.thread_object(row)

    @delete("/{thread_id:str}", status_code=200)
    async def delete_thread(self, thread_id: FromPath[str], database: NamedDependency[Database],
                            loaded_models: NamedDependency[Models | None]) -> p.Deleted:
        async with database.write() as session:
            await store.delete_thread(session, thread_id)
        # Its KV cache, in memory and on disk, in every loaded model (an unloaded model's disk files
        # for it age out under --kv-cache-disk's budget).
        if loaded_models is not None:
            loaded_models.forget_cache(thread_id)
        return p.Deleted(id=thread_id, object="thread.deleted")
