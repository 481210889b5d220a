"""Anthropic's Messages API with the official `anthropic` SDK, the real server and the bundled model."""

from __future__ import annotations

import anthropic
import httpx
import jsonschema
import pytest

from tests.serverproc import ServerProcess

WEATHER = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 40}},
           "required": ["city"]}
TOOLS = [{"name": "get_weather", "description": "Current weather in a city", "input_schema": WEATHER}]
HELLO = [{"role": "user", "content": "Say hello."}]
GREEDY = {"temperature": 0}
"""The SDK no longer has a `temperature` argument; the API still takes the field."""


@pytest.fixture()
def claude(model_server: ServerProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=model_server.base_url, api_key="test", max_retries=0, timeout=600)


def test_create(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="default", max_tokens=8, extra_body=GREEDY, system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}],
        metadata={"user_id": "u-1"})
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.model in ("default", "gemma-3-270m-it-Q4_K_M") or message.model
    assert message.stop_reason in ("end_turn", "max_tokens")
    (block,) = message.content
    assert block.type == "text" and block.text
    assert 0 < message.usage.output_tokens <= 8 and message.usage.input_tokens > 5
    if message.stop_reason == "max_tokens":
        assert message.usage.output_tokens == 8


def test_max_tokens_and_sampling(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="default", max_tokens=3, messages=HELLO,
                                     extra_body={"temperature": 0.8, "top_p": 0.9, "top_k": 20})
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3


def test_stream(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="default", max_tokens=6, messages=HELLO, extra_body=GREEDY) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert pieces and final.content[0].type == "text"
    assert "".join(pieces) == final.content[0].text
    assert final.stop_reason in ("end_turn", "max_tokens") and final.usage.output_tokens > 0
    # Greedy: the same text as the whole answer.
    whole = claude.messages.create(model="default", max_tokens=6, messages=HELLO, extra_body=GREEDY)
    assert whole.content[0].text == final.content[0].text


def test_stream_event_sequence(claude: anthropic.Anthropic) -> None:
    events = list(claude.messages.create(model="default", max_tokens=4, messages=HELLO, stream=True,
                                         extra_body=GREEDY))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}
    assert events[0].message.usage.input_tokens > 0 and events[0].message.content == []
    assert all(e.delta.type == "text_delta" for e in events if e.type == "content_block_delta")
    assert events[-2].delta.stop_reason == "max_tokens" and events[-2].usage.output_tokens == 4


def test_ping_is_sent(model_server: ServerProcess) -> None:
    body = {"model": "default", "max_tokens": 2, "messages": HELLO, "stream": True}
    with httpx.stream("POST", model_server.base_url + "/v1/messages", json=body, timeout=600,
                      headers={"anthropic-version": "2023-06-01"}) as response:
        assert response.status_code == 200
        names = [line.removeprefix("event: ") for line in response.iter_lines() if line.startswith("event:")]
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-1] == "message_stop"


def test_stop_sequences(claude: anthropic.Anthropic) -> None:
    free = claude.messages.create(model="default", max_tokens=12, messages=HELLO, extra_body=GREEDY)
    text = free.content[0].text
    word = text.split()[1] if len(text.split()) > 1 else text[1:3]
    stopped = claude.messages.create(model="default", max_tokens=12, messages=HELLO, extra_body=GREEDY,
                                     stop_sequences=[word, "zzzz-never"])
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == word
    assert word not in (stopped.content[0].text if stopped.content else "")
    assert text.startswith(stopped.content[0].text if stopped.content else "")


