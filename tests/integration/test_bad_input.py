"""Every class of bad input: the right 4xx, the OpenAI envelope, the offending `param`, and no row written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.integration.rows import count_all
from tests.serverproc import ServerProcess

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture()
def http(store_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=store_server.base_url,
        headers={"Authorization": "Bearer test", "OpenAI-Beta": "assistants=v2"},
    ) as client:
        yield client


@pytest.fixture(scope="module")
def ids(store_server: ServerProcess) -> dict[str, str]:
    client = openai.OpenAI(base_url=store_server.base_url + "/v1", api_key="test", max_retries=0)
    assistant = client.beta.assistants.create(model="m")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "x"}])
    message = client.beta.threads.messages.list(thread.id).data[0]
    return {"assistant": assistant.id, "thread": thread.id, "message": message.id}


def assert_error(response: httpx.Response, status: int, param: str | None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["message"]
    assert error["param"] == param
    assert response.headers.get("x-should-retry") == "false"  # the SDK must not re-send it
    return error


def send(
    http: httpx.Client,
    server: ServerProcess,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    param: str | None,
) -> dict[str, Any]:
    """Send, check the error, and check that no table changed."""
    before = count_all(server)
    response = http.request(method, path, content=body, headers={"Content-Type": "application/json"})
    error = assert_error(response, status, param)
    assert count_all(server) == before
    return error


@pytest.mark.parametrize("body", [b"{", b'{"model": "m",}', b"\xff\xfe", b"", b"not json"])
def test_malformed_json(http: httpx.Client, store_server: ServerProcess, body: bytes) -> None:
    send(http, store_server, "POST", "/v1/assistants", body, 400, None)


@pytest.mark.parametrize("body", [b"[]", b"null", b'"x"', b"5"])
def test_body_not_an_object(http: httpx.Client, store_server: ServerProcess, body: bytes) -> None:
    send(http, store_server, "POST", "/v1/assistants", body, 400, None)


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/assistants", b'{"model": 5}', "model"),
        ("/v1/assistants", b'{"model": "m", "tools": {}}', "tools"),
        ("/v1/assistants", b'{"model": "m", "temperature": "hot"}', "temperature"),
        ("/v1/assistants", b"{}", "model"),
        ("/v1/threads", b'{"messages": "hi"}', "messages"),
        ("/v1/threads/{thread}/messages", b'{"role": "user"}', "content"),
        ("/v1/threads/{thread}/messages", b'{"role": "user", "content": 5}', "content"),
        ("/v1/threads/{thread}/runs", b'{"assistant_id": 5}', "assistant_id"),
        (
            "/v1/threads/{thread}/runs",
            b'{"assistant_id": "{assistant}", "parallel_tool_calls": "yes"}',
            "parallel_tool_calls",
        ),
    ],
)
def test_wrong_types_and_missing_fields(
    http: httpx.Client, store_server: ServerProcess, ids: dict[str, str], path: str, body: bytes, param: str
) -> None:
    send(
        http,
        store_server,
        "POST",
        path.format(**ids),
        body.replace(b"{assistant}", ids["assistant"].encode()),
        400,
        param,
    )


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/assistants", b'{"model": "m", "tools": [{"type": "code_interpreter"}]}', "tools"),
        (
            "/v1/assistants",
            b'{"model": "m", "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"], '
            b'"vector_stores": [{}]}}}',
            "tool_resources.file_search",
        ),
        (
            "/v1/threads",
            b'{"tool_resources": {"code_interpreter": {"file_ids": ["f"]}}}',
            "tool_resources.code_interpreter",
        ),
        (
            "/v1/threads/{thread}/messages",
            b'{"role": "user", "content": "x", "attachments": [{"file_id": "f", "tools": [{"type": '
            b'"code_interpreter"}]}]}',
            "attachments",
        ),
        (
            "/v1/threads/{thread}/runs",
            b'{"assistant_id": "{assistant}", "tool_choice": {"type": "file_search"}}',
            "tool_choice",
        ),
        (
            "/v1/threads/{thread}/runs",
            b'{"assistant_id": "{assistant}", "tool_choice": {"type": "function", '
            b'"function": {"name": "not_a_tool"}}}',
            "tool_choice",
        ),
    ],
)
def test_unsupported_behaviour_changing_fields(
    http: httpx.Client, store_server: ServerProcess, ids: dict[str, str], path: str, body: bytes, param: str
) -> None:
    error = send(
        http,
        store_server,
        "POST",
        path.format(**ids),
        body.replace(b"{assistant}", ids["assistant"].encode()),
        400,
        param,
    )
    assert "not" in error["message"]


def _metadata(pairs: int, key_len: int = 3, value_len: int = 3) -> bytes:
    items = ",".join(f'"{str(i).rjust(key_len, "k")}": "{"v" * value_len}"' for i in range(pairs))
    return ("{" + items + "}").encode()


@pytest.mark.parametrize(
    "metadata", [_metadata(17), _metadata(1, key_len=65), _metadata(1, value_len=513), b'{"k": 1}', b'["k"]']
)
@pytest.mark.parametrize(
    "path",
    ["/v1/assistants", "/v1/threads", "/v1/threads/{thread}", "/v1/threads/{thread}/messages/{message}"],
)
def test_metadata_over_limits(
    http: httpx.Client, store_server: ServerProcess, ids: dict[str, str], path: str, metadata: bytes
) -> None:
    body = b'{"model": "m", "metadata": ' + metadata + b"}"
    send(http, store_server, "POST", path.format(**ids), body, 400, "metadata")


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/assistants", b'{"model": "m", "temperature": 2.5}', "temperature"),
        ("/v1/assistants", b'{"model": "m", "top_p": 1.5}', "top_p"),
        ("/v1/assistants", b'{"model": "m", "name": "' + b"n" * 257 + b'"}', "name"),
        ("/v1/assistants", b'{"model": "m", "instructions": "' + b"i" * 256_001 + b'"}', "instructions"),
        (
            "/v1/threads/{thread}/runs",
            b'{"assistant_id": "{assistant}", "max_prompt_tokens": 255}',
            "max_prompt_tokens",
        ),
        ("/v1/threads/{thread}/runs", b'{"assistant_id": "{assistant}", "temperature": -1}', "temperature"),
        ("/v1/assistants", b'{"model": "m", "tools": [{"type": "file_search", "file_search": '
                           b'{"max_num_results": 0}}]}', "tools[0].file_search.max_num_results"),
        (
            "/v1/assistants",
            b'{"model": "m", "tool_resources": {"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}}}',
            "tool_resources.file_search.vector_store_ids",
        ),
        (
            "/v1/threads",
            b'{"tool_resources": {"file_search": {"vector_store_ids": ["vs_1", "vs_2"]}}}',
            "tool_resources.file_search.vector_store_ids",
        ),
    ],
)
def test_out_of_range_numbers_and_lengths(
    http: httpx.Client, store_server: ServerProcess, ids: dict[str, str], path: str, body: bytes, param: str
) -> None:
    send(
        http,
        store_server,
        "POST",
        path.format(**ids),
        body.replace(b"{assistant}", ids["assistant"].encode()),
        400,
        param,
    )


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "101"}, {"limit": "many"}, {"order": "sideways"}]
)
def test_bad_list_parameters(http: httpx.Client, ids: dict[str, str], query: dict[str, str]) -> None:
    for path in ("/v1/assistants", f"/v1/threads/{ids['thread']}/messages"):
        assert_error(http.get(path, params=query), 400, next(iter(query)))


@pytest.mark.parametrize(
    ("path", "body", "param"),
    [
        ("/v1/threads/{thread}/messages", b'{"role": "system", "content": "x"}', "role"),
        ("/v1/threads/{thread}/messages", b'{"role": "tool", "content": "x"}', "role"),
        ("/v1/threads", b'{"messages": [{"role": "developer", "content": "x"}]}', "messages[0].role"),
        ("/v1/assistants", b'{"model": "m", "response_format": {"type": "xml"}}', "response_format.type"),
        (
            "/v1/threads/{thread}/runs",
            b'{"assistant_id": "{assistant}", "tool_choice": "always"}',
            "tool_choice",
        ),
        (
            "/v1/threads/{thread}/runs",
            b'{"assistant_id": "{assistant}", "truncation_strategy": {"type": "all"}}',
            "truncation_strategy.type",
        ),
        (
            "/v1/threads/{thread}/messages",
            b'{"role": "user", "content": [{"type": "audio", "audio": {}}]}',
            "content[0].type",
        ),
    ],
)
def test_bad_enums_and_roles(
    http: httpx.Client, store_server: ServerProcess, ids: dict[str, str], path: str, body: bytes, param: str
) -> None:
    send(
        http,
        store_server,
        "POST",
        path.format(**ids),
        body.replace(b"{assistant}", ids["assistant"].encode()),
        400,
        param,
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/assistants/asst_unknown", None),
        ("POST", "/v1/assistants/asst_unknown", b'{"name": "x"}'),
        ("DELETE", "/v1/assistants/asst_unknown", None),
        ("GET", "/v1/threads/thread_unknown", None),
        ("POST", "/v1/threads/thread_unknown/messages", b'{"role": "user", "content": "x"}'),
        ("GET", "/v1/threads/{thread}/messages/msg_unknown", None),
        ("DELETE", "/v1/threads/{thread}/messages/msg_unknown", None),
        ("GET", "/v1/threads/{thread}/runs/run_unknown", None),
        ("POST", "/v1/threads/{thread}/runs/run_unknown/cancel", b""),
        ("GET", "/v1/threads/{thread}/runs/run_unknown/steps/step_unknown", None),
    ],
)
def test_unknown_ids(
    http: httpx.Client,
    store_server: ServerProcess,
    ids: dict[str, str],
    method: str,
    path: str,
    body: bytes | None,
) -> None:
    error = send(http, store_server, method, path.format(**ids), body, 404, None)
    assert "unknown" in error["message"]


def test_unknown_assistant_on_run_create(
    http: httpx.Client, store_server: ServerProcess, ids: dict[str, str]
) -> None:
    send(
        http,
        store_server,
        "POST",
        f"/v1/threads/{ids['thread']}/runs",
        b'{"assistant_id": "asst_unknown", "additional_messages": [{"role": "user", "content": "x"}]}',
        404,
        "assistant_id",
    )


def test_body_over_the_limit(http: httpx.Client, store_server: ServerProcess) -> None:
    body = b'{"model": "m", "instructions": "' + b"x" * (4 * 1024 * 1024 + 10) + b'"}'
    error = send(http, store_server, "POST", "/v1/assistants", body, 413, None)
    assert error["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/nothing-here", 404),
        ("POST", "/v2/assistants", 404),
        ("GET", "/v1", 404),
        ("DELETE", "/v1/threads", 405),
        ("PUT", "/v1/assistants", 405),
        ("DELETE", "/v1/threads/x/runs/y", 405),
    ],
)
def test_unknown_routes_and_methods(http: httpx.Client, method: str, path: str, status: int) -> None:
    error = assert_error(http.request(method, path), status, None)
    assert path in error["message"]


def test_empty_body_cancel_with_json_content_type(http: httpx.Client, ids: dict[str, str]) -> None:
    thread = http.post("/v1/threads", json={}).json()["id"]
    run = http.post(f"/v1/threads/{thread}/runs", json={"assistant_id": ids["assistant"]}).json()["id"]
    response = http.post(
        f"/v1/threads/{thread}/runs/{run}/cancel",
        content=b"",
        headers={"Content-Type": "application/json", "Content-Length": "0"},
    )
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_lenient_about_unknown_harmless_fields_and_headers(http: httpx.Client) -> None:
    response = http.post(
        "/v1/assistants",
        json={"model": "m", "store": True, "reasoning_effort": "low"},
        headers={"X-Stainless-Lang": "python", "OpenAI-Organization": "org"},
    )
    assert response.status_code == 200 and response.json()["model"] == "m"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/assistants", b'{"model": "m", "instructions": "a\\u0000b"}'),
    ("POST", "/v1/threads/thread_%00x/messages", b'{"role": "user", "content": "x"}'),
    ("GET", "/v1/assistants?after=asst_%00", None),
])
def test_nul_text_on_postgres_is_400_and_writes_nothing(postgres_store_server: ServerProcess, method: str,
                                                        path: str, body: bytes | None) -> None:
    """PostgreSQL cannot hold NUL in text (SQLite stores it): the whole request is refused."""
    with httpx.Client(base_url=postgres_store_server.base_url) as http:
        error = send(http, postgres_store_server, method, path, body, 400, None)
    assert error["code"] == "invalid_text" and "NUL" in error["message"]
