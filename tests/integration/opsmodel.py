"""A small real-model server for the ops tests (props, timings, metrics after generation)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.serverproc import ServerProcess

MODEL_ARGS = ("--parallel", "2", "--ctx-size", "2048")


@pytest.fixture(scope="module")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The bundled model (assembled into this data dir on first start), two sequences."""
    with ServerProcess(tmp_path_factory.mktemp("ops-model"), *MODEL_ARGS) as server:
        yield server
