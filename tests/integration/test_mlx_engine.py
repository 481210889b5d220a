"""`assistants serve --engine mlx`: what only the MLX engine needs checked.

The chat, completions, batching and runs behaviour shared with the GGUF engine is asserted on both
engines by the parametrized tests (test_chat.py, test_chat_batching.py, test_runs_model.py); here
remain the MLX engine's own checks: agreement with llama.cpp token for token and byte for byte, and
the clear refusal of grammar-constrained requests (it has no constrained decoding). The server is the
session's `mlx_server` (conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlx_lm  # noqa: F401  (the test extra installs it: a missing extra must fail, not skip)
import openai
import pytest

from assistants.inference.llama_load import unpacked_llama
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.slow

COUNTING = "1, 2, 3, 4, 5,"


@pytest.fixture()
def mlx_client(mlx_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=mlx_server.base_url + "/v1", api_key="t", max_retries=0, timeout=600)


@pytest.fixture(scope="module")
def llama(bundled_model: Path) -> Any:
    return unpacked_llama(str(bundled_model), n_ctx=256, n_threads=2, verbose=False)


def test_greedy_completion_matches_llama_cpp(mlx_client: openai.OpenAI, llama: Any) -> None:
    expected = llama.create_completion(COUNTING, max_tokens=4, temperature=0)["choices"][0]["text"]
    response = mlx_client.completions.create(model="default", prompt=COUNTING, max_tokens=4, temperature=0)
    assert response.choices[0].text == expected
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 4


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
