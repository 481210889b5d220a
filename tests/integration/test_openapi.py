"""/schema/openapi.json describes our routes as they answer: bodies, envelopes, SSE."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.routes import HTTPRoute

from assistants.app import create_app
from assistants.settings import Settings
from tests.serverproc import ServerProcess


@pytest.fixture(scope="module")
def schema(sqlite_store_server: ServerProcess) -> dict[str, Any]:
    response = httpx.get(sqlite_store_server.base_url + "/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield method, path, operation


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_identity(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.1")
    assert schema["info"]["title"] == "assistants"


def test_every_route_is_documented(schema: dict[str, Any], tmp_path: Any) -> None:
    app = create_app(Settings(data_dir=tmp_path, load_model=False))
    documented = {(method, path) for method, path, _ in operations(schema)}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format.startswith("/schema"):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                assert (method.lower(), route.path_format) in documented


def test_every_ref_resolves(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    for ref in set(refs(schema)):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in components, ref


def test_errors_are_the_openai_envelope(schema: dict[str, Any]) -> None:
    envelope = schema["components"]["schemas"]["ErrorResponse"]
    assert envelope["properties"]["error"]["required"] == ["message", "type", "param", "code"]
    for method, path, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) or status == "default":
                content = response["content"]["application/json"]["schema"]
                # Anthropic's Messages routes answer in Anthropic's envelope instead.
                name = "AnthropicErrorResponse" if path.startswith("/v1/messages") else "ErrorResponse"
                assert content == {"$ref": f"#/components/schemas/{name}"}, (method, path, status)
        assert "default" in operation["responses"]
        if "{" in path:
            assert "404" in operation["responses"], (method, path)
        if path not in {"/health"}:
            assert "401" in operation["responses"], (method, path)
    anthropic = schema["components"]["schemas"]["AnthropicErrorResponse"]
    assert anthropic["properties"]["type"] == {"enum": ["error"]}
    assert set(anthropic["required"]) == {"type", "error"}
    # litestar's own `{status_code, detail, extra}` shape must not survive anywhere
    assert "status_code" not in json.dumps(schema["paths"])


@pytest.mark.parametrize(("path", "component", "required"), [
    ("/v1/assistants", "CreateAssistantRequest", True),
    ("/v1/threads", "CreateThreadRequest", False),
    ("/v1/threads/{thread_id}/messages", "CreateMessageRequest", True),
    ("/v1/threads/{thread_id}/runs", "CreateRunRequest", True),
    ("/v1/threads/runs", "CreateThreadAndRunRequest", True),
])
def test_request_bodies(schema: dict[str, Any], path: str, component: str, required: bool) -> None:
    body = schema["paths"][path]["post"]["requestBody"]
    assert body["required"] is required
    assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{component}"}
    assert "413" in schema["paths"][path]["post"]["responses"]


def test_message_create_schema_matches_the_wire(schema: dict[str, Any]) -> None:
    message = schema["components"]["schemas"]["CreateMessageRequest"]
    assert set(message["required"]) == {"role", "content"}
    assert "metadata" in message["properties"]


def test_streams_are_event_streams(schema: dict[str, Any]) -> None:
    run_create = schema["paths"]["/v1/threads/{thread_id}/runs"]["post"]["responses"]["200"]["content"]
    assert run_create["application/json"]["schema"] == {"$ref": "#/components/schemas/Run"}
    assert "text/event-stream" in run_create
    sse_only = [path for path in schema["paths"] if re.search(r"/events$", path)]
    assert sse_only
    for path in sse_only:
        assert list(schema["paths"][path]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
