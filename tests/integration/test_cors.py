"""CORS is closed unless an origin is configured; then simple requests and preflights are answered."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.serverproc import ServerProcess

UI = "http://ui.example.test"
KEY = "sk-cors-key"


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("cors-data"), "--no-model", "--cors-origin", UI,
                       "--cors-origin", "http://localhost:*", "--api-key", KEY) as server:
        yield server


def preflight(base_url: str, origin: str) -> httpx.Response:
    return httpx.options(base_url + "/metrics", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, content-type, openai-beta"})


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def test_closed_by_default(sqlite_store_server: ServerProcess) -> None:
    simple = httpx.get(sqlite_store_server.base_url + "/health", headers={"Origin": UI})
    assert simple.status_code == 200
    assert cors_headers(simple) == {}
    assert cors_headers(preflight(sqlite_store_server.base_url, UI)) == {}


def test_configured_origin_gets_headers(cors_server: ServerProcess) -> None:
    response = httpx.get(cors_server.base_url + "/metrics",
                         headers={"Origin": UI, "Authorization": f"Bearer {KEY}"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == UI
    assert "x-request-id" in response.headers["access-control-expose-headers"]


def test_error_responses_carry_cors_headers_too(cors_server: ServerProcess) -> None:
    """A browser can only read the 401 envelope if the error response is CORS-enabled as well."""
    response = httpx.get(cors_server.base_url + "/metrics", headers={"Origin": UI})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == UI


def test_preflight_needs_no_key_and_allows_sdk_headers(cors_server: ServerProcess) -> None:
    response = preflight(cors_server.base_url, UI)
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == UI
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "openai-beta"} <= allowed


def test_wildcard_port_pattern(cors_server: ServerProcess) -> None:
    assert preflight(cors_server.base_url, "http://localhost:5173").headers[
        "access-control-allow-origin"] == "http://localhost:5173"


def test_other_origin_is_refused(cors_server: ServerProcess) -> None:
    evil = "http://evil.example.test"
    assert preflight(cors_server.base_url, evil).status_code == 400
    simple = httpx.get(cors_server.base_url + "/health", headers={"Origin": evil})
    assert "access-control-allow-origin" not in simple.headers
