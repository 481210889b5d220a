"""Runs, steps, events and cascades in the store (steps are inserted directly: no worker here)."""

from __future__ import annotations

import msgspec
import pytest
import sqlalchemy as sa

from assistants import protocol as p
from assistants import store
from assistants.errors import InvalidRequest, NotFound
from assistants.store import Database, Record, run_moves
from assistants.store import events as log


@pytest.fixture()
def database(backend_database: Database) -> Database:
    """Every test here runs on SQLite and on PostgreSQL."""
    return backend_database


async def _assistant_thread_run(db: Database, **run: object) -> tuple[Record, Record, Record]:
    async with db.write() as session:
        assistant = await store.create_assistant(session, p.CreateAssistantRequest(
            model="m", instructions="Be brief.", temperature=0.5,
            tools=[p.FunctionTool(p.FunctionDefinition(name="get_w"))]))
        thread = await store.create_thread(session, None)
        created = await store.create_run(session, thread["id"],
                                         p.CreateRunRequest(assistant_id=assistant["id"], **run))  # type: ignore[arg-type]
    return assistant, thread, created


async def test_effective_values_come_from_run_then_assistant_then_defaults(database: Database) -> None:
    _, _, run = await _assistant_thread_run(database, top_p=0.3, additional_instructions="Use French.")
    obj = p.run_object(run)
    assert (obj.model, obj.temperature, obj.top_p) == ("m", 0.5, 0.3)
    assert obj.instructions == "Be brief.\n\nUse French."
    assert [tool.function.name for tool in obj.tools] == ["get_w"]
    assert (obj.tool_choice, obj.parallel_tool_calls, obj.response_format) == ("auto", True, "auto")
    assert obj.truncation_strategy == p.TruncationStrategy(type="auto", last_messages=None)
    assert obj.expires_at == obj.created_at + store.RUN_TTL_SECONDS and obj.status == "queued"


async def test_tool_choice_must_name_an_effective_tool(database: Database) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await _assistant_thread_run(database, tools=[], tool_choice="required")
    assert raised.value.param == "tool_choice"


async def test_claim_runs_is_fifo_counts_attempts_and_records_the_owner(database: Database) -> None:
    _, _, first = await _assistant_thread_run(database)
    _, _, second = await _assistant_thread_run(database)
    async with database.write() as session:
        (claimed,) = await run_moves.claim_runs(session, "w1", 1)
    assert claimed["id"] == first["id"] and claimed["worker_id"] == "w1" and claimed["heartbeat_at"]
    assert (claimed["status"], claimed["attempts"]) == ("in_progress", 1) and claimed["started_at"]
    async with database.write() as session:
        assert [r["id"] for r in await run_moves.claim_runs(session, "w2", 5)] == [second["id"]]
        assert await run_moves.claim_runs(session, "w2", 5) == []


async def test_cancel_moves_by_status(database: Database) -> None:
    _, thread, run = await _assistant_thread_run(database)
    async with database.write() as session:
        await run_moves.claim_runs(session, "w1", 1)
        cancelling = await store.cancel_run(session, thread["id"], run["id"])
        assert cancelling["status"] == "cancelling" and cancelling["cancel_requested_at"]
        with pytest.raises(InvalidRequest):
            await store.cancel_run(session, thread["id"], run["id"])
        events = await log.read_after(session, log.EventFilter(run_id=run["id"]), 0)
    assert [e.event for e in events] == [
        "thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.run.cancelling"]
    assert [e.seq for e in events] == sorted({e.seq for e in events})
    assert msgspec.json.decode(events[-1].data)["status"] == "cancelling"


async def test_steps_list_retrieve_and_serialize(database: Database) -> None:
    _, thread, run = await _assistant_thread_run(database)
    async with database.write() as session:
        message = await store.create_run_message(session, thread_id=thread["id"], run_id=run["id"],
                                                 assistant_id=run["assistant_id"])
        tool_step = await store.create_step(session, run, p.ToolCallsDetails(tool_calls=[p.FunctionToolCall(
            id="call_1", function=p.FunctionCall(name="get_w", arguments="{}"))]))
        for _ in range(3):
            await store.create_step(session, run, p.MessageCreationDetails(p.MessageCreation(message["id"])),
                                    status="completed")
        await store.update_step_columns(session, tool_step["id"], status="completed", usage=p.Usage(1, 2, 3))
    async with database.read() as session:
        page = await store.list_steps(session, thread["id"], run["id"],
                                      store.page_request(order="asc", limit=2))
        assert [row["type"] for row in page.rows] == ["tool_calls", "message_creation"] and page.has_more
        step = p.step_object(await store.get_step(session, thread["id"], run["id"], tool_step["id"]))
        with pytest.raises(NotFound):
            await store.get_step(session, "thread_other", run["id"], tool_step["id"])
    wire = msgspec.json.decode(p.encoder.encode(step))
    assert set(wire) == set(p.RunStep.__struct_fields__)
    assert wire["object"] == "thread.run.step" and wire["status"] == "completed"
    assert wire["step_details"]["tool_calls"][0] == {
        "id": "call_1", "type": "function", "function": {"name": "get_w", "arguments": "{}", "output": None}}
    assert wire["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


async def test_deleting_a_thread_cascades(database: Database) -> None:
    _, thread, run = await _assistant_thread_run(database)
    async with database.write() as session:
        await store.create_step(session, run, p.MessageCreationDetails(p.MessageCreation("msg_x")))
        await store.create_run_message(session, thread_id=thread["id"], run_id=run["id"],
                                       assistant_id=run["assistant_id"])
        await store.delete_thread(session, thread["id"])
    async with database.read() as session:
        for table in ("messages", "runs", "run_steps", "run_events"):
            assert (await session.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar() == 0, table
