"""Integration fixtures: the real server process, driven with the official openai SDK."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.serverproc import ServerProcess


@pytest.fixture(scope="session")
def store_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server without a model: every store route, runs stay queued."""
    with ServerProcess(tmp_path_factory.mktemp("store-data"), "--no-model") as server:
        yield server


@pytest.fixture()
def client(store_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=store_server.base_url + "/v1", api_key="test", max_retries=0)
