"""`assistants serve --engine mlx`: the same routes, batcher and streaming as the GGUF engine.

One MLX server per session over the bundled model converted by the CLI. MLX decode is slow on this
machine's CPU (a few tokens/s under load), so every request asks for a handful of tokens.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlx_lm  # noqa: F401  (the test extra installs it: a missing extra must fail, not skip)
import openai
import pytest

from tests.integration.inference_helpers import debug_state, last_step, steps_after, wait_until_idle
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow

COUNTING = "1, 2, 3, 4, 5,"


@pytest.fixture(scope="module")
def mlx_server(tmp_path_factory: pytest.TempPathFactory, mlx_dir: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("mlx-data"), "--engine", "mlx", "--model", str(mlx_dir),
                           "--parallel", "4", "--ctx-size", "4096", "--debug")
    server.start(timeout=300)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def mlx_client(mlx_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=mlx_server.base_url + "/v1", api_key="t", max_retries=0, timeout=600)


@pytest.fixture(scope="module")
def llama(bundled_model: Path) -> Any:
    from llama_cpp import Llama

    return Llama(str(bundled_model), n_ctx=256, n_threads=2, verbose=False)


def test_greedy_completion_matches_llama_cpp(mlx_client: openai.OpenAI, llama: Any) -> None:
    expected = llama.create_completion(COUNTING, max_tokens=4, temperature=0)["choices"][0]["text"]
    response = mlx_client.completions.create(model="default", prompt=COUNTING, max_tokens=4, temperature=0)
    assert response.choices[0].text == expected
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 4


def test_chat_completion_counts_exactly_max_tokens(mlx_client: openai.OpenAI) -> None:
    response = mlx_client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Write a long story."}], max_tokens=5,
        temperature=0,
    )
    choice = response.choices[0]
    assert choice.finish_reason == "length" and choice.message.role == "assistant" and choice.message.content
    assert response.usage is not None and response.usage.completion_tokens == 5
    assert response.usage.prompt_tokens > 5
    assert response.model == "gemma-3-270m"


def test_stream_chunks_usage_and_stop_sequence(mlx_client: openai.OpenAI, llama: Any) -> None:
    greedy = llama.create_completion(COUNTING, max_tokens=6, temperature=0)["choices"][0]["text"]
    stop = greedy[greedy.index(",") + 1:][:2]  # e.g. " 7": the output must end just before it
    assert stop.strip()
    stream = mlx_client.completions.create(
        model="default", prompt=COUNTING, max_tokens=8, temperature=0, stop=[stop], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == greedy[: greedy.index(stop)]
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == ["stop"]
    usage = chunks[-1].usage
    assert usage is not None and not chunks[-1].choices and 0 < usage.completion_tokens < 8

    chat = mlx_client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=3, stream=True, seed=1,
        stream_options={"include_usage": True},
    )
    chat_chunks = list(chat)
    assert chat_chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chat_chunks}) == 1
    assert chat_chunks[-2].choices[0].finish_reason == "length"
    assert chat_chunks[-1].usage is not None and chat_chunks[-1].usage.completion_tokens == 3


def test_seeded_sampling_reproduces(mlx_client: openai.OpenAI) -> None:
    def sample() -> str:
        response = mlx_client.completions.create(
            model="default", prompt="Once upon a time", max_tokens=5, temperature=1.0, top_p=0.95, seed=42
        )
        return response.choices[0].text

    assert sample() == sample()


async def test_three_concurrent_requests_interleave(mlx_server: ServerProcess) -> None:
    client = openai.AsyncOpenAI(base_url=mlx_server.base_url + "/v1", api_key="t", max_retries=0, timeout=600)
    wait_until_idle(mlx_server)
    before = last_step(mlx_server)
    prompts = [COUNTING, "A, B, C, D,", "Monday, Tuesday,"]
    responses = await asyncio.gather(*(
        client.completions.create(model="default", prompt=p, max_tokens=6, temperature=0) for p in prompts
    ))
    assert all(r.usage is not None and r.usage.completion_tokens == 6 for r in responses)
    steps = steps_after(mlx_server, before)
    assert max(len(step["decoded"]) for step in steps) == 3
    assert len({seq for step in steps for seq in step["sampled"]}) == 3
    assert len(steps) < 3 * 6
    assert debug_state(mlx_server)["live_sequences"] == 0


def test_closing_a_stream_frees_its_sequence(mlx_server: ServerProcess, mlx_client: openai.OpenAI) -> None:
    wait_until_idle(mlx_server)
    before = last_step(mlx_server)
    stream = mlx_client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Go on forever:"}], max_tokens=500, stream=True
    )
    chunks = iter(stream)
    next(chunks)
    next(chunks)
    assert debug_state(mlx_server)["live_sequences"] == 1
    stream.close()
    assert wait_until_idle(mlx_server)["live_sequences"] == 0
    assert sum(1 for step in steps_after(mlx_server, before) if step["sampled"]) < 100


def test_run_completes_with_a_message(mlx_client: openai.OpenAI) -> None:
    assistant = mlx_client.beta.assistants.create(model="default", instructions="Be brief.")
    thread = mlx_client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    run = mlx_client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, max_completion_tokens=3, poll_interval_ms=200
    )
    assert run.status == "incomplete" and run.usage is not None and run.usage.completion_tokens == 3
    messages = mlx_client.beta.threads.messages.list(thread_id=thread.id, order="asc").data
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content[0].text.value


def test_json_schema_response_format_is_refused(mlx_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        mlx_client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "Hi"}], max_tokens=3,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "x", "schema": {"type": "object"}}},
        )
    assert "json_schema" in caught.value.message and "MlxEngine" in caught.value.message
    assert caught.value.body["param"] == "response_format"  # type: ignore[index]


def test_token_bytes_and_end_tokens_equal_the_gguf_engine(mlx_dir: Path, bundled_model: Path) -> None:
    """The batcher's UTF-8 handling and stopping are shared only if both engines agree per token."""
    from assistants.inference.gguf import GGUFEngine
    from assistants.inference.mlx.pieces import end_of_generation_lookalikes, piece_table

    gguf = GGUFEngine(bundled_model, ctx_size=256, parallel=1, threads=1, progress=True)
    try:
        lookalikes = end_of_generation_lookalikes(mlx_dir / "tokenizer.json")
        table = piece_table(mlx_dir / "tokenizer.json", control=lookalikes)
        assert len(table) == gguf.n_vocab
        assert [t for t in range(len(table)) if table[t] != gguf.token_bytes(t)] == []
        config = json.loads((mlx_dir / "config.json").read_text())
        end = {t for t in range(len(table)) if gguf.is_end_of_generation(t)}
        assert end == set(config["eos_token_id"]) | lookalikes
    finally:
        gguf.close()


def test_a_run_needing_constrained_decoding_fails_clearly(mlx_client: openai.OpenAI) -> None:
    """Runs check the same capability: the run fails with a message naming the field, never decodes
    unconstrained."""
    assistant = mlx_client.beta.assistants.create(
        model="default", response_format={"type": "json_object"})
    run = mlx_client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hi"}]},
        poll_interval_ms=100)
    assert run.status == "failed"
    assert run.last_error is not None and run.last_error.code == "invalid_prompt"
    assert "response_format" in run.last_error.message
