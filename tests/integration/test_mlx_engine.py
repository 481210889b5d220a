"""`assistants serve --engine mlx`: what only the MLX engine needs checked.

The chat, completions and runs behaviour shared with the GGUF engine is asserted on both engines by
the parametrized tests in test_chat.py and test_runs_model.py; here remain the MLX engine's own
checks: agreement with llama.cpp token for token, its continuous batching seen in its step records,
and the clear refusal of grammar-constrained requests (it has no constrained decoding). The server is
the session's `mlx_server` (conftest.py). MLX decode is slow on this machine's CPU, so every request
asks for a handful of tokens.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import mlx_lm  # noqa: F401  (the test extra installs it: a missing extra must fail, not skip)
import openai
import pytest

from tests.integration.inference_helpers import debug_state, last_step, steps_after, wait_until_idle
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow

COUNTING = "1, 2, 3, 4, 5,"


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
