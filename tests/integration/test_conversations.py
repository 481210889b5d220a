"""Conversations and their items through the official SDK (store routes only: no model needed)."""

from __future__ import annotations

import httpx
import openai
import pytest


def test_conversation_lifecycle(client: openai.OpenAI) -> None:
    conv = client.conversations.create(items=[{"type": "message", "role": "user", "content": "Hello"},
                                              {"role": "assistant", "content": "Hi there"}],
                                       metadata={"topic": "greeting"})
    assert conv.id.startswith("conv_") and conv.object == "conversation"
    assert conv.metadata == {"topic": "greeting"}
    assert client.conversations.retrieve(conv.id).created_at == conv.created_at
    assert client.conversations.update(conv.id, metadata={"topic": "other"}).metadata == {"topic": "other"}

    added = client.conversations.items.create(conv.id, items=[{"role": "user", "content": "More"}])
    assert [item.type for item in added.data] == ["message"]

    newest_first = client.conversations.items.list(conv.id)
    texts = [item.content[0].text for item in newest_first.data]  # type: ignore[union-attr]
    assert texts == ["More", "Hi there", "Hello"]
    oldest = client.conversations.items.list(conv.id, order="asc", limit=1)
    assert oldest.has_more and oldest.data[0].content[0].text == "Hello"  # type: ignore[union-attr]
    walked = [item.id for item in client.conversations.items.list(conv.id, order="asc", limit=1)]
    assert walked == [item.id for item in reversed(newest_first.data)]  # auto-pagination with `after`

    first = newest_first.data[-1]
    assert client.conversations.items.retrieve(first.id, conversation_id=conv.id).id == first.id
    assert client.conversations.items.delete(first.id, conversation_id=conv.id).id == conv.id
    assert len(client.conversations.items.list(conv.id).data) == 2

    deleted = client.conversations.delete(conv.id)
    assert deleted.deleted and deleted.object == "conversation.deleted"
    with pytest.raises(openai.NotFoundError):
        client.conversations.retrieve(conv.id)


def test_function_call_items_round_trip(client: openai.OpenAI) -> None:
    conv = client.conversations.create(items=[
        {"type": "function_call", "call_id": "call_a", "name": "lookup", "arguments": '{"q": "x"}'},
        {"type": "function_call_output", "call_id": "call_a", "output": "found"}])
    items = client.conversations.items.list(conv.id, order="asc").data
    assert [(i.type, i.call_id) for i in items] == [("function_call", "call_a"),  # type: ignore[union-attr]
                                                   ("function_call_output", "call_a")]


def test_bad_items_write_nothing(client: openai.OpenAI, store_server: object) -> None:
    conv = client.conversations.create(items=[{"role": "user", "content": "one"}])
    for items, param in [
        ([{"role": "user", "content": "ok"}, {"type": "function_call_output", "call_id": "call_none",
                                              "output": "x"}], "items[1].call_id"),
        ([{"role": "wizard", "content": "x"}], "items[0].role"),
        ([{"role": "user", "content": [{"type": "input_image", "image_url": "http://x/y.png"}]}],
         "items[0].content[0].type"),
    ]:
        with pytest.raises(openai.BadRequestError) as caught:
            client.conversations.items.create(conv.id, items=items)  # type: ignore[arg-type]
        assert caught.value.body["param"] == param  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as missing:
        client.conversations.items.create(conv.id, items=[{"type": "item_reference", "id": "msg_nope"}])
    assert missing.value.body["param"] == "items[0].id"  # type: ignore[index]
    assert len(client.conversations.items.list(conv.id).data) == 1

    with pytest.raises(openai.BadRequestError) as too_many:
        client.conversations.create(items=[{"role": "user", "content": str(i)} for i in range(21)])
    assert too_many.value.body["param"] == "items"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError) as unknown:
        client.conversations.items.list("conv_unknown")
    assert unknown.value.body["message"] == "No conversation found with id 'conv_unknown'."  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        client.conversations.items.delete("msg_nope", conversation_id=conv.id)


def test_responses_need_the_model_and_say_so(client: openai.OpenAI, store_server: object) -> None:
    base = client.base_url
    answer = httpx.post(f"{base}responses", json={"input": "hi"}, headers={"Authorization": "Bearer test"})
    assert answer.status_code == 503 and answer.json()["error"]["type"] == "server_error"
    missing = httpx.get(f"{base}responses/resp_unknown")
    assert missing.status_code == 404 and missing.json()["error"]["message"] == \
        "No response found with id 'resp_unknown'."
