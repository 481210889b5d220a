"""llama.cpp Web UI compatibility: /props, /v1/models `meta`, and `timings` on the final chunk."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.integration.opsmodel import ops_model_server  # noqa: F401  (fixture)
from tests.serverproc import ServerProcess

TIMING_KEYS = {"prompt_n", "prompt_ms", "prompt_per_token_ms", "prompt_per_second", "predicted_n",
               "predicted_ms", "predicted_per_token_ms", "predicted_per_second"}


@pytest.mark.parametrize("path", ["/props", "/v1/props"])
def test_props_shape(ops_model_server: ServerProcess, path: str) -> None:  # noqa: F811
    props = httpx.get(ops_model_server.base_url + path).json()
    settings = props["default_generation_settings"]
    assert settings["n_ctx"] == 2048  # --ctx-size 2048: one sequence may use the whole shared pool
    assert settings["params"]["temperature"] == 1.0
    assert settings["params"]["n_predict"] == 2048  # --max-output-tokens' default
    assert props["total_slots"] == 2
    assert props["model_alias"] == "gemma-3-270m-q4_k_m"
    assert props["model_path"] == "gemma-3-270m-q4_k_m.gguf"  # the name only, never the directory
    assert props["modalities"] == {"vision": False, "audio": False}
    assert "<start_of_turn>" in props["chat_template"]  # the Gemma fallback the server really uses
    assert props["build_info"].startswith("assistants ")
    assert "llama-cpp-python" in props["build_info"]


def test_props_without_a_model_is_503(sqlite_store_server: ServerProcess) -> None:
    response = httpx.get(sqlite_store_server.base_url + "/props")
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "server_error"


def test_models_rows_carry_meta(ops_model_server: ServerProcess) -> None:  # noqa: F811
    row = httpx.get(ops_model_server.base_url + "/v1/models").json()["data"][0]
    meta = row["meta"]
    assert meta["n_ctx_train"] == 32768
    assert meta["n_vocab"] == 262144
    assert meta["n_embd"] == 640
    assert 200_000_000 < meta["n_params"] < 300_000_000
    assert 200_000_000 < meta["size"] < 300_000_000
    assert meta["n_ctx"] == 2048
    model = openai.OpenAI(base_url=ops_model_server.base_url + "/v1", api_key="x").models.retrieve(row["id"])
    assert model.id == row["id"]


def test_final_stream_chunk_carries_timings(ops_model_server: ServerProcess) -> None:  # noqa: F811
    body = {"model": "default", "max_tokens": 4, "stream": True,
            "messages": [{"role": "user", "content": "Say hello."}]}
    chunks = []
    with httpx.stream("POST", ops_model_server.base_url + "/v1/chat/completions", json=body, timeout=60) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                chunks.append(json.loads(line.removeprefix("data: ")))
    final = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert len(final) == 1
    assert all("timings" not in c for c in chunks if c is not final[0])
    timings = final[0]["timings"]
    assert TIMING_KEYS <= set(timings)
    assert timings["predicted_n"] == 4 or final[0]["choices"][0]["finish_reason"] == "stop"
    assert timings["prompt_n"] > 0 and timings["prompt_ms"] > 0 and timings["predicted_ms"] >= 0
    assert timings["prompt_per_second"] == pytest.approx(timings["prompt_n"] * 1000 / timings["prompt_ms"])


def test_sdk_stream_still_parses(ops_model_server: ServerProcess) -> None:  # noqa: F811
    client = openai.OpenAI(base_url=ops_model_server.base_url + "/v1", api_key="x", max_retries=0)
    stream = client.chat.completions.create(model="default", max_tokens=3, stream=True,
                                            messages=[{"role": "user", "content": "Hi"}])
    finish = [c.choices[0].finish_reason for c in stream if c.choices and c.choices[0].finish_reason]
    assert finish and finish[0] in {"stop", "length"}


def test_non_stream_completion_carries_timings(ops_model_server: ServerProcess) -> None:  # noqa: F811
    body = {"model": "default", "max_tokens": 3, "messages": [{"role": "user", "content": "Hi"}]}
    completion = httpx.post(ops_model_server.base_url + "/v1/chat/completions", json=body, timeout=60).json()
    assert TIMING_KEYS <= set(completion["timings"])
    assert completion["timings"]["predicted_n"] == completion["usage"]["completion_tokens"]
