"""Tool calls in /v1/chat/completions with the real bundled model and the official SDK."""

from __future__ import annotations

import json

import jsonschema
import openai

WEATHER_PARAMS = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40},
                                                   "unit": {"type": "string", "enum": ["c", "f"]}},
                  "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                           "parameters": WEATHER_PARAMS}}]
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def test_forced_call_without_streaming(model_client: openai.OpenAI) -> None:
    response = model_client.chat.completions.create(
        model="default", messages=ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
        max_tokens=64, temperature=0.7, seed=11)
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls or []
    assert call.id.startswith("call_") and call.type == "function" and call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_PARAMS)


def test_forced_named_call_streamed(model_client: openai.OpenAI) -> None:
    stream = model_client.chat.completions.create(
        model="default", messages=ASK, tools=TOOLS, parallel_tool_calls=False, max_tokens=64, stream=True,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, temperature=0,
        stream_options={"include_usage": True})
    chunks = list(stream)
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    # id and name only in the first delta of the call; the arguments concatenate to valid JSON.
    assert deltas[0].index == 0 and deltas[0].id and deltas[0].function.name == "get_weather"
    assert all(d.id is None and (d.function is None or d.function.name is None) for d in deltas[1:])
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    jsonschema.validate(json.loads(arguments), WEATHER_PARAMS)
    # The SDK's stream helper accumulates the same call.
    with model_client.chat.completions.stream(
            model="default", messages=ASK, tools=TOOLS, parallel_tool_calls=False, max_tokens=64,
            tool_choice={"type": "function", "function": {"name": "get_weather"}}, temperature=0) as helper:
        final = helper.get_final_completion()
    (call,) = final.choices[0].message.tool_calls or []
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == json.loads(arguments)


def test_tool_results_in_the_next_request(model_client: openai.OpenAI) -> None:
    first = model_client.chat.completions.create(
        model="default", messages=ASK, tools=TOOLS, tool_choice="required", parallel_tool_calls=False,
        max_tokens=64, temperature=0)
    (call,) = first.choices[0].message.tool_calls or []
    follow_up = [*ASK, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                 {"role": "tool", "tool_call_id": call.id, "content": "22 degrees and sunny"}]
    second = model_client.chat.completions.create(model="default", messages=follow_up, tools=TOOLS,
                                                  max_tokens=8, temperature=0)
    assert second.choices[0].finish_reason in ("stop", "length", "tool_calls")
    # The call and its result are in the prompt: it is longer than the question alone by at least those.
    assert second.usage is not None and first.usage is not None
    assert second.usage.prompt_tokens > first.usage.prompt_tokens
    without_tools = model_client.chat.completions.create(model="default", messages=follow_up, max_tokens=1)
    assert without_tools.usage is not None
    assert second.usage.prompt_tokens > without_tools.usage.prompt_tokens  # the tool list is rendered too
