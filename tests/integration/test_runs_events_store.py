"""Run events over SSE on a server without a model: runs stay queued until cancelled, which is enough
to check framing, stream=true, re-attach by Last-Event-ID, /v1/events and their 4xx answers."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from tests.integration.sse import Frame, frames, read_until_done
from tests.serverproc import ServerProcess


@pytest.fixture()
def http(store_server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=store_server.base_url, timeout=10)


def test_stream_true_then_cancel_ends_the_stream(client: openai.OpenAI, http: httpx.Client) -> None:
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    seen: list[str] = []
    with client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, stream=True
    ) as stream:
        for event in stream:
            seen.append(event.event)
            if event.event == "thread.run.queued":
                client.beta.threads.runs.cancel(run_id=event.data.id, thread_id=thread.id)
            if event.event == "thread.run.cancelled":
                run_id = event.data.id
                assert event.data.status == "cancelled" and event.data.cancelled_at
    assert seen == ["thread.run.created", "thread.run.queued", "thread.run.cancelled"]
    # Full replay through the re-attach route: same events, `id:` on each, compact JSON, then done.
    replay = read_until_done(http, f"/v1/threads/{thread.id}/runs/{run_id}/events")
    assert [f.event for f in replay] == [*seen, "done"]
    assert replay[-1].data == "[DONE]"
    ids = [f.id for f in replay[:-1]]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids) and len(set(ids)) == len(ids)
    assert ", " not in replay[0].data and ": " not in replay[0].data  # compact JSON
    # Resume after the first event: exactly the rest, by header and by query.
    rest = read_until_done(
        http, f"/v1/threads/{thread.id}/runs/{run_id}/events", headers={"Last-Event-ID": str(ids[0])}
    )
    assert [(f.id, f.data) for f in rest] == [(f.id, f.data) for f in replay[1:]]
    rest = read_until_done(http, f"/v1/threads/{thread.id}/runs/{run_id}/events", params={"after": ids[1]})
    assert [(f.id, f.data) for f in rest] == [(f.id, f.data) for f in replay[2:]]


def test_create_and_run_stream_starts_with_thread_created(client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="m")
    names: list[str] = []
    with client.beta.threads.create_and_run(
        assistant_id=assistant.id, stream=True, thread={"messages": [{"role": "user", "content": "x"}]}
    ) as stream:
        for event in stream:
            names.append(event.event)
            if event.event == "thread.run.queued":
                client.beta.threads.runs.cancel(run_id=event.data.id, thread_id=event.data.thread_id)
    assert names == ["thread.created", "thread.run.created", "thread.run.queued", "thread.run.cancelled"]


def test_reattach_follows_live_until_the_run_ends(client: openai.OpenAI, http: httpx.Client) -> None:
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    got: list[Frame] = []

    def follow() -> None:
        got.extend(read_until_done(http, f"/v1/threads/{thread.id}/runs/{run.id}/events"))

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.5)  # attached and waiting on a live run
    assert follower.is_alive()
    client.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id)
    follower.join(10)
    assert [f.event for f in got] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.cancelled",
        "done",
    ]


def test_all_events_feed_filters_and_resumes(
    client: openai.OpenAI, http: httpx.Client, store_server: ServerProcess
) -> None:
    assistant = client.beta.assistants.create(model="m")
    other = client.beta.assistants.create(model="m")
    threads = [client.beta.threads.create() for _ in range(2)]
    runs = [
        client.beta.threads.runs.create(thread_id=t.id, assistant_id=a.id)
        for t, a in zip(threads, (assistant, other), strict=True)
    ]
    by_assistant = read_until_done(http, "/v1/events", params={"assistant_id": assistant.id}, limit=2)
    assert {f.json()["id"] for f in by_assistant} == {runs[0].id}
    by_thread = read_until_done(http, "/v1/events", params={"thread_id": threads[1].id}, limit=2)
    assert [f.event for f in by_thread] == ["thread.run.created", "thread.run.queued"]
    assert {f.json()["assistant_id"] for f in by_thread} == {other.id}
    # Live: attach after the last known id, then cancel; the feed shows just that.
    live: list[Frame] = []

    def follow() -> None:
        with http.stream(
            "GET",
            "/v1/events",
            params={"thread_id": threads[1].id},
            headers={"Last-Event-ID": str(by_thread[-1].id)},
        ) as response:
            for frame in frames(response):
                live.append(frame)
                break

    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.3)
    client.beta.threads.runs.cancel(run_id=runs[1].id, thread_id=threads[1].id)
    client.beta.threads.runs.cancel(run_id=runs[0].id, thread_id=threads[0].id)
    follower.join(10)
    assert [(f.event, f.json()["id"]) for f in live] == [("thread.run.cancelled", runs[1].id)]


def test_bad_resume_points_are_400_and_unknown_runs_404(client: openai.OpenAI, http: httpx.Client) -> None:
    thread = client.beta.threads.create()
    response = http.get(f"/v1/threads/{thread.id}/runs/run_nope/events")
    assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"
    assistant = client.beta.assistants.create(model="m")
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    client.beta.threads.runs.cancel(run_id=run.id, thread_id=thread.id)
    response = http.get(f"/v1/threads/{thread.id}/runs/{run.id}/events", headers={"Last-Event-ID": "abc"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "Last-Event-ID"
    assert http.get("/v1/events", params={"after": "-3"}).status_code == 400
    assert http.get("/v1/events", params={"after": "x"}).status_code == 400
