"""The Responses API with the official SDK and the real bundled model: plain, streamed (the SDK's own
helper), parsed, function-tool loops, previous_response_id chains, conversations, store=false, and
bad input that writes nothing. Greedy (temperature 0) and short: a base model continues any text."""

from __future__ import annotations

import json

import httpx
import openai
import pydantic
import pytest

from tests.integration.rows import count_rows
from tests.serverproc import ServerProcess

TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 16}},
                         "required": ["city"], "additionalProperties": False}}]
GREEDY = {"model": "default", "temperature": 0}


class Flag(pydantic.BaseModel):
    ok: bool


class City(pydantic.BaseModel):
    name: str = pydantic.Field(max_length=16)
    sunny: bool


def test_plain_create_retrieve_input_items_delete(model_client: openai.OpenAI) -> None:
    create = model_client.responses.create
    response = create(input="Hello", max_output_tokens=3, metadata={"k": "v"}, **GREEDY)
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    [message] = response.output
    assert message.type == "message" and message.status == "incomplete" and response.output_text
    usage = response.usage
    assert usage is not None and usage.output_tokens == 3
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    counted = model_client.responses.input_tokens.count(model="default", input="Hello")
    assert counted.input_tokens == usage.input_tokens  # the very prompt that was decoded

    again = model_client.responses.retrieve(response.id)
    assert again.output_text == response.output_text and again.metadata == {"k": "v"} and again.store
    [item] = model_client.responses.input_items.list(response.id).data
    assert item.type == "message" and item.role == "user"  # type: ignore[union-attr]

    model_client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        model_client.responses.retrieve(response.id)


def test_stream_helper_and_final_response(model_client: openai.OpenAI) -> None:
    with model_client.responses.stream(input="Is water wet? Answer in JSON.", text_format=Flag,
                                       max_output_tokens=40, **GREEDY) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:5] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "response.output_text.delta"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"]
    assert isinstance(final.output_parsed, Flag)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")  # type: ignore[union-attr]
    assert deltas == final.output_text
    assert model_client.responses.retrieve(final.id).output_text == final.output_text  # stored before the end


def test_parse_with_a_pydantic_model(model_client: openai.OpenAI) -> None:
    parsed = model_client.responses.parse(input="Describe Paris weather as JSON.", text_format=City,
                                          max_output_tokens=60, **GREEDY)
    assert parsed.status == "completed"
    assert isinstance(parsed.output_parsed, City) and len(parsed.output_parsed.name) <= 16
    assert parsed.text is not None and parsed.text.format.type == "json_schema"


def test_function_tool_loop(model_client: openai.OpenAI) -> None:
    first = model_client.responses.create(input="What is the weather in Paris?", tools=TOOLS,  # type: ignore[arg-type]
                                          tool_choice="required", parallel_tool_calls=False,
                                          max_output_tokens=60, **GREEDY)
    assert first.status == "completed"
    [call] = first.output
    assert call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    assert set(json.loads(call.arguments)) == {"city"}
    assert first.tools[0].type == "function" and first.tools[0].name == "get_weather"  # type: ignore[union-attr]

    second = model_client.responses.create(
        previous_response_id=first.id, tools=TOOLS, max_output_tokens=12,  # type: ignore[arg-type]
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}], **GREEDY)
    assert second.output[0].type == "message" and second.output_text
    assert second.usage is not None and first.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens  # the call and its result are in the prompt

    # The same loop with the history passed back by hand (no stored chain).
    manual = model_client.responses.create(
        store=False, tools=TOOLS, max_output_tokens=12, **GREEDY,  # type: ignore[arg-type]
        input=[{"role": "user", "content": "What is the weather in Paris?"},
               call.model_dump(exclude_none=True),
               {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}])
    assert manual.output[0].type == "message"

    with model_client.responses.stream(input="Weather in Rome?", tools=TOOLS,  # type: ignore[arg-type]
                                       tool_choice={"type": "function", "name": "get_weather"},
                                       parallel_tool_calls=False, max_output_tokens=60, **GREEDY) as stream:
        kinds = [e.type for e in stream]
        streamed = stream.get_final_response()
    assert kinds[2:] == ["response.output_item.added", "response.function_call_arguments.delta",
                         "response.function_call_arguments.done", "response.output_item.done",
                         "response.completed"]
    assert streamed.output[0].type == "function_call"


def test_previous_response_chain(model_client: openai.OpenAI) -> None:
    create = model_client.responses.create
    first = create(instructions="Answer briefly.", input="One", max_output_tokens=2, **GREEDY)
    second = create(previous_response_id=first.id, input="Two", max_output_tokens=2, **GREEDY)
    assert second.previous_response_id == first.id and second.instructions is None
    assert [i.content[0].text for i in model_client.responses.input_items.list(second.id).data] == ["Two"]  # type: ignore[union-attr]
    count = model_client.responses.input_tokens.count
    assert count(model="default", previous_response_id=first.id, input="Two").input_tokens == \
        second.usage.input_tokens  # type: ignore[union-attr]
    # The first response's instructions are not carried over: giving them again costs tokens.
    assert count(model="default", previous_response_id=first.id, input="Two",
                 instructions="Answer briefly.").input_tokens > second.usage.input_tokens  # type: ignore[union-attr]
    third = model_client.responses.create(previous_response_id=second.id, input="Three", max_output_tokens=2,
                                          **GREEDY)
    assert third.usage.input_tokens > second.usage.input_tokens  # type: ignore[union-attr]


