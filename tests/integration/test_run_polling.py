"""Polling runs the way SDK users write it, against the real server and model: the retrieve carries
`openai-poll-after-ms`, the poll helpers finish with and without an interval of their own, and
every answer equals the store's (the live-run view serves prebuilt bytes; tests/unit/test_live_runs.py
covers its freshness rules)."""

from __future__ import annotations

import openai
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}


@pytest.fixture()
def assistant_id(model_client: openai.OpenAI) -> str:
    return model_client.beta.assistants.create(model="default", instructions="Answer briefly.").id


def test_retrieve_sends_the_poll_interval_header(model_client: openai.OpenAI, assistant_id: str) -> None:
    thread = model_client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    run = model_client.beta.threads.runs.create(thread.id, assistant_id=assistant_id, max_completion_tokens=4)
    raw = model_client.beta.threads.runs.with_raw_response.retrieve(run.id, thread_id=thread.id)
    assert int(raw.headers["openai-poll-after-ms"]) > 0
    assert raw.headers["content-type"].startswith("application/json")
    assert raw.parse().id == run.id
    model_client.beta.threads.runs.poll(run.id, thread_id=thread.id)


def test_create_and_poll_without_an_interval_completes(model_client: openai.OpenAI,
                                                       assistant_id: str) -> None:
    # The helper takes its interval from the header, and its retrieves are held server-side.
    thread = model_client.beta.threads.create(messages=[{"role": "user", "content": "Say hi"}])
    run = model_client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id,
                                                         max_completion_tokens=6)
    assert run.status in TERMINAL - {"failed", "expired"}
    assert run.usage is not None and run.usage.completion_tokens > 0
    again = model_client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert again == run  # the terminal object, as the final poll answered it
    messages = model_client.beta.threads.messages.list(thread.id, run_id=run.id)
    assert messages.data and messages.data[0].content

