"""Messages: create, list (incl. run_id filter), retrieve, modify, delete."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_message_lifecycle(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread.id, role="user", content="Hello", metadata={"k": "v"}
    )
    assert message.id.startswith("msg_") and message.object == "thread.message"
    assert (message.thread_id, message.role, message.status) == (thread.id, "user", "completed")
    assert message.content[0].type == "text" and message.content[0].text.value == "Hello"
    assert message.content[0].text.annotations == []
    assert (message.assistant_id, message.run_id, message.attachments) == (None, None, [])

    assert client.beta.threads.messages.retrieve(message.id, thread_id=thread.id) == message
    updated = client.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"k": "w"})
    assert updated.metadata == {"k": "w"} and updated.content == message.content

    deleted = client.beta.threads.messages.delete(message.id, thread_id=thread.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (message.id, "thread.message.deleted", True)
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)


def test_newest_first_within_one_second(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    ids = [client.beta.threads.messages.create(thread.id, role="user", content=f"m{i}").id for i in range(5)]
    assert client.beta.threads.messages.list(thread.id).data[0].id == ids[-1]
    assert [m.id for m in client.beta.threads.messages.list(thread.id, order="asc")] == ids


def test_message_of_another_thread_is_404(client: openai.OpenAI) -> None:
    one, two = client.beta.threads.create(), client.beta.threads.create()
    message = client.beta.threads.messages.create(one.id, role="user", content="x")
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(message.id, thread_id=two.id)


def test_list_by_run_id(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "before"}])
    run = client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, additional_messages=[{"role": "user", "content": "added"}]
    )
    # Without a worker nothing is produced by the run: the filter must not return the thread's messages.
    assert client.beta.threads.messages.list(thread.id, run_id=run.id).data == []
    assert len(client.beta.threads.messages.list(thread.id).data) == 2


def test_image_parts_are_stored(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(
        thread.id,
        role="user",
        content=[
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
        ],
    )
    assert [part.type for part in message.content] == ["text", "image_url"]
    assert message.content[1].image_url.url == "https://example.com/a.png"
