"""Every object validates against the SDK's own types in strict mode (missing or mistyped keys fail)."""

from __future__ import annotations

import openai
import pytest

from tests.serverproc import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_sdk_strict_validation_of_every_object(store_server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=store_server.base_url + "/v1", api_key="test", max_retries=0,
                           _strict_response_validation=True)
    assistant = client.beta.assistants.create(
        model="m", tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        response_format={"type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}}})
    client.beta.assistants.retrieve(assistant.id)
    client.beta.assistants.list(limit=2)
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    client.beta.threads.retrieve(thread.id)
    message = client.beta.threads.messages.create(thread.id, role="assistant", content=[
        {"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "https://x/y.png"}}])
    client.beta.threads.messages.retrieve(message.id, thread_id=thread.id)
    client.beta.threads.messages.list(thread.id)
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id,
                                          tool_choice={"type": "function", "function": {"name": "f"}})
    client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    client.beta.threads.runs.list(thread.id)
    client.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    client.beta.threads.create_and_run(assistant_id=assistant.id)
    client.beta.threads.messages.delete(message.id, thread_id=thread.id)
    client.beta.threads.delete(thread.id)
    client.beta.assistants.delete(assistant.id)