def test_store_false_keeps_nothing(model_client: openai.OpenAI, model_server: ServerProcess) -> None:
    before = count_rows(model_server, "responses")
    response = model_client.responses.create(input="Hi", store=False, max_output_tokens=2, **GREEDY)
    assert response.store is False and response.output_text
    assert count_rows(model_server, "responses") == before
    with pytest.raises(openai.NotFoundError):
        model_client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError) as caught:
        model_client.responses.create(previous_response_id=response.id, input="x", **GREEDY)
    assert caught.value.body["param"] == "previous_response_id"  # type: ignore[index]


def test_conversation_grows_over_responses(model_client: openai.OpenAI) -> None:
    conv = model_client.conversations.create(items=[{"role": "user", "content": "My name is Ann."}])
    used = []
    for turn in ("Hello.", "What is my name?"):
        response = model_client.responses.create(conversation=conv.id, input=turn, max_output_tokens=3,
                                                 **GREEDY)
        assert response.conversation is not None and response.conversation.id == conv.id
        used.append(response.usage.input_tokens)  # type: ignore[union-attr]
    items = model_client.conversations.items.list(conv.id, order="asc").data
    assert [(i.type, i.role) for i in items] == [  # type: ignore[union-attr]
        ("message", "user"), ("message", "user"), ("message", "assistant"), ("message", "user"),
        ("message", "assistant")]
    assert items[-1].id == response.output[0].id  # the output item keeps its id in the conversation
    assert used[1] > used[0]
    assert model_client.responses.input_tokens.count(model="default", conversation=conv.id,
                                                     input="x").input_tokens > used[1]


def test_bad_input_is_a_4xx_and_writes_nothing(model_client: openai.OpenAI,
                                               model_server: ServerProcess) -> None:
    conv = model_client.conversations.create(items=[{"role": "user", "content": "seed"}])
    plain = model_client.responses.create(input="Hi", max_output_tokens=1, **GREEDY)
    before = {table: count_rows(model_server, table) for table in ("responses", "response_items",
                                                                   "conversation_items")}
    create = model_client.responses.create
    cases: list[tuple[type[openai.APIStatusError], dict[str, object], str | None]] = [
        (openai.NotFoundError, {"previous_response_id": "resp_unknown", "input": "x"},
         "previous_response_id"),
        (openai.NotFoundError, {"conversation": "conv_unknown", "input": "x"}, "conversation"),
        (openai.BadRequestError, {"conversation": conv.id, "previous_response_id": plain.id, "input": "x"},
         "previous_response_id"),
        (openai.BadRequestError, {"background": True, "store": False, "input": "x"}, "background"),
        (openai.BadRequestError, {"conversation": conv.id, "input": [
            {"type": "function_call_output", "call_id": "call_unknown", "output": "x"}]}, "input[0].call_id"),
        (openai.BadRequestError, {"conversation": conv.id, "input": [{"role": "user"}]}, "input[0].content"),
        (openai.BadRequestError, {"input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        (openai.BadRequestError, {"input": "x", "reasoning": {"effort": "high"}}, "reasoning"),
        (openai.BadRequestError, {"input": "x", "truncation": "sometimes"}, "truncation"),
        (openai.NotFoundError, {"input": [{"type": "item_reference", "id": "msg_unknown"}]}, "input[0].id"),
        (openai.BadRequestError, {"input": []}, "input"),
    ]
    for error, fields, param in cases:
        with pytest.raises(error) as caught:
            create(model="default", **fields)  # type: ignore[call-overload]
        assert caught.value.body["param"] == param, fields  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as model:
        create(model="no-such-model", input="x")
    assert model.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as cancel:
        model_client.responses.cancel(plain.id)
    assert "background" in cancel.value.message
    with pytest.raises(openai.NotFoundError):
        model_client.responses.cancel("resp_unknown")
    with pytest.raises(openai.BadRequestError):
        model_client.responses.retrieve(plain.id, stream=True)  # only background streams resume
    not_json = httpx.post(f"{model_server.base_url}/v1/responses", content=b"{nope")
    assert not_json.status_code == 400 and not_json.json()["error"]["type"] == "invalid_request_error"
    assert before == {table: count_rows(model_server, table) for table in before}


def test_metrics_count_responses(model_client: openai.OpenAI, model_server: ServerProcess) -> None:
    def scrape() -> dict[str, float]:
        text = httpx.get(model_server.base_url + "/metrics").text
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith("assistants_responses")}

    before = scrape()
    model_client.responses.create(input="Hi", max_output_tokens=1, **GREEDY)
    after = scrape()
    finished = 'assistants_responses_finished_total{mode="sync",status="incomplete"}'
    assert after[finished] == before.get(finished, 0) + 1
    stored = 'assistants_responses{status="incomplete"}'
    assert after[stored] == before[stored] + 1


def test_truncation_disabled_refuses_an_overflow_auto_drops_the_oldest(model_client: openai.OpenAI) -> None:
    # The model server gives each request 1024 tokens; this history needs about twice that.
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"Note {i}: " + "lorem ipsum " * 40}
               for i in range(24)]
    with pytest.raises(openai.BadRequestError) as caught:
        model_client.responses.create(input=history, max_output_tokens=2, **GREEDY)  # type: ignore[arg-type]
    assert caught.value.body["param"] == "input" and caught.value.code == "context_length_exceeded"  # type: ignore[index]
    response = model_client.responses.create(input=history, truncation="auto", max_output_tokens=2,  # type: ignore[arg-type]
                                             **GREEDY)
    assert response.truncation == "auto" and response.usage is not None
    assert 0 < response.usage.input_tokens < 1024
