"""The SSE body a generation becomes: role, deltas, finish, usage, [DONE] -- or an error object --
and how its lines are framed and written."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator

from litestar.response.sse import ServerSentEventMessage

from assistants.api.sse import data_events
from assistants.inference.batcher import Batcher
from assistants.inference.engine import EngineError, SamplingParams
from assistants.serving.chat import chat_chunks
from assistants.tools.plan import plan_turn
from tests.unit.fake_engine import EOG, FakeEngine

TEXT_ONLY = plan_turn(None, None, True, None)


async def events(engine: FakeEngine, include_usage: bool) -> list[str]:
    batcher = Batcher(engine)
    try:
        generation = batcher.submit([10, 11, EOG], SamplingParams(temperature=0.0), max_tokens=10)
        chunks = chat_chunks(generation, TEXT_ONLY, "chatcmpl-1", 7, "m", include_usage)
        return [event async for event in chunks]
    finally:
        batcher.close()


async def test_chunks_in_order_with_usage_last() -> None:
    lines = await events(FakeEngine(), include_usage=True)
    assert lines[-1] == "[DONE]"
    chunks = [json.loads(line) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1]) == "ab"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 2
    assert {(c["id"], c["created"], c["model"]) for c in chunks} == {("chatcmpl-1", 7, "m")}


async def test_engine_failure_mid_stream_becomes_an_error_object() -> None:
    engine = FakeEngine()
    engine.fail_next_step = EngineError("decode failed")
    lines = await events(engine, include_usage=True)
    assert json.loads(lines[0])["choices"][0]["delta"]["role"] == "assistant"
    error = json.loads(lines[-1])["error"]
    assert error["type"] == "server_error" and error["message"]
    assert "[DONE]" not in lines


async def test_lines_ready_together_go_out_in_one_write_framed_as_litestar_would() -> None:
    lines = ['{"n":1}', '{"n":2}', '{"n":3}', "[DONE]"]
    ready = iter([True, False, True, True])  # after each line: is the next one already waiting?

    async def body() -> AsyncGenerator[str, None]:
        for line in lines:
            yield line

    writes = [write async for write in data_events(body(), lambda: next(ready))]
    frame = [ServerSentEventMessage(data=line).encode() for line in lines]
    assert writes == [frame[0] + frame[1], frame[2] + frame[3]]


async def test_leaving_the_sse_body_closes_the_lines_and_so_the_generation() -> None:
    closed = []

    async def body() -> AsyncGenerator[str, None]:
        try:
            yield "{}"
            yield "{}"
        finally:
            closed.append(True)

    events = data_events(body(), lambda: False)
    assert await anext(events) == b"data: {}\r\n\r\n"
    await events.aclose()  # the client went away after one write
    assert closed == [True]
