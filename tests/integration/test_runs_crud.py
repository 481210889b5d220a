"""Runs without a model: creation (effective values), create-and-run, list, modify, cancel, conflicts."""

from __future__ import annotations

import openai
import pytest
from openai.types.beta import Assistant

from tests.integration.rows import count_rows
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FUNCTION = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


@pytest.fixture()
def assistant(client: openai.OpenAI) -> Assistant:
    return client.beta.assistants.create(
        model="asst-model", instructions="Be brief.", tools=[FUNCTION], temperature=0.7
    )


def test_create_run_uses_effective_values(client: openai.OpenAI, assistant: Assistant) -> None:
    thread = client.beta.threads.create()
    raw = client.beta.threads.runs.with_raw_response.create(
        thread.id,
        assistant_id=assistant.id,
        additional_instructions="Answer in French.",
        top_p=0.5,
        metadata={"trace": "1"},
        max_completion_tokens=256,
        truncation_strategy={"type": "last_messages", "last_messages": 4},
    )
    assert raw.headers["openai-poll-after-ms"] == "100"
    run = raw.parse()
    assert run.id.startswith("run_") and run.object == "thread.run" and run.status == "queued"
    assert (run.thread_id, run.assistant_id, run.model) == (thread.id, assistant.id, "asst-model")
    assert run.instructions == "Be brief.\n\nAnswer in French."
    assert (run.temperature, run.top_p, run.max_completion_tokens, run.max_prompt_tokens) == (
        0.7,
        0.5,
        256,
        None,
    )
    assert [t.function.name for t in run.tools] == ["lookup"]
    assert (run.tool_choice, run.parallel_tool_calls, run.response_format) == ("auto", True, "auto")
    assert run.truncation_strategy.type == "last_messages" and run.truncation_strategy.last_messages == 4
    assert run.expires_at == run.created_at + 600 and run.started_at is None and run.usage is None
    assert run.metadata == {"trace": "1"}
    body = raw.http_response.json()
    assert {"required_action", "last_error", "incomplete_details", "usage", "cancelled_at"} <= set(body)

    fetched = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert fetched == run


def test_run_overrides(client: openai.OpenAI, assistant: Assistant) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(
        thread.id,
        assistant_id=assistant.id,
        model="other",
        instructions="Replace.",
        tools=[],
        tool_choice="none",
        parallel_tool_calls=False,
        response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}}},
    )
    assert (run.model, run.instructions, run.tools, run.tool_choice) == ("other", "Replace.", [], "none")
    assert run.parallel_tool_calls is False and run.response_format.type == "json_schema"


def test_additional_messages_join_the_thread(client: openai.OpenAI, assistant: Assistant) -> None:
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "one"}])
    client.beta.threads.runs.create(
        thread.id, assistant_id=assistant.id, additional_messages=[{"role": "user", "content": "two"}]
    )
    texts = [m.content[0].text.value for m in client.beta.threads.messages.list(thread.id, order="asc")]
    assert texts == ["one", "two"]


def test_create_and_run(client: openai.OpenAI, assistant: Assistant) -> None:
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "hi"}], "metadata": {"a": "b"}},
    )
    assert run.status == "queued" and run.thread_id.startswith("thread_")
    assert client.beta.threads.retrieve(run.thread_id).metadata == {"a": "b"}
    assert [m.content[0].text.value for m in client.beta.threads.messages.list(run.thread_id)] == ["hi"]
    assert client.beta.threads.runs.list(run.thread_id).data[0].id == run.id


def test_create_and_run_with_unknown_assistant_writes_nothing(
    client: openai.OpenAI, store_server: ServerProcess
) -> None:
    before = count_rows(store_server, "threads"), count_rows(store_server, "messages")
    with pytest.raises(openai.NotFoundError) as raised:
        client.beta.threads.create_and_run(
            assistant_id="asst_missing", thread={"messages": [{"role": "user", "content": "x"}]}
        )
    assert raised.value.param == "assistant_id"  # type: ignore[attr-defined]
    assert (count_rows(store_server, "threads"), count_rows(store_server, "messages")) == before


def test_active_run_blocks_runs_and_messages_until_cancelled(
    client: openai.OpenAI, assistant: Assistant
) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert raised.value.message.endswith(f"Thread {thread.id} already has an active run {run.id}.")
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.threads.messages.create(thread.id, role="user", content="x")
    assert f"Can't add messages to {thread.id} while a run {run.id} is active." in raised.value.message
    assert len(client.beta.threads.runs.list(thread.id).data) == 1
    assert client.beta.threads.messages.list(thread.id).data == []

    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled" and isinstance(cancelled.cancelled_at, int)
    with pytest.raises(openai.BadRequestError):  # terminal: cannot cancel again
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    client.beta.threads.messages.create(thread.id, role="user", content="now allowed")
    second = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    assert [r.id for r in client.beta.threads.runs.list(thread.id)] == [second.id, run.id]


def test_modify_run_metadata(client: openai.OpenAI, assistant: Assistant) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread.id, assistant_id=assistant.id)
    updated = client.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"x": "y"})
    assert updated.metadata == {"x": "y"} and updated.status == "queued"


def test_run_of_another_thread_is_404(client: openai.OpenAI, assistant: Assistant) -> None:
    one, two = client.beta.threads.create(), client.beta.threads.create()
    run = client.beta.threads.runs.create(one.id, assistant_id=assistant.id)
    for call in (
        lambda: client.beta.threads.runs.retrieve(run.id, thread_id=two.id),
        lambda: client.beta.threads.runs.cancel(run.id, thread_id=two.id),
        lambda: client.beta.threads.runs.update(run.id, thread_id=two.id, metadata={}),
        lambda: client.beta.threads.runs.steps.list(run.id, thread_id=two.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()


def test_unknown_assistant_is_404_and_writes_nothing(client: openai.OpenAI) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.create(
            thread.id, assistant_id="asst_missing", additional_messages=[{"role": "user", "content": "x"}]
        )
    assert client.beta.threads.runs.list(thread.id).data == []
    assert client.beta.threads.messages.list(thread.id).data == []


def test_a_bad_stream_request_is_a_json_error_before_anything_is_written(client: openai.OpenAI) -> None:
    # stream=true is served by the run events SSE (tests/integration/test_runs_events_store.py); a
    # request that fails validation still gets a plain JSON 4xx and writes no run.
    thread = client.beta.threads.create()
    with pytest.raises(openai.NotFoundError) as raised:
        client.beta.threads.runs.create(thread.id, assistant_id="asst_missing", stream=True)
    assert raised.value.param == "assistant_id"  # type: ignore[attr-defined]
    assert client.beta.threads.runs.list(thread.id).data == []
