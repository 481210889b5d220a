"""Integration fixtures: the real server process, driven with the official openai SDK."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.pgdatabase import fresh_database
from tests.serverproc import SRC, EngineServer, ServerProcess

BACKENDS = ["sqlite", "postgres"]
"""The store backends every store-level test runs on."""


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One fresh PostgreSQL database for the session's PostgreSQL store server (fails if unreachable)."""
    with fresh_database("store") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server without a model on its SQLite file: every store route, runs stay queued. Tests whose
    subject is not the store (OpenAPI, CORS, props) use this one alone."""
    with ServerProcess(tmp_path_factory.mktemp("store-data"), "--no-model") as server:
        yield server


@pytest.fixture(scope="session")
def postgres_store_server(tmp_path_factory: pytest.TempPathFactory,
                          pg_database: str) -> Iterator[ServerProcess]:
    """The same server on PostgreSQL."""
    data_dir = tmp_path_factory.mktemp("store-pg-data")
    with ServerProcess(data_dir, "--no-model", "--db", pg_database) as server:
        yield server


@pytest.fixture(scope="session", params=BACKENDS)
def store_server(request: pytest.FixtureRequest) -> ServerProcess:
    """The store server of each backend in turn: a test using it (or `client`) runs once per backend.

    Looked up by name, so a run selecting only `[sqlite]` never needs PostgreSQL."""
    return request.getfixturevalue(f"{request.param}_store_server")


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
    """A server with the bundled model, 8 parallel sequences sharing 8192 KV cells, each capped at 1024
    tokens (the truncation and context-length tests overflow that cap with short prompts), and the
    --debug inference view."""
    server = ServerProcess(tmp_path_factory.mktemp("model-data"), "--model", str(bundled_model),
                           "--parallel", "8", "--ctx-size", "8192", "--ctx-size-per-seq", "1024", "--debug",
                           "--max-tool-rounds", str(MODEL_SERVER_TOOL_ROUNDS))
    with server.running(timeout=300):  # loading competes with other work on a busy machine
        yield server


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


@pytest.fixture(scope="session")
def mlx_server(tmp_path_factory: pytest.TempPathFactory, mlx_dir: Path) -> Iterator[ServerProcess]:
    """The MLX engine over the converted bundled model, with the GGUF server's flags (8 sequences of
    1024 tokens each), so the tests parametrized over both engines hold the same expectations; the
    MLX-only tests (test_mlx_engine.py) share it."""
    import mlx_lm  # noqa: F401  (the test extra installs it: a missing extra must fail, not skip)

    server = ServerProcess(tmp_path_factory.mktemp("mlx-data"), "--engine", "mlx", "--model", str(mlx_dir),
                           "--parallel", "8", "--ctx-size", "8192", "--ctx-size-per-seq", "1024", "--debug")
    with server.running(timeout=300):
        yield server


@pytest.fixture()
def model_client(model_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=model_server.base_url + "/v1", api_key="test", max_retries=0, timeout=600)


LIMITS_CAP = 5
"""`limits_server`'s --max-output-tokens."""
LIMITS_RETENTION_HOURS = 0.0003
"""`limits_server`'s --delta-retention: about a second, what an hour-scale retention does."""


@pytest.fixture(scope="session")
def limits_server(tmp_path_factory: pytest.TempPathFactory, bundled_model: Path) -> Iterator[ServerProcess]:
    """The bundled model with short limits no other server may have: answers with no limit of their own
    capped at LIMITS_CAP tokens, deltas pruned about a second after a run (test_output_cap.py and
    test_delta_pruning.py; the pruning tests set token limits, which win over the cap)."""
    server = ServerProcess(tmp_path_factory.mktemp("limits-model"), "--model", str(bundled_model),
                           "--parallel", "2", "--ctx-size", "2048", "--max-output-tokens", str(LIMITS_CAP),
                           "--delta-retention", str(LIMITS_RETENTION_HOURS))
    with server.running(timeout=300):
        yield server


@pytest.fixture()
def limits_client(limits_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=limits_server.base_url + "/v1", api_key="test", max_retries=0, timeout=300)


@pytest.fixture(scope="session")
def postgres_model_server(tmp_path_factory: pytest.TempPathFactory,
                          bundled_model: Path) -> Iterator[ServerProcess]:
    """The bundled model on PostgreSQL (its own fresh database), for the run tests marked `ON_POSTGRES`."""
    with fresh_database("model") as url:
        server = ServerProcess(tmp_path_factory.mktemp("model-pg-data"), "--model", str(bundled_model),
                               "--parallel", "4", "--ctx-size", "4096", "--db", url)
        with server.running(timeout=300):
            yield server


ON_POSTGRES = pytest.mark.parametrize("engine_server", ["gguf", "mlx", "gguf-postgres"], indirect=True)
"""A run test marked so also runs on the PostgreSQL model server (the run worker's store, event log
and claims on the other backend); the others run on SQLite only, once per engine."""


@pytest.fixture(scope="session", params=["gguf", "mlx"])
def engine_server(request: pytest.FixtureRequest) -> EngineServer:
    """The session's model server of each engine in turn: a test using it runs once per engine.

    Looked up by name so that a run selecting only `[gguf]` never converts the model or starts MLX."""
    if request.param in ("gguf", "gguf-postgres"):
        model: Path = request.getfixturevalue("bundled_model")
        which = "model_server" if request.param == "gguf" else "postgres_model_server"
        return EngineServer("gguf", request.getfixturevalue(which), model.stem)
    model = request.getfixturevalue("mlx_dir")
    return EngineServer("mlx", request.getfixturevalue("mlx_server"), model.stem)


@pytest.fixture()
def engine_client(engine_server: EngineServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=engine_server.server.base_url + "/v1", api_key="test", max_retries=0,
                         timeout=600)
