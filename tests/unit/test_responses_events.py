"""The response.* event sequence: numbered from 0, in the order the SDK's stream helper enforces, and
accepted by that helper (openai's ResponseStreamState) whatever the output is: text, tool calls, text
held back as a possible call, cut by max_output_tokens, or cancelled."""

from __future__ import annotations

from typing import Any

import pytest
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from assistants.inference import GenerationResult
from assistants.responses import items as it
from assistants.responses.decode import Outcome, decode
from assistants.responses.events import ResponseEvents
from assistants.tools.plan import TurnPlan

TOOLS = [{"type": "function", "name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


class ScriptedGeneration:
    """Pieces one at a time, then `.result`; after `cancel()` the iteration ends (as the batcher's)."""

    def __init__(self, pieces: list[str], finish_reason: str = "stop") -> None:
        self.pieces = list(pieces)
        self.sent = 0
        self.finish_reason = finish_reason
        self.result: GenerationResult | None = None
        self.cancelled = False

    def __aiter__(self) -> ScriptedGeneration:
        return self

    async def __anext__(self) -> str:
        if self.result is not None:
            raise StopAsyncIteration
        if self.cancelled or self.sent == len(self.pieces):
            reason = "cancelled" if self.cancelled else self.finish_reason
            self.result = GenerationResult(reason, 7, self.sent)  # type: ignore[arg-type]
            raise StopAsyncIteration
        self.sent += 1
        return self.pieces[self.sent - 1]

    def cancel(self) -> None:
        self.cancelled = True


def snapshot() -> dict[str, Any]:
    return {"id": "resp_1", "object": "response", "created_at": 1, "status": "in_progress", "model": "m",
            "output": [], "tools": [], "tool_choice": "auto", "parallel_tool_calls": True, "usage": None}


async def run(generation: ScriptedGeneration, plan: TurnPlan, **kwargs: Any) -> tuple[list[dict[str, Any]],
                                                                                     Outcome]:
    events: list[dict[str, Any]] = []
    builder = ResponseEvents(snapshot(), events.append)
    builder.created()
    builder.in_progress()
    outcome = Outcome()
    async for _ in decode(generation, plan, builder, outcome, **kwargs):
        pass
    return events, outcome


def sdk_final(events: list[dict[str, Any]]) -> Any:
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=omit)  # type: ignore[arg-type]
    for event in events:
        state.handle_event(construct_type(type_=ResponseStreamEvent, value=event))  # type: ignore[arg-type]
    return state._completed_response


def types(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"].removeprefix("response.") for event in events]


async def test_text_stream_order_and_numbers() -> None:
    events, outcome = await run(ScriptedGeneration(["Hel", "lo"]), it.plan(None, None, None, None, None))
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert types(events) == ["created", "in_progress", "output_item.added", "content_part.added",
                             "output_text.delta", "output_text.delta", "output_text.done",
                             "content_part.done", "output_item.done", "completed"]
    final = sdk_final(events)
    assert final.output_text == "Hello" and final.status == "completed"
    assert outcome.final["usage"]["input_tokens"] == 7 and outcome.final["usage"]["output_tokens"] == 2


async def test_forced_call_becomes_function_call_items() -> None:
    text = '{"tool_calls":[{"name":"get_weather","arguments":{"city":"Paris"}}]}'
    plan = it.plan(TOOLS, "required", False, None, None)
    events, _outcome = await run(ScriptedGeneration([text[:10], text[10:]]), plan)
    assert types(events)[2:] == ["output_item.added", "function_call_arguments.delta",
                                 "function_call_arguments.done", "output_item.done", "completed"]
    [call] = sdk_final(events).output
    assert call.type == "function_call" and call.name == "get_weather"
    assert call.arguments == '{"city": "Paris"}'
    assert call.call_id.startswith("call_") and call.id.startswith("fc_")


async def test_held_back_text_that_is_no_call_is_sent_as_text() -> None:
    plan = it.plan(TOOLS, "auto", None, None, None)
    events, _ = await run(ScriptedGeneration(["{not", " a call}"]), plan)
    assert sdk_final(events).output_text == "{not a call}"


async def test_max_tool_calls_keeps_the_first_calls() -> None:
    text = ('{"tool_calls":[{"name":"get_weather","arguments":{"city":"A"}},'
            '{"name":"get_weather","arguments":{"city":"B"}}]}')
    events, _ = await run(ScriptedGeneration([text]), it.plan(TOOLS, "required", True, None, None),
                          max_tool_calls=1)
    assert [item.arguments for item in sdk_final(events).output] == ['{"city": "A"}']


async def test_cut_by_max_output_tokens_is_incomplete() -> None:
    events, outcome = await run(ScriptedGeneration(["a", "b"], finish_reason="length"),
                                it.plan(None, None, None, None, None))
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"
    assert outcome.status == "incomplete"


async def test_cancel_stops_and_keeps_the_partial_text() -> None:
    seen: list[int] = []

    def cancelled() -> bool:
        seen.append(1)
        return len(seen) > 2

    plain = it.plan(None, None, None, None, None)
    events, outcome = await run(ScriptedGeneration(["a", "b", "c", "d"]), plain, cancelled=cancelled)
    assert outcome.status == "cancelled"
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "ab"
    assert outcome.final["usage"]["output_tokens"] == 3  # what the engine decoded, the dropped piece too


@pytest.mark.parametrize("finish_reason", ["stop", "length"])
async def test_no_output_still_answers_one_message(finish_reason: str) -> None:
    events, _ = await run(ScriptedGeneration([], finish_reason), it.plan(None, None, None, None, None))
    assert [item["type"] for item in events[-1]["response"]["output"]] == ["message"]
    assert sdk_final(events) is None or sdk_final(events).output_text == ""


async def test_a_file_search_call_then_a_cited_answer_pass_the_sdk_helper() -> None:
    from assistants import file_search

    sources = [file_search.FileSearchResult("file-a", "a.md", 0.9, "The Zorblat festival is held every "
                                            "March in Quexville.", {"kind": "md"})]
    item = file_search.response_call_item("fs_1", ["when?"], sources, include_results=True)
    events: list[dict[str, Any]] = []
    builder = ResponseEvents(snapshot(), events.append)
    builder.created()
    builder.in_progress()
    builder.file_search_call(item)
    builder.annotate = lambda text: file_search.response_citations(text, sources)
    answer = "It is held every March in Quexville, they say."
    async for _ in decode(ScriptedGeneration([answer]), it.plan(None, None, None, None, None), builder,
                          Outcome()):
        pass
    assert types(events)[2:8] == ["output_item.added", "file_search_call.in_progress",
                                  "file_search_call.searching", "file_search_call.completed",
                                  "output_item.done", "output_item.added"]
    assert "output_text.annotation.added" in types(events)
    call, message = sdk_final(events).output
    assert call.type == "file_search_call" and call.results[0].filename == "a.md"
    [citation] = message.content[0].annotations
    assert (citation.file_id, citation.filename) == ("file-a", "a.md")
    assert answer[:citation.index].endswith("March in Quexville")
