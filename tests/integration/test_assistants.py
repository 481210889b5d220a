"""Assistants CRUD + list through the official SDK against the real server."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_create_retrieve_update_delete(client: openai.OpenAI) -> None:
    created = client.beta.assistants.create(
        model="local-model",
        name="Helper",
        description="d",
        instructions="Be brief.",
        tools=[WEATHER],
        metadata={"team": "a"},
        temperature=0.2,
        top_p=0.9,
        response_format={"type": "json_object"},
    )
    assert created.id.startswith("asst_") and created.object == "assistant"
    assert (created.name, created.instructions, created.temperature, created.top_p) == (
        "Helper",
        "Be brief.",
        0.2,
        0.9,
    )
    assert created.tools[0].type == "function" and created.tools[0].function.name == "get_weather"
    assert created.tools[0].function.parameters == WEATHER["function"]["parameters"]
    assert created.metadata == {"team": "a"} and created.response_format.type == "json_object"

    fetched = client.beta.assistants.retrieve(created.id)
    assert fetched == created

    updated = client.beta.assistants.update(created.id, name="Renamed", metadata={"team": "b"}, tools=[])
    assert (updated.name, updated.metadata, updated.tools) == ("Renamed", {"team": "b"}, [])
    assert updated.instructions == "Be brief." and updated.model == "local-model"  # untouched fields stay

    deleted = client.beta.assistants.delete(created.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (created.id, True, "assistant.deleted")
    with pytest.raises(openai.NotFoundError) as raised:
        client.beta.assistants.retrieve(created.id)
    assert raised.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.beta.assistants.delete(created.id)


def test_defaults_are_applied_and_every_key_is_sent(client: openai.OpenAI) -> None:
    raw = client.beta.assistants.with_raw_response.create(model="m")
    body = raw.http_response.json()
    assert set(body) >= {
        "id",
        "object",
        "created_at",
        "name",
        "description",
        "model",
        "instructions",
        "tools",
        "tool_resources",
        "metadata",
        "temperature",
        "top_p",
        "response_format",
    }
    assert (body["tools"], body["metadata"], body["temperature"], body["top_p"], body["response_format"]) == (
        [],
        {},
        1.0,
        1.0,
        "auto",
    )
    assert isinstance(body["created_at"], int)


def test_list_newest_first(client: openai.OpenAI) -> None:
    ids = [client.beta.assistants.create(model="m", name=f"list-{i}").id for i in range(3)]
    listed = client.beta.assistants.list(limit=3)
    assert [a.id for a in listed.data] == ids[::-1]
    assert listed.first_id == ids[-1] and listed.last_id == ids[0]
