"""/v1/threads/{thread_id}/runs/{run_id}/steps: list and retrieve (steps are written by the worker)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from assistants import protocol as p
from assistants import store
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest, list_body
from assistants.store import Database


class StepsController(Controller):
    path = "/v1/threads/{thread_id:str}/runs/{run_id:str}/steps"
    tags = ["runs"]

    # `include[]` asks for file_search result content, which never exists here: accepted, ignored.
    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_steps(self, thread_id: FromPath[str], run_id: FromPath[str],
                         database: NamedDependency[Database],
                         page: NamedDependency[PageRequest]) -> p.ListResponse[p.RunStep]:
        async with database.read() as session:
            return list_body(await store.list_steps(session, thread_id, run_id, page), p.step_object)

    @get("/{step_id:str}")
    async def retrieve_step(self, thread_id: FromPath[str], run_id: FromPath[str], step_id: FromPath[str],
                            database: NamedDependency[Database]) -> p.RunStep:
        async with database.read() as session:
            return p.step_object(await store.get_step(session, thread_id, run_id, step_id))
