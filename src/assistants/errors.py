"""Domain errors and the OpenAI error envelope `{"error": {"message", "type", "param", "code"}}`.

Every layer raises these; none of them knows HTTP. `api/errors.py` is the one place they (and
everything else) become responses.
"""

from __future__ import annotations

import re
from typing import Any


class StartupError(Exception):
    """A start-up failure the operator can fix (bad flag, missing model, port in use); its message is
    the whole story. `assistants` prints it as one line and exits non-zero."""


class APIError(Exception):
    status_code = 400
    type = "invalid_request_error"
    default_code: str | None = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code


class InvalidRequest(APIError):
    """400: a malformed or out-of-range field, or a state conflict (OpenAI answers 400, not 409)."""


class NotFound(APIError):
    status_code = 404


class Unauthorized(APIError):
    status_code = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class PayloadTooLarge(APIError):
    status_code = 413
    default_code = "request_too_large"


class ServerError(APIError):
    status_code = 500
    type = "server_error"
    default_code = "server_error"


class ServiceUnavailable(APIError):
    status_code = 503
    type = "server_error"
    default_code = "service_unavailable"


class ModelUnavailable(ServiceUnavailable):
    """503: the model exists but cannot serve (its file is not a model, or loading it failed, e.g. out
    of memory); the other models keep serving."""

    default_code = "model_unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """503 that a retry may cure (the database was unreachable or too slow); nothing was written."""

    retry_after = 1


class ClientDisconnected(Exception):
    """Nobody will read this response (nginx's 499): raised only to end a handler, never an API error."""


def not_found(kind: str, object_id: str, *, param: str | None = None) -> NotFound:
    """`param` names the request field that held the id, when it came from the body."""
    return NotFound(f"No {kind} found with id '{object_id}'.", param=param)


def envelope(message: str, type_: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# -- msgspec's validation messages, in the API's terms ------------------------------------------

_PATH = re.compile(r"`\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")


def param_from_validation(message: str) -> str | None:
    """The field a msgspec ValidationError names, as an API `param`:
    "... - at `$.metadata[...]`" -> `metadata`; "... - at `key` in `$.metadata`" -> `metadata`;
    "Object missing required field `name` - at `$.tools[0].function`" -> `tools[0].function.name`."""
    paths = _PATH.findall(message)
    path = paths[-1].removesuffix("[...]") if paths else ""
    missing = _MISSING.search(message)
    if missing:
        path = f"{path}.{missing.group(1)}" if path else missing.group(1)
    return path or None


def invalid_request_from_validation(message: str, *, within: str | None = None) -> InvalidRequest:
    """A msgspec ValidationError message as a 400; `within` prefixes the path when the value that
    failed was one field of the request (`tools` + `[0].function` -> `tools[0].function`)."""
    detail = message.partition(" - at ")[0]
    param = param_from_validation(message)
    if within is not None:
        param = within + (param if param and param.startswith("[") else f".{param}" if param else "")
    if _MISSING.search(message):
        return InvalidRequest(f"Missing required parameter: '{param}'.", param=param)
    detail = detail[:1].lower() + detail[1:]
    if "`key`" in message:
        detail += " (an object key)"
    text = f"Invalid '{param}': {detail}." if param else f"Invalid request body: {detail}."
    return InvalidRequest(text, param=param)


# -- Anthropic's envelope (its Messages API routes only) ------------------------------------------

ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                         404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                         503: "overloaded_error"}
"""Anthropic's error type per status (https://docs.anthropic.com/en/api/errors); other 5xx: api_error."""


def anthropic_error_type(status: int) -> str:
    if status in ANTHROPIC_ERROR_TYPES:
        return ANTHROPIC_ERROR_TYPES[status]
    return "api_error" if status >= 500 else "invalid_request_error"


def anthropic_envelope(status: int, message: str, param: str | None = None) -> dict[str, Any]:
    """`{"type": "error", "error": {"type", "message"}}`. It has no `param`: the message names the
    field instead, as Anthropic's own do ("max_tokens: Field required")."""
    if param and param not in message:
        message = f"{param}: {message}"
    return {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}
