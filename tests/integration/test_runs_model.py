"""Runs end to end with the real bundled model, driven by the official SDK.

The bundled model is a base model: it rarely ends a turn on its own, so these runs are bounded by a
small `max_completion_tokens` and end `incomplete` (the `completed` path is the same code minus the
limit, covered with a scripted engine in tests/unit/test_worker.py).

Every test runs once per engine (`engine_server` in conftest.py): runs must behave the same over gguf
and mlx, down to the event sequence, usage counts, batching and cancellation. Those marked
`ON_POSTGRES` also run on a gguf server whose store is PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import openai
import pytest
from openai import AssistantEventHandler
from openai.types.beta.threads import Message, Text, TextDelta

from tests.integration.conftest import ON_POSTGRES
from tests.integration.sse import Frame, frames, read_until_done
from tests.serverproc import EngineServer

TERMINAL = {"completed", "incomplete", "failed", "cancelled", "expired"}


@pytest.fixture()
def http(engine_server: EngineServer) -> httpx.Client:
    return httpx.Client(base_url=engine_server.server.base_url, timeout=300)


@pytest.fixture()
def assistant_id(engine_client: openai.OpenAI) -> str:
    # Greedy: these tests count on runs decoding on (to their token limit, past a cancel, beside each
    # other), and at temperature 1 the model now and then ends its turn early.
    return engine_client.beta.assistants.create(model="default", instructions="Answer briefly.",
                                                temperature=0).id


def lifecycle(tokens: int, final: str = "incomplete") -> list[str]:
    message_end = "thread.message.completed" if final == "completed" else "thread.message.incomplete"
    return [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        *["thread.message.delta"] * tokens,
        message_end,
        "thread.run.step.completed",
        f"thread.run.{final}",
    ]


def wait_terminal(client: openai.OpenAI, thread_id: str, run_id: str, limit: float = 300) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        if run.status in TERMINAL:
            return run
        time.sleep(0.1)
    raise TimeoutError(run_id)


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []
        self.text = ""

    def on_event(self, event: Any) -> None:
        self.names.append(event.event)

    def on_text_delta(self, delta: TextDelta, snapshot: Text) -> None:
        self.text += delta.value or ""


def assistant_text(message: Message) -> str:
    return "".join(part.text.value for part in message.content if part.type == "text")


@ON_POSTGRES
def test_stream_helper_sees_every_event_in_order_and_the_text_persists(
    engine_client: openai.OpenAI, assistant_id: str
) -> None:
    thread = engine_client.beta.threads.create(messages=[{"role": "user", "content": "Count: 1, 2, 3,"}])
    recorder = Recorder()
    with engine_client.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=assistant_id,
        max_completion_tokens=6,
        temperature=0,
        event_handler=recorder,
    ) as stream:
        stream.until_done()
        run = stream.get_final_run()
        (streamed,) = stream.get_final_messages()
    deltas = recorder.names.count("thread.message.delta")
    assert recorder.names == lifecycle(deltas)
    assert 1 <= deltas <= 6
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens == 6
    assert run.usage.total_tokens == run.usage.prompt_tokens + 6
    stored = engine_client.beta.threads.messages.retrieve(streamed.id, thread_id=thread.id)
    assert assistant_text(stored) == recorder.text == assistant_text(streamed) != ""
    assert stored.status == "incomplete" and stored.incomplete_details.reason == "max_tokens"
    assert (stored.run_id, stored.assistant_id, stored.role) == (run.id, assistant_id, "assistant")
    (step,) = engine_client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert step.status == "completed" and step.step_details.message_creation.message_id == stored.id
    assert step.usage.completion_tokens == 6


@ON_POSTGRES
def test_create_and_poll(engine_client: openai.OpenAI, assistant_id: str) -> None:
    thread = engine_client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    run = engine_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, max_completion_tokens=3, poll_interval_ms=100
    )
    assert run.status == "incomplete" and run.usage.completion_tokens == 3
    assert run.started_at is not None and run.expires_at is None
    messages = engine_client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"] and messages[1].run_id == run.id


def test_create_and_run_poll_and_stream(engine_client: openai.OpenAI, assistant_id: str) -> None:
    run = engine_client.beta.threads.create_and_run_poll(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": "Hi"}]},
        max_completion_tokens=2,
        poll_interval_ms=100,
    )
    assert run.status == "incomplete"
    assert len(engine_client.beta.threads.messages.list(thread_id=run.thread_id).data) == 2
    recorder = Recorder()
    with engine_client.beta.threads.create_and_run_stream(
        assistant_id=assistant_id,
        thread={"messages": [{"role": "user", "content": "Hi"}]},
        max_completion_tokens=2,
        event_handler=recorder,
    ) as stream:
        stream.until_done()
        final = stream.get_final_run()
    assert recorder.names[0] == "thread.created"
    assert recorder.names[1:] == lifecycle(recorder.names.count("thread.message.delta"))
    (message,) = [
        m
        for m in engine_client.beta.threads.messages.list(thread_id=final.thread_id).data
        if m.role == "assistant"
    ]
    assert assistant_text(message) == recorder.text


def test_eight_runs_decode_together(
    engine_client: openai.OpenAI, assistant_id: str, http: httpx.Client
) -> None:
    """Eight runs in flight at once share the batch: once each has streamed a token, the engine's
    step records show a step decoding all eight, and in the global event order every run's first delta
    comes before any run's end (orders of events, not wall-clock thresholds)."""
    runs = []
    for n in range(8):
        thread = engine_client.beta.threads.create(messages=[{"role": "user", "content": f"Item {n}:"}])
        runs.append(
            engine_client.beta.threads.runs.create(
                thread_id=thread.id, assistant_id=assistant_id, max_completion_tokens=400
            )
        )
    ours = {run.id for run in runs}
    messages: set[str] = set()
    started: set[str] = set()
    with http.stream("GET", "/v1/events", params={"include_deltas": "true"}) as response:
        for frame in frames(response):  # replays the session's history first, then follows live
            if frame.event == "thread.message.created" and frame.json()["run_id"] in ours:
                messages.add(frame.json()["id"])
            elif frame.event == "thread.message.delta" and frame.json()["id"] in messages:
                started.add(frame.json()["id"])
            if len(started) == 8:
                break
    # The 8th run's first token came from an ingestion step; the steps after it decode all eight.
    widest = 0
    deadline = time.monotonic() + 120
    while widest < 8 and time.monotonic() < deadline:
        steps = http.get("/debug/inference").json()["steps"]
        widest = max(len(step["decoded"]) for step in steps)
        time.sleep(0.05)
    assert widest == 8
    for run in runs:
        engine_client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
    finished = [wait_terminal(engine_client, r.thread_id, r.id) for r in runs]
    assert {r.status for r in finished} == {"cancelled"}
    spans = []
    for run in runs:
        replay = read_until_done(http, f"/v1/threads/{run.thread_id}/runs/{run.id}/events")
        first_delta = next(f.id for f in replay if f.event == "thread.message.delta")
        ended = next(f.id for f in replay if f.event == "thread.run.cancelled")
        spans.append((first_delta, ended))
    # Every run had streamed text before any run ended. (Not "before any run's LAST delta": the base
    # model sometimes goes on with control tokens that print nothing, so a live run can fall silent.)
    assert max(first for first, _ in spans) < min(end for _, end in spans)


