"""The OpenAPI document at /schema/openapi.json: litestar's, completed where it cannot know our shapes.

litestar derives parameters and success bodies from the handlers. Three things it cannot see:
* request bodies: the Assistants handlers decode them with `protocol.decode`, because litestar's
  `data: T` converts with `strict=False` ("0.5" would pass as a temperature, where OpenAI answers
  400); a handler names its body Struct with `opt=openapi.body(T)`; msgspec writes its JSON Schema;
* errors: every error is the OpenAI envelope (errors.py), not litestar's `{status_code, detail}`, or
  the envelope a handler names with `opt=openapi.error_body(T)` (Anthropic's routes);
* SSE: a handler returning `ServerSentEvent` answers `text/event-stream`.
"""

from __future__ import annotations

import typing
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import ServerSentEvent
from litestar.routes import HTTPRoute

_REF = "#/components/schemas/{name}"
_BODY_KEY = "request_body"
_ERROR_KEY = "error_body"

ERROR_COMPONENT = {
    "title": "ErrorResponse",
    "description": "The OpenAI error envelope every 4xx/5xx answer carries.",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type", "param", "code"],
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string", "examples": ["invalid_request_error", "server_error"]},
            "param": {"type": ["string", "null"]},
            "code": {"type": ["string", "null"]},
        },
    }},
}
_ERRORS = {
    "400": "Malformed or invalid request (body, parameter, or state).",
    "401": "Missing or wrong API key (only when the server is started with --api-key).",
    "404": "No object with that id.",
    "413": "Request body larger than --max-body-bytes.",
}


def body(type_: type, *, required: bool = True) -> dict[str, Any]:
    """`opt=` for a handler that decodes its own JSON body: documents it as `type_`."""
    return {_BODY_KEY: (type_, required)}


def error_body(type_: type) -> dict[str, Any]:
    """`opt=` for a handler whose errors are another envelope than OpenAI's (Anthropic's routes)."""
    return {_ERROR_KEY: type_}


def config() -> OpenAPIConfig:
    try:
        package_version = version("assistants")
    except PackageNotFoundError:  # run from a source tree (PYTHONPATH=src)
        package_version = "0.0.0+source"
    return OpenAPIConfig(
        title="assistants", version=package_version, path="/schema",
        description="A self-hosted, OpenAI-compatible Assistants API server.",
        render_plugins=[CompletedJson()],  # the JSON document only: the UIs would load JS from a CDN
    )


def document(app: Litestar) -> dict[str, Any]:
    """The completed OpenAPI document of `app` as a dict."""
    schema = app.openapi_schema.to_schema()
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorResponse"] = ERROR_COMPONENT
    body_types: list[type] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                operation = schema["paths"].get(route.path_format, {}).get(method.lower())
                if operation is None:
                    continue
                declared = handler.opt.get(_BODY_KEY)
                if declared is not None:
                    type_, required = declared
                    body_types.append(type_)
                    operation["requestBody"] = {"required": required, "content": {
                        "application/json": {"schema": {"$ref": _REF.format(name=type_.__name__)}}}}
                if _returns_sse(handler.fn):
                    _document_sse(operation)
                error_type = handler.opt.get(_ERROR_KEY)
                if error_type is not None:
                    body_types.append(error_type)
                _document_errors(operation, public=bool(handler.opt.get("public")),
                                 has_path_params=bool(route.path_parameters),
                                 has_body=declared is not None,
                                 error_component=error_type.__name__ if error_type else "ErrorResponse")
    if body_types:
        _, generated = msgspec.json.schema_components(body_types, ref_template=_REF)
        for name, component in generated.items():
            components.setdefault(name, component)
    return schema


class CompletedJson(JsonRenderPlugin):
    """Serves `document(app)` rather than litestar's own, built on the first request (every route
    is known by then) and kept."""

    def __init__(self) -> None:
        super().__init__()
        self._document: dict[str, Any] | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._document is None:
            self._document = document(request.app)
        return self.render_json(request, self._document)


def _returns_sse(fn: Any) -> bool:
    try:
        hint = typing.get_type_hints(fn, include_extras=False).get("return")
    except Exception:  # an unresolvable annotation: leave litestar's answer alone
        return False
    return hint is ServerSentEvent or ServerSentEvent in typing.get_args(hint)


def _document_sse(operation: dict[str, Any]) -> None:
    ok = operation.setdefault("responses", {}).setdefault("200", {"description": "OK"})
    content = ok.setdefault("content", {})
    json_schema = content.get("application/json", {}).get("schema", {})
    refs = [item for item in json_schema.get("oneOf", [json_schema]) if item.get("$ref")]
    if refs:
        content["application/json"] = {"schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}
    else:
        content.pop("application/json", None)
    content["text/event-stream"] = {"schema": {"type": "string", "description": "server-sent events"}}


def _document_errors(operation: dict[str, Any], *, public: bool, has_path_params: bool,
                     has_body: bool, error_component: str) -> None:
    responses = operation.setdefault("responses", {})
    envelope = {"application/json": {"schema": {"$ref": _REF.format(name=error_component)}}}
    wanted = ["400"] + ([] if public else ["401"]) + (["404"] if has_path_params else []) + (
        ["413"] if has_body else [])
    for status in wanted:
        responses[status] = {"description": _ERRORS[status], "content": envelope}
    responses["default"] = {"description": "Any other error, in the same envelope.", "content": envelope}
