"""Threads stay warm, through the official SDK on `assistants serve` with default flags: a thread past
1,024 tokens is answered whole, a grown thread reuses its previous prompt, chat re-sends reuse theirs,
a kill -9 restart restores the thread's cache from disk, a corrupted file is ignored with a log line,
and deleting the thread deletes its file."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from assistants.inference.kvdisk import file_name
from tests.serverproc import ServerProcess

LONG = "lorem ipsum dolor sit amet " * 40  # ≈ 205 tokens with its turn markers


PROMPT_CHUNK = 128
"""The engine's prompt chunk: an in-memory prefix is reused to a multiple of it
(kvcache.PrefixCache.align)."""


def chunk_floor(tokens: int) -> int:
    return tokens - tokens % PROMPT_CHUNK


def cached(usage: object) -> int:
    return int(usage.model_dump()["prompt_tokens_details"]["cached_tokens"])  # type: ignore[attr-defined]


def metric(server: ServerProcess, outcome: str) -> float:
    text = httpx.get(server.base_url + "/metrics").text
    found = re.search(rf'^assistants_kv_cache_lookups_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    assert found, text[:2000]
    return float(found.group(1))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warm-data")


@pytest.fixture(scope="module")
def server(data_dir: Path, bundled_model: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(data_dir, "--model", str(bundled_model))  # no context flags: the defaults
    with proc.running(timeout=300):
        yield proc


def client_of(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0, timeout=600)


def run(client: openai.OpenAI, thread_id: str, assistant_id: str) -> openai.types.beta.threads.Run:
    done = client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id,
                                                    max_completion_tokens=3, temperature=0,
                                                    poll_interval_ms=100)
    assert done.status in ("completed", "incomplete"), done.last_error
    return done


def kv_file(data_dir: Path, thread_id: str) -> list[Path]:
    return list(data_dir.glob(f"kvcache/*/{file_name(thread_id)}"))


@pytest.fixture(scope="module")
def warm_thread(server: ServerProcess) -> dict[str, object]:
    client = client_of(server)
    assistant = client.beta.assistants.create(model="default", instructions="Answer briefly.")
    messages = [{"role": "user", "content": f"{n}: {LONG}"} for n in range(6)]
    thread = client.beta.threads.create(messages=messages)  # type: ignore[arg-type]
    first = run(client, thread.id, assistant.id)
    return {"assistant": assistant.id, "thread": thread.id, "first": first}


def test_a_thread_longer_than_1024_tokens_is_answered_whole_on_defaults(
    warm_thread: dict[str, object],
) -> None:
    first = warm_thread["first"]
    assert first.usage.prompt_tokens > 1200  # type: ignore[attr-defined]  # six messages of ≈ 205 tokens: none dropped
    assert cached(first.usage) == 0  # type: ignore[attr-defined]


def test_a_grown_thread_reuses_its_previous_prompt(server: ServerProcess, warm_thread: dict[str, object],
                                                   data_dir: Path) -> None:
    client = client_of(server)
    thread, assistant, first = warm_thread["thread"], warm_thread["assistant"], warm_thread["first"]
    hits = metric(server, "hit")
    client.beta.threads.messages.create(thread_id=thread, role="user", content="And then?")  # type: ignore[arg-type]
    second = run(client, thread, assistant)  # type: ignore[arg-type]
    previous = first.usage.prompt_tokens  # type: ignore[attr-defined]
    assert chunk_floor(previous) <= cached(second.usage) < second.usage.prompt_tokens  # type: ignore[union-attr]
    assert metric(server, "hit") == hits + 1
    steps = client.beta.threads.runs.steps.list(second.id, thread_id=thread).data  # type: ignore[arg-type]
    assert cached(steps[0].usage) == cached(second.usage)
    assert kv_file(data_dir, thread), "the thread's prefix is written through to disk"  # type: ignore[arg-type]


def test_chat_re_sends_reuse_the_conversation(server: ServerProcess) -> None:
    client = client_of(server)
    model = client.models.list().data[0].id
    messages = [{"role": "user", "content": "Tell me about the sea and the ships that sail on it."}]
    first = client.chat.completions.create(model=model, messages=messages, max_tokens=3, temperature=0)
    messages += [{"role": "assistant", "content": first.choices[0].message.content or "."},
                 {"role": "user", "content": "More."}]
    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=3, temperature=0,
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    usage = chunks[-1].usage
    assert usage is not None
    assert chunk_floor(first.usage.prompt_tokens) <= cached(usage) < usage.prompt_tokens  # type: ignore[union-attr]
    final = [c for c in chunks if (c.model_extra or {}).get("timings")]
    assert final and final[-1].model_extra["timings"]["cache_n"] == cached(usage)  # type: ignore[index]


def test_a_thread_cache_survives_kill_9_and_a_corrupt_file_is_ignored(
    server: ServerProcess, warm_thread: dict[str, object], data_dir: Path
) -> None:
    thread, assistant = str(warm_thread["thread"]), str(warm_thread["assistant"])
    server.kill()
    server.start(timeout=300)
    client = client_of(server)
    before = client.beta.threads.runs.list(thread_id=thread, limit=1).data[0]
    client.beta.threads.messages.create(thread_id=thread, role="user", content="Go on.")
    restored = run(client, thread, assistant)
    assert before.usage.prompt_tokens <= cached(restored.usage)  # type: ignore[union-attr]
    assert metric(server, "restored") == 1
    # A corrupted file: the run still completes, prefilled cold, and the log says why.
    server.kill()
    (path,) = kv_file(data_dir, thread)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    server.start(timeout=300)
    client = client_of(server)
    client.beta.threads.messages.create(thread_id=thread, role="user", content="Once more.")
    cold = run(client, thread, assistant)
    assert cached(cold.usage) == 0
    assert metric(server, "restore_failed") == 1
    assert "KV cache file of thread" in server.log_tail(200_000) and "unreadable" in server.log_tail(200_000)


def test_deleting_a_thread_deletes_its_cache_file(server: ServerProcess, data_dir: Path) -> None:
    client = client_of(server)
    assistant = client.beta.assistants.create(model="default")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "A short thread."}])
    run(client, thread.id, assistant.id)
    deadline = time.monotonic() + 60  # the write-through is on a writer thread
    while not kv_file(data_dir, thread.id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert kv_file(data_dir, thread.id)
    client.beta.threads.delete(thread.id)
    deadline = time.monotonic() + 60  # dropped on the engine thread, before its next step
    while kv_file(data_dir, thread.id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not kv_file(data_dir, thread.id)
