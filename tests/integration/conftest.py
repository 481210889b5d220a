"""Integration fixtures: the real server process, driven with the official openai SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.serverproc import SRC, ServerProcess


@pytest.fixture(scope="session")
def store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server without a model: every store route, runs stay queued."""
    with ServerProcess(tmp_path_factory.mktemp("store-data"), "--no-model") as server:
        yield server


@pytest.fixture()
def client(store_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=store_server.base_url + "/v1", api_key="test", max_retries=0)


@pytest.fixture(scope="session")
def bundled_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled Gemma GGUF, assembled once per test session (253 MB) and shared by model servers."""
    from assistants.inference.bundled import ensure_bundled_model

    return ensure_bundled_model(tmp_path_factory.mktemp("bundled-model"), progress=False)


MODEL_SERVER_TOOL_ROUNDS = 3
"""--max-tool-rounds of the model server: a greedy base model may call a tool round after round."""


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[ServerProcess]:
    """A server with the bundled model, 8 parallel sequences, and the --debug inference view."""
    server = ServerProcess(tmp_path_factory.mktemp("model-data"), "--model", str(bundled_model),
                           "--parallel", "8", "--ctx-size", "8192", "--debug",
                           "--max-tool-rounds", str(MODEL_SERVER_TOOL_ROUNDS))
    server.start(timeout=300)  # loading competes with other work on a busy machine
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlx_dir(bundled_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GGUF converted to MLX once per session through the real CLI (needs the mlx extra)."""
    dst = tmp_path_factory.mktemp("mlx") / "gemma-3-270m"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run(
        [sys.executable, "-m", "assistants", "convert-gguf", str(bundled_model), str(dst)],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "converted" in done.stdout
    return dst


@pytest.fixture()
def model_client(model_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=model_server.base_url + "/v1", api_key="test", max_retries=0, timeout=600)
