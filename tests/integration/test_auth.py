"""API keys: every route the app registers answers 401 without a valid key, except /health.

The route table comes from the app itself, so a route added later is covered without editing this
test. Path parameters get dummy ids and no body is sent: the 401 must come before any 404/400.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from litestar.routes import HTTPRoute

from assistants.app import create_app
from assistants.settings import Settings
from tests.serverproc import ServerProcess

FLAG_KEY = "sk-flag-0123456789"
FILE_KEY = "sk-file-abcdefghij"
WRONG_KEYS = ["sk-wrong", FLAG_KEY[:-1], FLAG_KEY + "x", FLAG_KEY.upper()]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("auth-data")
    key_file = data_dir / "keys.txt"
    key_file.write_text(f"# keys for the auth test\n{FILE_KEY}\n")
    args = ("--no-model", "--api-key", FLAG_KEY, "--api-key-file", str(key_file))
    with ServerProcess(data_dir, *args) as server:
        yield server


def route_table() -> list[tuple[str, str, bool]]:
    """(method, concrete path, public) for every HTTP handler of the app."""
    app = create_app(Settings(data_dir=Path("/nonexistent"), load_model=False, api_keys=("k",)))
    rows = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path = re.sub(r"\{(\w+)(?::int)?[^}]*\}", _dummy, route.path_format)
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                rows.append((method, path, bool(handler.opt.get("public"))))
    return rows


def _dummy(match: re.Match[str]) -> str:
    return "1" if ":int" in match.group(0) else f"{match.group(1).removesuffix('_id')}_dummy0000"


ROUTES = route_table()
PROTECTED = [(method, path) for method, path, public in ROUTES if not public]


def test_the_route_table_is_not_trivial() -> None:
    assert ("GET", "/health", True) in ROUTES
    assert ("GET", "/metrics") in PROTECTED
    assert len(PROTECTED) >= 2


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_protected_route_needs_a_valid_key(auth_server: ServerProcess, method: str, path: str) -> None:
    url = auth_server.base_url + path
    attempts: list[dict[str, str]] = [{}, {"Authorization": FLAG_KEY}, {"Authorization": "Basic abc"},
                                      {"Authorization": "Bearer"}]
    attempts += [{"Authorization": f"Bearer {key}"} for key in WRONG_KEYS]
    attempts += [{"x-api-key": key} for key in [*WRONG_KEYS, ""]]
    # Authorization wins over x-api-key: a wrong Bearer token is not rescued by a right x-api-key.
    attempts.append({"Authorization": "Bearer sk-wrong", "x-api-key": FLAG_KEY})
    for headers in attempts:
        response = httpx.request(method, url, headers={"content-type": "application/json", **headers},
                                 timeout=10)
        assert response.status_code == 401, (headers, response.text)
        body = response.json()
        if path.startswith("/v1/messages") and method == "POST":  # Anthropic's handlers, their envelope
            assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
        else:
            assert set(body["error"]) == {"message", "type", "param", "code"}
            assert body["error"]["type"] == "invalid_request_error"
        assert FLAG_KEY not in response.text and FILE_KEY not in response.text


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
@pytest.mark.parametrize("key", [FLAG_KEY, FILE_KEY], ids=["flag-key", "file-key"])
@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_valid_key_gets_past_auth(auth_server: ServerProcess, method: str, path: str, key: str,
                                  header: str) -> None:
    credential = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"x-api-key": key}
    headers = {**credential, "content-type": "application/json"}
    # Streamed: an SSE route answers its status line at once and then stays open.
    with httpx.stream(method, auth_server.base_url + path, headers=headers, timeout=10) as response:
        assert response.status_code != 401
        # 503: a model route on this model-less server, past auth all the same
        assert response.status_code < 500 or response.status_code == 503


def test_health_is_open(auth_server: ServerProcess) -> None:
    response = httpx.get(auth_server.base_url + "/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_sdk_sees_authentication_error(auth_server: ServerProcess) -> None:
    wrong = openai.OpenAI(base_url=auth_server.base_url + "/v1", api_key="sk-nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as raised:
        wrong.beta.assistants.list()
    assert raised.value.status_code == 401
    assert raised.value.request_id  # x-request-id reaches the SDK


def test_anthropic_sdk_key(auth_server: ServerProcess) -> None:
    """Anthropic's SDK sends `x-api-key`: a wrong one is its AuthenticationError, a right one passes."""
    wrong = anthropic.Anthropic(base_url=auth_server.base_url, api_key="sk-nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        wrong.messages.count_tokens(model="default", messages=[{"role": "user", "content": "hi"}])
    right = anthropic.Anthropic(base_url=auth_server.base_url, api_key=FLAG_KEY, max_retries=0)
    with pytest.raises(anthropic.InternalServerError) as no_model:  # past auth: this server has no model
        right.messages.count_tokens(model="default", messages=[{"role": "user", "content": "hi"}])
    assert no_model.value.status_code == 503


def test_keys_are_never_logged(auth_server: ServerProcess) -> None:
    httpx.get(auth_server.base_url + "/metrics", headers={"Authorization": f"Bearer {FLAG_KEY}"})
    httpx.get(auth_server.base_url + "/metrics", headers={"Authorization": "Bearer sk-wrong"})
    log = auth_server.log_tail(1_000_000)
    assert "assistants: serving" in log
    assert FLAG_KEY not in log and FILE_KEY not in log
