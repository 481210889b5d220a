"""Request body limit: 413 in the envelope, whether the length is declared or the body is chunked."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import BACKENDS
from tests.serverproc import ServerProcess

LIMIT = 2048


@pytest.fixture(scope="module", params=BACKENDS)
def small_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = ("--db", request.getfixturevalue("pg_database")) if request.param == "postgres" else ()
    with ServerProcess(tmp_path_factory.mktemp("limits-data"), "--no-model",
                       "--max-body-bytes", str(LIMIT), *db) as server:
        yield server


def body(size: int) -> bytes:
    """A valid thread-create body of about `size` bytes (the size is carried by metadata)."""
    return json.dumps({"metadata": {"pad": "x" * max(size - 40, 0)}}).encode()


def assert_413(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.json() == {"error": {"message": "Request body is too large.",
                                         "type": "invalid_request_error", "param": None,
                                         "code": "request_too_large"}}
    assert response.headers["x-should-retry"] == "false"


def test_under_the_limit_is_accepted(small_server: ServerProcess) -> None:
    response = httpx.post(small_server.base_url + "/v1/threads", content=body(LIMIT // 4),
                          headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


def test_declared_length_over_the_limit(small_server: ServerProcess) -> None:
    response = httpx.post(small_server.base_url + "/v1/threads", content=body(LIMIT * 4),
                          headers={"content-type": "application/json"})
    assert_413(response)


def test_chunked_body_over_the_limit(small_server: ServerProcess) -> None:
    payload = body(LIMIT * 4)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 512):
            yield payload[start:start + 512]

    # A generator body has no Content-Length: httpx sends Transfer-Encoding: chunked.
    request = httpx.Request("POST", small_server.base_url + "/v1/threads", content=chunks(),
                            headers={"content-type": "application/json"})
    assert "content-length" not in request.headers
    with httpx.Client() as client:
        assert_413(client.send(request))


def test_server_healthy_after_oversized_bodies(small_server: ServerProcess) -> None:
    for _ in range(3):
        httpx.post(small_server.base_url + "/v1/threads", content=body(LIMIT * 8),
                   headers={"content-type": "application/json"})
    assert httpx.get(small_server.base_url + "/health").status_code == 200
