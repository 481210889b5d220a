"""Anthropic requests as the chat serving path sees them: messages, tools plan, sampling, answers."""

from __future__ import annotations

import msgspec
import pytest

from assistants.errors import InvalidRequest
from assistants.inference import GenerationResult
from assistants.protocol.anthropic import MessagesRequest, TextBlock, ToolUseBlock
from assistants.serving import anthropic as serving

TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                                                "required": ["city"]}}


def request(**fields: object) -> MessagesRequest:
    body = {"model": "default", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.convert(body, MessagesRequest)


def test_a_tool_round_becomes_tool_calls_and_a_tool_message() -> None:
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "Sunny"},
                                     {"type": "text", "text": "Thanks"}]},
    ]
    chat = serving.chat_messages(request(system=[{"type": "text", "text": "Be brief."}], messages=messages))
    assert chat == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "toolu_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Sunny"},
        {"role": "user", "content": "Thanks"},
    ]


@pytest.mark.parametrize("messages", [
    [],
    [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "?"}]}],
    [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}],
    [{"role": "user", "content": []}],
])
def test_malformed_conversations_are_400(messages: list[object]) -> None:
    with pytest.raises(InvalidRequest):
        serving.chat_messages(request(messages=messages))


def test_tool_choice_maps_onto_the_chat_plan() -> None:
    assert serving.plan_of(request(tools=[TOOL])).calls == "maybe"
    forced = serving.plan_of(request(tools=[TOOL], tool_choice={"type": "tool", "name": "get_weather"}))
    assert forced.calls == "forced" and forced.grammar is not None and forced.names == {"get_weather"}
    assert serving.plan_of(request(tools=[TOOL], tool_choice={"type": "any"})).calls == "forced"
    assert serving.plan_of(request(tools=[TOOL], tool_choice={"type": "none"})).tools is None
    with pytest.raises(InvalidRequest):
        serving.plan_of(request(tools=[TOOL], tool_choice={"type": "tool", "name": "other"}))
    with pytest.raises(InvalidRequest):
        serving.plan_of(request(tool_choice={"type": "any"}))


def test_sampling_params_keep_the_engine_defaults_for_what_is_left_out() -> None:
    plan = serving.plan_of(request())
    params = serving.sampling_params(request(top_k=5, stop_sequences=["\n"]), plan)
    assert (params.temperature, params.top_p, params.top_k) == (1.0, 1.0, 5)
    assert params.max_tokens == 8 and params.stop == ("\n",)


def test_answers_and_stop_reasons() -> None:
    plan = serving.plan_of(request(tools=[TOOL]))
    call = serving.answer_of('{"name": "get_weather", "arguments": {"city": "Rome"}}', plan,
                             GenerationResult("stop", 5, 9))
    assert call.stop_reason == "tool_use"
    (block,) = call.content
    assert isinstance(block, ToolUseBlock) and block.input == {"city": "Rome"}
    assert block.id.startswith("toolu_")
    stopped = serving.answer_of("Hi", plan, GenerationResult("stop", 5, 1, stop_sequence="!"))
    assert (stopped.content, stopped.stop_reason, stopped.stop_sequence) == ([TextBlock("Hi")],
                                                                             "stop_sequence", "!")
    assert serving.answer_of("Hi", plan, GenerationResult("length", 5, 1)).stop_reason == "max_tokens"
    assert serving.answer_of("", plan, GenerationResult("stop", 5, 0)).content == []
