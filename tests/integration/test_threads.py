"""Threads: create (with initial messages and metadata), retrieve, modify, delete (cascading)."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_thread_lifecycle(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create(
        messages=[
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": [{"type": "text", "text": "second"}]},
        ],
        metadata={"user": "42"},
    )
    assert thread.id.startswith("thread_") and thread.object == "thread"
    assert thread.metadata == {"user": "42"}

    messages = client.beta.threads.messages.list(thread.id, order="asc").data
    assert [(m.role, m.content[0].text.value) for m in messages] == [
        ("user", "first"),
        ("assistant", "second"),
    ]

    assert client.beta.threads.retrieve(thread.id) == thread
    updated = client.beta.threads.update(thread.id, metadata={"user": "43"})
    assert updated.metadata == {"user": "43"} and updated.created_at == thread.created_at

    deleted = client.beta.threads.delete(thread.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (thread.id, "thread.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve(thread.id)
    with pytest.raises(openai.NotFoundError):  # its messages went with it
        client.beta.threads.messages.retrieve(messages[0].id, thread_id=thread.id)


def test_empty_thread(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    assert thread.metadata == {}
    page = client.beta.threads.messages.list(thread.id)
    assert (page.data, page.first_id, page.last_id, page.has_more) == ([], None, None, False)


def test_unknown_thread_is_404_everywhere(client: openai.OpenAI) -> None:
    for call in (
        lambda: client.beta.threads.retrieve("thread_nope"),
        lambda: client.beta.threads.update("thread_nope", metadata={}),
        lambda: client.beta.threads.delete("thread_nope"),
        lambda: client.beta.threads.messages.list("thread_nope"),
        lambda: client.beta.threads.messages.create("thread_nope", role="user", content="x"),
        lambda: client.beta.threads.runs.list("thread_nope"),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
