"""/v1/assistants: create, retrieve, modify, delete, list."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from assistants import openapi, store
from assistants import protocol as p
from assistants.api.models import check_model
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest, list_body
from assistants.inference.models import Models
from assistants.store import Database


class AssistantsController(Controller):
    path = "/v1/assistants"
    tags = ["assistants"]

    @post("/", status_code=200, opt=openapi.body(p.CreateAssistantRequest))
    async def create_assistant(self, request: Request[Any, Any, Any], database: NamedDependency[Database],
                               loaded_models: NamedDependency[Models | None]) -> p.Assistant:
        body = p.decode(p.CreateAssistantRequest, await request.body())
        check_model(loaded_models, body.model)
        async with database.write() as session:
            row = await store.create_assistant(session, body)
        return p.assistant_object(row)

    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_assistants(self, database: NamedDependency[Database],
                              page: NamedDependency[PageRequest]) -> p.ListResponse[p.Assistant]:
        async with database.read() as session:
            return list_body(await store.list_assistants(session, page), p.assistant_object)

    @get("/{assistant_id:str}")
    async def retrieve_assistant(self, assistant_id: FromPath[str],
                                 database: NamedDependency[Database]) -> p.Assistant:
        async with database.read() as session:
            return p.assistant_object(await store.get_assistant(session, assistant_id))

    @post("/{assistant_id:str}", status_code=200, opt=openapi.body(p.UpdateAssistantRequest))
    async def modify_assistant(self, assistant_id: FromPath[str], request: Request[Any, Any, Any],
                               database: NamedDependency[Database],
                               loaded_models: NamedDependency[Models | None]) -> p.Assistant:
        body = p.decode(p.UpdateAssistantRequest, await request.body())
        check_model(loaded_models, body.model)
        async with database.write() as session:
            row = await store.update_assistant(session, assistant_id, body)
        return p.assistant_object(row)

    @delete("/{assistant_id:str}", status_code=200)
    async def delete_assistant(self, assistant_id: FromPath[str],
                               database: NamedDependency[Database]) -> p.Deleted:
        async with database.write() as session:
            await store.delete_assistant(session, assistant_id)
        return p.Deleted(id=assistant_id, object="assistant.deleted")
