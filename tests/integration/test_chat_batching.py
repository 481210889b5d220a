"""Continuous batching through the real server, asserted on the engine's own step records.

Every test runs once per engine (`engine_server` in conftest.py): both step a batch the same way, one
token per decoding sequence plus at most 128 tokens of prompt work beside them, from several pending
prompts oldest first (the GGUF engine takes up to 512 when nothing decodes: tests/integration/
test_gguf_prefill.py).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai

from tests.integration.inference_helpers import debug_state, last_step, steps_after, wait_until_idle
from tests.serverproc import EngineServer

# Prompts whose greedy continuations are confident. The engine avoids the llama.cpp paths that made
# logits depend on batch neighbours (see inference/gguf.py), but at 8 sequences rare near-tie flips
# remain in low-confidence continuations, so these prompts have none.
PROMPTS = [
    "1, 2, 3, 4, 5, 6, 7,",
    "A, B, C, D, E, F,",
    "Monday, Tuesday, Wednesday,",
    "January, February, March,",
    "10, 20, 30, 40,",
    "1 1 1 1 1 1 1 1 1 1 1 1",
    "2, 4, 6, 8, 10,",
    "ab ab ab ab ab ab ab ab ab ab",
]
TOKENS = 10


async def complete(client: openai.AsyncOpenAI, prompt: str) -> str:
    response = await client.completions.create(
        model="default", prompt=prompt, temperature=0, max_tokens=TOKENS
    )
    return response.choices[0].text


async def test_eight_concurrent_requests_are_correct_and_interleaved(engine_server: EngineServer) -> None:
    server = engine_server.server
    client = openai.AsyncOpenAI(
        base_url=server.base_url + "/v1", api_key="t", max_retries=0, timeout=900
    )
    solo = [await complete(client, prompt) for prompt in PROMPTS]
    before = last_step(server)
    together = await asyncio.gather(*(complete(client, prompt) for prompt in PROMPTS))
    assert together == solo
    steps = steps_after(server, before)
    # Every sequence decoded alongside others, and the 8 x TOKENS tokens took far fewer steps than 80.
    assert max(len(step["decoded"]) for step in steps) >= 4
    assert len({seq for step in steps for seq in step["sampled"]}) == len(PROMPTS)
    assert len(steps) < len(PROMPTS) * TOKENS / 2
    assert debug_state(server)["live_sequences"] == 0


def test_long_prompt_is_chunked_while_decoders_keep_decoding(
    engine_server: EngineServer, engine_client: openai.OpenAI
) -> None:
    server = engine_server.server
    wait_until_idle(server)
    decoders = [
        engine_client.chat.completions.create(
            model="default",
            messages=[{"role": "user", "content": f"Story {i}:"}],
            max_tokens=600,
            temperature=0,  # greedy: a sampled turn may end while the long prompts are chunked
            stream=True,
        )
        for i in range(3)
    ]
    for stream in decoders:  # each is producing tokens before the long prompt arrives
        next(iter(stream))
        next(iter(stream))
    before = last_step(server)
    long_prompts = [f"{word} beta gamma delta. " * 110 for word in ("Alpha", "Omega")]
    with ThreadPoolExecutor(2) as pool:  # two long prompts arrive together
        responses = list(pool.map(
            lambda prompt: engine_client.completions.create(model="default", prompt=prompt, max_tokens=1),
            long_prompts,
        ))
    assert all(r.usage is not None and r.usage.prompt_tokens > 500 for r in responses)
    for stream in decoders:
        stream.close()
    steps = steps_after(server, before)
    chunked = [step for step in steps if any(n > 1 for _, n in step["ingested"])]
    assert len(chunked) >= 8  # 2 x 500+ tokens in chunks of at most 128
    # The decoders wait for at most 128 prompt tokens a step, however many prompts are pending.
    assert all(sum(n for _, n in step["ingested"]) <= 128 for step in steps), chunked
    assert all(len(step["decoded"]) >= 3 for step in chunked), chunked
    assert wait_until_idle(server)["live_sequences"] == 0


def test_closing_a_stream_frees_its_sequence(
    engine_server: EngineServer, engine_client: openai.OpenAI
) -> None:
    server = engine_server.server
    wait_until_idle(server)
    before = last_step(server)
    stream = engine_client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Go on forever:"}], max_tokens=900,
        stream=True, temperature=0,  # greedy: a sampled turn may end within the two chunks read
    )
    chunks = iter(stream)
    next(chunks)
    next(chunks)
    assert debug_state(server)["live_sequences"] == 1
    stream.close()
    assert wait_until_idle(server)["live_sequences"] == 0
    # It left long before its 900 tokens.
    assert sum(1 for step in steps_after(server, before) if step["sampled"]) < 900


def test_client_disconnect_frees_a_non_streaming_request(engine_server: EngineServer) -> None:
    server = engine_server.server
    wait_until_idle(server)
    before = last_step(server)
    body = {"model": "default", "prompt": "Count forever: 1, 2, 3,", "max_tokens": 900}
    started = threading.Event()

    def watch() -> None:
        while not started.is_set():
            if debug_state(server)["live_sequences"]:
                started.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        httpx.post(server.base_url + "/v1/completions", json=body, timeout=httpx.Timeout(600, read=3))
    except httpx.ReadTimeout:
        pass
    finally:
        started.set()
        watcher.join()
    state = wait_until_idle(server)
    assert state["live_sequences"] == 0
    decoded = sum(1 for step in steps_after(server, before) if step["sampled"])
    assert 0 < decoded < 900
