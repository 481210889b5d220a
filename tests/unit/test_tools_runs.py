# ruff: noqa: F811  (the fixtures are imported from test_worker and used as arguments)
"""Function tools in runs, against the real store and a scripted inference: requires_action, the
tool_calls step and its deltas, submit_tool_outputs checks, the next turn's prompt, usage."""

from __future__ import annotations

import json

import msgspec
import pytest

from assistants import protocol as p
from assistants import store
from assistants.errors import InvalidRequest
from assistants.events import EventBus, EventFilter
from assistants.jobs import Worker
from assistants.runs import tools as run_tools
from assistants.runs.executor import Executor
from assistants.runs.worker import RunJobs
from tests.unit.test_worker import (  # noqa: F401  (fixtures)
    ScriptedGeneration,
    ScriptedInference,
    bus,
    database,
    inference,
    new_run,
    run_messages,
    wait_status,
    worker,
)

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                          "required": ["city"]}}}]
CALL = '{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}'


def script(inference: ScriptedInference, *outputs: list[str]) -> None:
    queue = list(outputs)
    inference.script = lambda: ScriptedGeneration(queue.pop(0), 0.001)


async def submit(bus: EventBus, run: dict, outputs: list[dict]) -> tuple[dict, int]:
    async with bus.transaction() as tx:
        return await run_tools.submit_tool_outputs(tx.session, run["thread_id"], run["id"],
                                                   msgspec.convert(outputs, list[p.ToolOutput]))


async def test_a_call_stops_the_run_in_requires_action_and_outputs_continue_it(
        database: store.Database, bus: EventBus, worker: Worker, inference: ScriptedInference) -> None:
    script(inference, [CALL[:20], CALL[20:]], ["It is ", "22C."])
    run = await new_run(database, bus, "Weather in Paris?", tools=TOOLS, tool_choice="required")
    worker.notify()
    waiting = await wait_status(database, run["id"], "requires_action")
    (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert await run_messages(database, run["id"]) == []  # a call is not a message
    events = await bus.replay(EventFilter(run_id=run["id"]))
    names = [e.event for e in events]
    assert names[3:] == ["thread.run.step.created", "thread.run.step.in_progress",
                         "thread.run.step.delta", "thread.run.step.delta", "thread.run.requires_action"]
    created = json.loads(events[3].data)
    assert created["type"] == "tool_calls"
    assert created["step_details"] == {"type": "tool_calls", "tool_calls": []}
    first, second = (json.loads(e.data)["delta"]["step_details"]["tool_calls"][0] for e in events[5:7])
    assert first["id"] == call["id"] and first["function"]["name"] == "get_weather"
    assert "id" not in second and "name" not in second["function"]

    with pytest.raises(InvalidRequest) as err:
        await submit(bus, run, [])
    assert err.value.param == "tool_outputs"
    with pytest.raises(InvalidRequest):
        await submit(bus, run, [{"tool_call_id": call["id"], "output": "x"},
                                {"tool_call_id": "call_x", "output": "y"}])
    row, after = await submit(bus, run, [{"tool_call_id": call["id"], "output": "22C"}])
    assert row["status"] == "queued" and row["required_action"] is None
    assert after == events[-1].seq
    worker.notify()
    done = await wait_status(database, run["id"], "completed")
    # The second turn saw the call and its result; the forced choice forced only the first turn.
    assert "<assistant> \n<tool> 22C\n<assistant>" in inference.prompts[1]
    (message,) = await run_messages(database, run["id"])
    assert message["content"][0]["text"]["value"] == "It is 22C."
    assert done["usage"] == {"prompt_tokens": 14, "completion_tokens": 4, "total_tokens": 18,
                             "prompt_tokens_details": {"cached_tokens": 0}}
    async with database.read() as session:
        steps = await store.steps_of_run(session, run["id"])
    tool_step = next(s for s in steps if s["type"] == "tool_calls")
    assert tool_step["status"] == "completed"
    assert tool_step["step_details"]["tool_calls"][0]["function"]["output"] == "22C"
    assert tool_step["step_details"]["tool_calls"][0]["id"] == call["id"]
    with pytest.raises(InvalidRequest) as err:  # not in requires_action any more
        await submit(bus, run, [{"tool_call_id": call["id"], "output": "22C"}])
    assert err.value.param == "run_id"


async def test_auto_text_streams_as_a_message_and_auto_calls_are_parsed(
        database: store.Database, bus: EventBus, worker: Worker, inference: ScriptedInference) -> None:
    script(inference, ["Hello", " there"], ["  ", CALL], ['{"not": "a call"}'])
    plain = await new_run(database, bus, "Hi", tools=TOOLS)
    worker.notify()
    await wait_status(database, plain["id"], "completed")
    (message,) = await run_messages(database, plain["id"])
    assert message["content"][0]["text"]["value"] == "Hello there"
    called = await new_run(database, bus, "Weather?", tools=TOOLS)
    worker.notify()
    await wait_status(database, called["id"], "requires_action")
    await submit(bus, called, [{"tool_call_id": (await _pending(database, called))[0], "output": "sunny"}])
    worker.notify()
    await wait_status(database, called["id"], "completed")
    (message,) = await run_messages(database, called["id"])
    assert message["content"][0]["text"]["value"] == '{"not": "a call"}'  # held back, then sent as text


async def test_after_max_tool_rounds_the_run_must_answer(
        database: store.Database, bus: EventBus, inference: ScriptedInference) -> None:
    # A model that calls the tool every turn: two rounds are allowed, the third turn is decoded with
    # tool_choice none, so the same call-shaped output becomes the run's message.
    script(inference, [CALL], [CALL], [CALL])
    executor = Executor(bus, inference, inference.start, max_tool_rounds=2)
    capped = Worker(bus, [RunJobs(bus, executor)], capacity=1, poll_interval=0.05)
    await capped.start()
    try:
        run = await new_run(database, bus, "Weather?", tools=TOOLS, tool_choice="required")
        for _ in range(2):
            capped.notify()
            await wait_status(database, run["id"], "requires_action")
            pending = await _pending(database, run)
            await submit(bus, run, [{"tool_call_id": c, "output": "sunny"} for c in pending])
        capped.notify()
        await wait_status(database, run["id"], "completed")
    finally:
        await capped.close()
    (message,) = await run_messages(database, run["id"])
    assert message["content"][0]["text"]["value"] == CALL
    assert inference.prompts[2].count("<tool> sunny") == 2


async def _pending(database: store.Database, run: dict) -> list[str]:
    async with database.read() as session:
        row = await store.get_run(session, run["thread_id"], run["id"])
    return [c["id"] for c in row["required_action"]["submit_tool_outputs"]["tool_calls"]]


async def test_a_run_left_in_requires_action_expires(
        database: store.Database, bus: EventBus, worker: Worker, inference: ScriptedInference) -> None:
    script(inference, [CALL])
    run = await new_run(database, bus, "Weather?", tools=TOOLS, tool_choice="required")
    worker.notify()
    await wait_status(database, run["id"], "requires_action")
    async with database.write() as session:
        await store.update_run_columns(session, run["id"], expires_at=1)
    expired = await wait_status(database, run["id"], "expired")
    assert expired["required_action"] is None
    async with database.read() as session:
        (step,) = await store.steps_of_run(session, run["id"])
    assert step["status"] == "expired"
    with pytest.raises(InvalidRequest):
        await submit(bus, run, [{"tool_call_id": "call_1", "output": "late"}])
