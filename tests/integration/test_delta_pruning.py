"""`--delta-retention`: the real server's pruner deletes a finished run's and background response's
deltas from the log; a late re-attach then replays their lifecycle, whole messages and final output.
The server is the session's `limits_server` (conftest.py: a retention of about a second)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import openai

from tests.integration.sse import Frame, read_until_done
from tests.serverproc import ServerProcess

T = TypeVar("T")


def eventually(read: Callable[[], T], done: Callable[[T], bool]) -> T:
    """`read()` until `done` holds of it (the pruner passes about twice a second), 30 s at most."""
    deadline = time.monotonic() + 30
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def test_a_late_reattach_replays_the_run_without_its_deltas(limits_client: openai.OpenAI,
                                                            limits_server: ServerProcess) -> None:
    assistant = limits_client.beta.assistants.create(model="default")
    run = limits_client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, max_completion_tokens=6, temperature=0,
        thread={"messages": [{"role": "user", "content": "Count: one, two,"}]})
    assert run.status == "incomplete"
    (message,) = limits_client.beta.threads.messages.list(thread_id=run.thread_id, run_id=run.id).data
    url = f"{limits_server.base_url}/v1/threads/{run.thread_id}/runs/{run.id}/events"

    with httpx.Client(timeout=10) as http:
        replay: list[Frame] = eventually(lambda: read_until_done(http, url), lambda frames: not any(
            (f.event or "").endswith(".delta") for f in frames))
    assert [f.event for f in replay] == [
        "thread.created", "thread.run.created", "thread.run.queued", "thread.run.in_progress",
        "thread.run.step.created", "thread.run.step.in_progress", "thread.message.created",
        "thread.message.in_progress", "thread.message.incomplete", "thread.run.step.completed",
        "thread.run.incomplete", "done"]
    ended = replay[8].json()
    assert ended["content"][0]["text"]["value"] == message.content[0].text.value != ""  # type: ignore[union-attr]
    assert limits_client.beta.threads.messages.retrieve(message.id, thread_id=run.thread_id) == message


def test_a_late_resume_replays_the_background_response_without_its_deltas(
        limits_client: openai.OpenAI) -> None:
    response = limits_client.responses.create(model="default", input="Count: one, two,", background=True,
                                              max_output_tokens=6, temperature=0)
    finished = eventually(lambda: limits_client.responses.retrieve(response.id),
                          lambda r: r.status not in ("queued", "in_progress"))
    assert finished.status == "incomplete" and finished.output_text

    events = eventually(lambda: list(limits_client.responses.retrieve(response.id, stream=True)),
                        lambda events: all(not e.type.endswith(".delta") for e in events))
    types = [e.type for e in events]
    assert "response.output_text.delta" not in types
    assert types[0] == "response.created" and types[-1] == "response.incomplete"
    assert events[-1].response.output_text == finished.output_text  # type: ignore[union-attr]
