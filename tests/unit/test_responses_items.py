"""Responses items -> chat-template messages and chat-shaped plans; request checks (no model)."""

from __future__ import annotations

import pytest

from assistants.errors import InvalidRequest
from assistants.protocol.responses import CreateResponseRequest, check_request
from assistants.responses import items as it


def test_string_input_is_one_user_message() -> None:
    [item] = it.normalize_input("Hello")
    assert item["type"] == "message" and item["role"] == "user" and item["id"].startswith("msg_")
    assert item["content"] == [{"type": "input_text", "text": "Hello"}]


def test_history_becomes_template_messages_with_grouped_calls() -> None:
    items = it.normalize_input([
        {"role": "developer", "content": "Be brief."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "a"},
                                                         {"type": "input_text", "text": "b"}]},
        {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"x": 1}'},
        {"type": "function_call", "call_id": "call_2", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "one"},
        {"type": "function_call_output", "call_id": "call_2",
         "output": [{"type": "input_text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "done", "annotations": []}]},
    ])
    it.check_call_outputs([], items)
    assert it.prompt_messages(items) == [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "a\nb"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
            {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "f", "content": "one"},
        {"role": "tool", "tool_call_id": "call_2", "name": "g", "content": "two"},
        {"role": "assistant", "content": "done"},
    ]


def test_given_item_ids_are_kept() -> None:
    [item] = it.normalize_input([{"id": "msg_given", "role": "user", "content": "x"}])
    assert item["id"] == "msg_given"


def test_output_of_an_unknown_call_is_refused() -> None:
    history = it.normalize_input([{"type": "function_call", "call_id": "call_1", "name": "f",
                                   "arguments": "{}"}])
    it.check_call_outputs(history, it.normalize_input([{"type": "function_call_output", "call_id": "call_1",
                                                        "output": "ok"}]))
    with pytest.raises(InvalidRequest) as caught:
        it.check_call_outputs(history, it.normalize_input([
            {"role": "user", "content": "x"},
            {"type": "function_call_output", "call_id": "call_9", "output": "?"}]))
    assert caught.value.param == "input[1].call_id"


@pytest.mark.parametrize(("item", "param"), [
    ({"role": "robot", "content": "x"}, "input[0].role"),
    ({"role": "user"}, "input[0].content"),
    ({"role": "user", "content": [{"type": "input_image", "image_url": "http://x"}]},
     "input[0].content[0].type"),
    ({"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"}, "input[0].arguments"),
    ({"type": "function_call", "name": "f", "arguments": "{}"}, "input[0].call_id"),
    ({"type": "function_call_output", "call_id": "c"}, "input[0].output"),
    ({"type": "reasoning", "summary": []}, "input[0].type"),
    ({"content": "no role or type"}, "input[0].type"),
    ("not an object", "input[0]"),
])
def test_malformed_items_name_the_field(item: object, param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        it.normalize_input([item])  # type: ignore[list-item]
    assert caught.value.param == param


def test_flat_tools_and_text_format_plan_like_chat() -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    forced = it.plan(tools, {"type": "function", "name": "get_weather"}, None, None, None)
    assert forced.calls == "forced" and forced.names == {"get_weather"} and forced.grammar
    assert it.plan(tools, "auto", None, None, None).calls == "maybe"
    assert it.plan(tools, "auto", None, None, 0).calls == "never"  # max_tool_calls 0: no calls at all
    schema = {"type": "json_schema", "name": "flag", "schema": {
        "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}}
    structured = it.plan(None, None, None, {"format": schema}, None)
    assert structured.json_output and structured.grammar
    assert not it.plan(None, None, None, {"format": {"type": "text"}}, None).json_output


@pytest.mark.parametrize(("tools", "choice", "text", "param"), [
    ([{"type": "web_search"}], None, None, "tools[0].type"),
    ([{"type": "function", "name": "f", "parameters": {"type": "integer", "minimum": 3}}], None, None,
     "tools[0].parameters"),
    ([{"type": "function", "name": "f"}], {"type": "function", "name": "g"}, None, "tool_choice"),
    ([{"type": "function", "name": "f"}], {"type": "allowed_tools", "tools": []}, None, "tool_choice"),
    (None, None, {"format": {"type": "json_schema", "schema": {"type": "object"}}}, "text.format.name"),
    (None, None, {"format": {"type": "grammar"}}, "text.format.type"),
])
def test_tool_and_format_errors_name_the_responses_field(tools: object, choice: object, text: object,
                                                          param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        it.plan(tools, choice, None, text, None)  # type: ignore[arg-type]
    assert caught.value.param is not None and caught.value.param.startswith(param)


@pytest.mark.parametrize(("fields", "param"), [
    ({"previous_response_id": "resp_x", "conversation": "conv_x"}, "previous_response_id"),
    ({"background": True, "store": False}, "background"),
    ({"temperature": 3}, "temperature"),
    ({"max_output_tokens": 0}, "max_output_tokens"),
    ({"top_logprobs": 2}, "top_logprobs"),
    ({"prompt": {"id": "pmpt_1"}}, "prompt"),
    ({"reasoning": {"effort": "high"}}, "reasoning"),
    ({"include": ["message.output_text.logprobs"]}, "include[0]"),
    ({"text": {"verbosity": "low"}}, "text.verbosity"),
    ({"conversation": {"name": "x"}}, "conversation"),
    ({"stream_options": {"include_obfuscation": False}}, "stream_options"),
])
def test_fields_we_cannot_honour_are_a_400_naming_them(fields: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_request(CreateResponseRequest(**fields))  # type: ignore[arg-type]
    assert caught.value.param == param


def test_fields_that_change_nothing_are_accepted() -> None:
    check_request(CreateResponseRequest(include=["reasoning.encrypted_content"], reasoning={"effort": None},
                                        prompt_cache_key="k", service_tier="auto", user="u",
                                        safety_identifier="s", conversation={"id": "conv_1"}))
