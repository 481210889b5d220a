"""Several remote engines: two real `assistants serve` processes (the bundled SmolLM2, the default of
`serve`) behind one `--engine openai --engine-url A --engine-url B` front. Which engine decoded what is
read from each engine's own `/metrics` (its `/v1/completions` requests, its sequences decoding now),
not from the front. One trio of servers for the module; the last test kills an engine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from types import SimpleNamespace

import httpx
import openai
import pytest

from assistants.inference.remote import EngineRouter, RemoteEngine
from tests.integration.sse import read_until_done
from tests.integration.test_metrics import scrape, value
from tests.integration.test_multiprocess import client_for, rows, wait_terminal
from tests.serverproc import ServerProcess

ENGINE_ARGS = ("--parallel", "2", "--ctx-size", "2048", "--no-worker")


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[ServerProcess], ServerProcess]]:
    engines = [ServerProcess(tmp_path_factory.mktemp(f"engine-{n}"), *ENGINE_ARGS) for n in range(2)]
    urls = [arg for engine in engines for arg in ("--engine-url", engine.base_url + "/v1")]
    front = ServerProcess(tmp_path_factory.mktemp("front"), "--engine", "openai", *urls,
                          "--engine-concurrency", "2", "--heartbeat-timeout", "3")
    try:
        for engine in engines:
            engine.start(timeout=300)
        front.start(timeout=120)
        yield engines, front
    finally:
        front.stop()
        for engine in engines:
            engine.stop()


def completions_served(engine: ServerProcess) -> float:
    """Streamed `/v1/completions` the engine has answered (what the front sends it per generation)."""
    return value(scrape(engine.base_url), "assistants_http_requests_total", method="POST",
                 route="/v1/completions", status="200")


def kv_reused(engine: ServerProcess) -> float:
    """Prompt tokens the engine took from its prefix KV cache (in memory or restored from disk)."""
    return value(scrape(engine.base_url), "assistants_kv_cache_reused_tokens_total")


def decoding(engine: ServerProcess) -> float:
    return value(scrape(engine.base_url), "assistants_engine_active_sequences")


def preferred_engine(thread_id: str, engines: list[ServerProcess]) -> int:
    """The index of the engine the front's router ranks first for this thread."""
    stand_ins = [RemoteEngine(SimpleNamespace(url=e.base_url), 1) for e in engines]  # type: ignore[arg-type]
    first = EngineRouter(stand_ins).order(thread_id)[0]
    return stand_ins.index(first)


def thread_preferring(client: openai.OpenAI, engines: list[ServerProcess], index: int) -> str:
    """A new thread whose runs the router sends to `engines[index]` (a thread costs no decoding)."""
    for _ in range(64):  # each new thread id prefers either engine with probability 1/2
        thread = client.beta.threads.create()
        if preferred_engine(thread.id, engines) == index:
            return thread.id
    raise AssertionError("64 threads in a row preferred the same engine: the rendezvous hash is broken")


def test_a_threads_runs_stay_on_one_engine_and_threads_spread_over_both(
        trio: tuple[list[ServerProcess], ServerProcess]) -> None:
    engines, front = trio
    client = client_for(front)
    assistant = client.beta.assistants.create(model="default", instructions="Answer in one word.")
    for index in (0, 1):
        thread_id = thread_preferring(client, engines, index)
        for turn, question in enumerate(("Name a colour.", "Name a fruit.")):
            before = [completions_served(e) for e in engines]
            reused_before = kv_reused(engines[index])
            client.beta.threads.messages.create(thread_id, role="user", content=question)
            run = client.beta.threads.runs.create_and_poll(
                thread_id=thread_id, assistant_id=assistant.id, max_completion_tokens=4, temperature=0)
            assert run.status in {"completed", "incomplete"}, run.last_error
            after = [completions_served(e) for e in engines]
            assert [a - b for a, b in zip(after, before, strict=True)] == [
                1.0 if n == index else 0.0 for n in range(len(engines))], (index, question)
            if turn:  # why affinity: the engine still holds the thread's first turn, and reuses it
                assert kv_reused(engines[index]) > reused_before


def test_killing_the_engine_a_run_decodes_on_requeues_it_onto_the_other(
        trio: tuple[list[ServerProcess], ServerProcess]) -> None:
    engines, front = trio
    client = client_for(front)
    assistant = client.beta.assistants.create(model="default")
    run = client.beta.threads.create_and_run(
        assistant_id=assistant.id, max_completion_tokens=256, temperature=0,
        thread={"messages": [{"role": "user", "content": "Count from 1 to 500, separated by commas."}]})
    served_before = [completions_served(e) for e in engines]
    deadline = time.monotonic() + 120
    # Text has reached the thread: a failure now cannot move to another engine mid-answer, so the
    # run must go back to the queue (a request that had said nothing yet would just be retried).
    while not any(m.role == "assistant" and m.content and m.content[0].text.value  # type: ignore[union-attr]
                  for m in client.beta.threads.messages.list(thread_id=run.thread_id).data):
        assert time.monotonic() < deadline, "the run never started answering"
        time.sleep(0.05)
    busy = [n for n, engine in enumerate(engines) if decoding(engine) > 0]
    assert len(busy) == 1, f"the run should decode on exactly one engine, not {busy}"
    (victim,) = busy
    (survivor,) = [n for n in range(len(engines)) if n != victim]
    engines[victim].kill()

    (done,) = wait_terminal(client, [run])
    assert done.status in {"completed", "incomplete"}, done.last_error
    assert rows(front.data_dir, "SELECT attempts FROM runs WHERE id = ?", run.id)[0][0] >= 2  # re-queued
    assert completions_served(engines[survivor]) > served_before[survivor]  # and decoded there
    answers = [m for m in client.beta.threads.messages.list(thread_id=run.thread_id).data
               if m.role == "assistant"]
    assert len(answers) == 1 and answers[0].status in {"completed", "incomplete"}
    text = answers[0].content[0].text.value  # type: ignore[union-attr]
    # The replayed event log holds the second attempt only: one message, its deltas spell its text.
    frames = read_until_done(httpx.Client(base_url=front.base_url, timeout=120),
                             f"/v1/threads/{run.thread_id}/runs/{run.id}/events")
    assert [f.event for f in frames].count("thread.message.created") == 1
    deltas = [json.loads(f.data)["delta"]["content"][0]["text"]["value"] for f in frames
              if f.event == "thread.message.delta"]
    assert text and "".join(deltas) == text
    steps = client.beta.threads.runs.steps.list(run_id=run.id, thread_id=run.thread_id).data
    assert [s.type for s in steps] == ["message_creation"]
