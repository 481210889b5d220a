"""The driver-level path (store.direct) returns exactly what a SQLAlchemy execution returns."""

from __future__ import annotations

import pytest

from assistants import protocol as p
from assistants import store
from assistants.errors import InvalidRequest, NotFound
from assistants.store import Database, direct
from assistants.store.models import runs
from assistants.store.pagination import _page_statement
from assistants.store.records import all_records


async def test_direct_and_sqlalchemy_paths_agree(database: Database) -> None:
    async with database.write() as session:
        assistant = await store.create_assistant(session, p.CreateAssistantRequest(
            model="m", tools=[p.FunctionTool(p.FunctionDefinition(name="f", parameters={"type": "object"}))]))
        thread = await store.create_thread(session, None)
        await store.create_run(session, thread["id"], p.CreateRunRequest(
            assistant_id=assistant["id"], parallel_tool_calls=False, metadata={"k": "v"}))
    statement = _page_statement(runs, ("thread_id",), "desc", False, False)
    params = {"thread_id": thread["id"], "after": None, "before": None, "limit": 5}
    async with database.read() as session:
        fast = (await direct.execute(session, statement, params)).records
        slow = all_records(await session.execute(statement, params))
    assert fast == slow and len(fast) == 1
    assert fast[0]["parallel_tool_calls"] is False and fast[0]["metadata"] == {"k": "v"}
    assert fast[0]["tools"][0]["function"]["parameters"] == {"type": "object"}
    assert fast[0]["required_action"] is None and fast[0]["usage"] is None


async def test_direct_insert_refusal_reports_the_reason(database: Database) -> None:
    async with database.write() as session:
        assistant = await store.create_assistant(session, p.CreateAssistantRequest(model="m"))
        thread = await store.create_thread(session, None)
        run = await store.create_run(session, thread["id"], p.CreateRunRequest(assistant_id=assistant["id"]))
    with pytest.raises(InvalidRequest) as raised:
        async with database.write() as session:
            await store.create_message(session, thread["id"],
                                       p.CreateMessageRequest(role="user", content="x"))
    assert f"while a run {run['id']} is active" in raised.value.message
    with pytest.raises(NotFound):
        async with database.write() as session:
            await store.create_message(session, "thread_missing",
                                       p.CreateMessageRequest(role="user", content="x"))