@ON_POSTGRES
def test_cancel_mid_decode(engine_client: openai.OpenAI, assistant_id: str) -> None:
    thread = engine_client.beta.threads.create(messages=[{"role": "user", "content": "Tell a long story."}])
    names: list[str] = []
    text = ""
    cancelled: Any = None
    run_id = ""
    with engine_client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant_id, stream=True, max_completion_tokens=500
    ) as stream:
        for event in stream:
            names.append(event.event)
            if event.event == "thread.message.delta":
                text += event.data.delta.content[0].text.value
                if names.count("thread.message.delta") == 3:
                    cancelled = engine_client.beta.threads.runs.cancel(run_id, thread_id=thread.id)
            elif event.event == "thread.run.created":
                run_id = event.data.id
    assert cancelled is not None and cancelled.status == "cancelling"
    assert names[-3:] == ["thread.message.incomplete", "thread.run.step.cancelled", "thread.run.cancelled"]
    run = engine_client.beta.threads.runs.retrieve(run_id, thread_id=thread.id)
    assert run.status == "cancelled" and run.cancelled_at is not None
    assert run.usage.completion_tokens < 500
    (message,) = [
        m for m in engine_client.beta.threads.messages.list(thread_id=thread.id).data if m.role == "assistant"
    ]
    assert message.status == "incomplete" and message.incomplete_details.reason == "run_cancelled"
    assert assistant_text(message) == text  # every streamed delta, nothing after the stop
    (step,) = engine_client.beta.threads.runs.steps.list(run_id, thread_id=thread.id).data
    assert step.status == "cancelled"
    # The thread is free again.
    engine_client.beta.threads.messages.create(thread_id=thread.id, role="user", content="ok")


