"""/v1/threads/{thread_id}/runs/{run_id}/steps: list and retrieve (steps are written by the worker)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from assistants import protocol as p
from assistants import store
from assistants.api.pagination import PAGE_DEPENDENCY, PageRequest, list_body
from assistants.file_search import INCLUDE_CONTENT, without_content
from assistants.store import Database

Include = Annotated[list[str] | None, QueryParameter(name="include[]", required=False)]
"""`include[]=step_details.tool_calls[*].file_search.results[*].content` shows file_search result text."""


def _shown(include: list[str] | None) -> Any:
    def convert(row: Mapping[str, Any]) -> p.RunStep:
        if row["type"] == "tool_calls" and INCLUDE_CONTENT not in (include or ()):
            row = {**row, "step_details": without_content(row["step_details"])}
        return p.step_object(row)
    return convert


class StepsController(Controller):
    path = "/v1/threads/{thread_id:str}/runs/{run_id:str}/steps"
    tags = ["runs"]

    @get("/", dependencies=PAGE_DEPENDENCY)
    async def list_steps(self, thread_id: FromPath[str], run_id: FromPath[str],
                         database: NamedDependency[Database], page: NamedDependency[PageRequest],
                         include: Include = None) -> p.ListResponse[p.RunStep]:
        async with database.read() as session:
            return list_body(await store.list_steps(session, thread_id, run_id, page), _shown(include))

    @get("/{step_id:str}")
    async def retrieve_step(self, thread_id: FromPath[str], run_id: FromPath[str], step_id: FromPath[str],
                            database: NamedDependency[Database], include: Include = None) -> p.RunStep:
        async with database.read() as session:
            return _shown(include)(await store.get_step(session, thread_id, run_id, step_id))