def test_tool_round(claude: anthropic.Anthropic) -> None:
    ask = [{"role": "user", "content": "What is the weather in Paris?"}]
    forced = {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}
    first = claude.messages.create(model="default", max_tokens=64, messages=ask, tools=TOOLS,
                                   tool_choice=forced, extra_body=GREEDY)
    assert first.stop_reason == "tool_use"
    (call,) = first.content
    assert call.type == "tool_use" and call.name == "get_weather" and call.id.startswith("toolu_")
    jsonschema.validate(call.input, WEATHER)
    follow_up = [*ask, {"role": "assistant", "content": first.content},
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                               "content": "Sunny, 21 C."}]}]
    second = claude.messages.create(model="default", max_tokens=16, messages=follow_up, tools=TOOLS,
                                    tool_choice={"type": "none"}, extra_body=GREEDY)
    assert second.stop_reason in ("end_turn", "max_tokens")
    assert [block.type for block in second.content] == ["text"] and second.content[0].text
    # The result is in the prompt: counting the follow-up counts more than the question alone.
    assert claude.messages.count_tokens(model="default", messages=follow_up, tools=TOOLS).input_tokens > \
        claude.messages.count_tokens(model="default", messages=ask, tools=TOOLS).input_tokens


def test_tool_use_streamed(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="default", max_tokens=64, tools=TOOLS,
                                tool_choice={"type": "any", "disable_parallel_tool_use": True},
                                messages=[{"role": "user", "content": "Weather in Rome?"}],
                                extra_body=GREEDY) as stream:
        events = list(stream)
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    (call,) = final.content
    assert call.type == "tool_use" and call.name == "get_weather"
    jsonschema.validate(call.input, WEATHER)
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert deltas and all(d.type == "input_json_delta" for d in deltas)


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    short = claude.messages.count_tokens(model="default", messages=HELLO)
    longer = claude.messages.count_tokens(model="default", messages=HELLO, system="Answer in French.")
    assert 0 < short.input_tokens < longer.input_tokens
    # The same count the answer reports as its input.
    message = claude.messages.create(model="default", max_tokens=1, messages=HELLO)
    assert message.usage.input_tokens == short.input_tokens


@pytest.mark.parametrize(("body", "status", "kind", "needle"), [
    ({"model": "default", "messages": HELLO}, 400, "invalid_request_error", "max_tokens"),
    ({"model": "default", "max_tokens": [9], "messages": HELLO}, 400, "invalid_request_error", "max_tokens"),
    ({"model": "default", "max_tokens": 0, "messages": HELLO}, 400, "invalid_request_error", "max_tokens"),
    ({"model": "default", "max_tokens": 4, "messages": []}, 400, "invalid_request_error", "messages"),
    ({"model": "default", "max_tokens": 4, "messages": "hi"}, 400, "invalid_request_error", "messages"),
    ({"model": "default", "max_tokens": 4, "messages": HELLO, "temperature": 1.5}, 400,
     "invalid_request_error", "temperature"),
    ({"model": "default", "max_tokens": 4, "messages": [{"role": "user", "content": [
        {"type": "image", "source": {}}]}]}, 400, "invalid_request_error", "image"),
    ({"model": "default", "max_tokens": 4, "messages": HELLO, "tool_choice": {"type": "any"}}, 400,
     "invalid_request_error", "tool"),
    ({"model": "no-such-model", "max_tokens": 4, "messages": HELLO}, 404, "not_found_error", "default"),
])
def test_bad_input(model_server: ServerProcess, body: dict, status: int, kind: str, needle: str) -> None:
    response = httpx.post(model_server.base_url + "/v1/messages", json=body, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()
    assert error["type"] == "error" and set(error["error"]) == {"type", "message"}
    assert error["error"]["type"] == kind and needle in error["error"]["message"]


def test_sdk_raises_typed_errors(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        claude.messages.create(model="no-such-model", max_tokens=4, messages=HELLO)
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.count_tokens(model="default", messages=[])


def test_other_routes_keep_the_openai_envelope(model_server: ServerProcess) -> None:
    response = httpx.post(model_server.base_url + "/v1/chat/completions", json={"model": "default"})
    assert response.status_code == 400 and set(response.json()["error"]) == {"message", "type", "param",
                                                                             "code"}
