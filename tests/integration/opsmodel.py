"""A small real-model server of the ops tests' own (props, timings, metrics deltas).

Not the shared session `model_server`: metric deltas must not pick up another test's leftover runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serverproc import ServerProcess


@pytest.fixture(scope="module")
def ops_model_server(tmp_path_factory: pytest.TempPathFactory,
                     bundled_model: Path) -> Iterator[ServerProcess]:
    """The bundled model, two sequences sharing 2048 KV cells."""
    server = ServerProcess(tmp_path_factory.mktemp("ops-model"), "--model", str(bundled_model),
                           "--parallel", "2", "--ctx-size", "2048")
    with server.running(timeout=300):
        yield server