def test_truncation(engine_client: openai.OpenAI, assistant_id: str) -> None:
    long = "lorem ipsum dolor sit amet " * 40  # ≈ 240 tokens each; 8 of them overflow 1024
    thread = engine_client.beta.threads.create(
        messages=[{"role": "user", "content": f"{n}: {long}"} for n in range(8)]
    )
    auto = engine_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, max_completion_tokens=2, poll_interval_ms=100
    )
    assert auto.status == "incomplete" and auto.incomplete_details.reason == "max_completion_tokens"
    assert 500 < auto.usage.prompt_tokens <= 1024 - 2
    last = engine_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant_id,
        max_completion_tokens=2,
        poll_interval_ms=100,
        truncation_strategy={"type": "last_messages", "last_messages": 1},
    )
    assert last.usage.prompt_tokens < 400
    # The newest message alone is over max_prompt_tokens: auto truncation cannot help.
    alone = engine_client.beta.threads.create(messages=[{"role": "user", "content": long + long}])
    limited = engine_client.beta.threads.runs.create_and_poll(
        thread_id=alone.id,
        assistant_id=assistant_id,
        max_completion_tokens=2,
        poll_interval_ms=100,
        max_prompt_tokens=256,
    )
    assert limited.status == "incomplete" and limited.incomplete_details.reason == "max_prompt_tokens"
    assert [m.role for m in engine_client.beta.threads.messages.list(thread_id=alone.id).data] == ["user"]


@ON_POSTGRES
def test_reattach_mid_run_with_last_event_id_replays_exactly(
    engine_client: openai.OpenAI, assistant_id: str, http: httpx.Client
) -> None:
    thread = engine_client.beta.threads.create(messages=[{"role": "user", "content": "Once upon a time"}])
    run = engine_client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant_id, max_completion_tokens=12
    )
    url = f"/v1/threads/{thread.id}/runs/{run.id}/events"
    first_part: list[Frame] = []
    with http.stream("GET", url) as response:  # disconnect after a few deltas
        for frame in frames(response):
            first_part.append(frame)
            if [f.event for f in first_part].count("thread.message.delta") == 2:
                break
    rest = read_until_done(http, url, headers={"Last-Event-ID": str(first_part[-1].id)})
    full = read_until_done(http, url)
    assert [(f.event, f.id, f.data) for f in first_part + rest] == [(f.event, f.id, f.data) for f in full]
    assert [f.event for f in full[:-1]] == lifecycle(sum(f.event == "thread.message.delta" for f in full))
    # Resumed at the run's last event: `done` at once. A read timeout under the 15 s keepalive makes
    # a stream that waits for events a finished run will never have fail here instead of hanging.
    with httpx.Client(base_url=http.base_url, timeout=10) as quick:
        assert [f.event for f in read_until_done(quick, url, headers={"Last-Event-ID": str(full[-2].id)})] \
            == ["done"]


def test_events_feed_filters_lifecycle_and_deltas(
    engine_client: openai.OpenAI, assistant_id: str, http: httpx.Client
) -> None:
    thread = engine_client.beta.threads.create(messages=[{"role": "user", "content": "Hey"}])
    other = engine_client.beta.threads.create(messages=[{"role": "user", "content": "Ho"}])
    collected: dict[str, list[Frame]] = {"lifecycle": [], "deltas": []}

    def follow(key: str, include: bool) -> None:
        params = {"thread_id": thread.id, "include_deltas": str(include).lower()}
        with http.stream("GET", "/v1/events", params=params) as response:
            for frame in frames(response):
                collected[key].append(frame)
                if frame.event == "thread.run.incomplete":
                    return

    followers = [
        threading.Thread(target=follow, args=("lifecycle", False)),
        threading.Thread(target=follow, args=("deltas", True)),
    ]
    for follower in followers:
        follower.start()
    time.sleep(0.3)
    runs = [
        engine_client.beta.threads.runs.create_and_poll(
            thread_id=t.id, assistant_id=assistant_id, max_completion_tokens=3, poll_interval_ms=100
        )
        for t in (other, thread)
    ]
    for follower in followers:
        follower.join(60)
    lifecycle_names = [f.event for f in collected["lifecycle"]]
    assert lifecycle_names == [n for n in lifecycle(3) if n != "thread.message.delta"]
    (message,) = [
        m for m in engine_client.beta.threads.messages.list(thread_id=thread.id).data if m.role == "assistant"
    ]
    deltas = [f.json() for f in collected["deltas"] if f.event == "thread.message.delta"]
    assert deltas and {d["id"] for d in deltas} == {message.id}
    assert "".join(d["delta"]["content"][0]["text"]["value"] for d in deltas) == assistant_text(message)
    assert [f.event for f in collected["deltas"] if f.event != "thread.message.delta"] == lifecycle_names
    assert all(f.json()["id"] != runs[0].id for f in collected["lifecycle"])
