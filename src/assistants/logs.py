"""Logging setup and the per-request / per-run context every log line carries.

`request_id`, `run_id` and `thread_id` live in contextvars, so a line logged anywhere below a request
(or inside a run's task) carries them without passing them around. Each response gets an
`x-request-id` header (the SDK exposes it as `APIStatusError.request_id`).
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from assistants.protocol.codec import encoder

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
run_id_var: ContextVar[str | None] = ContextVar("run_id", default=None)
thread_id_var: ContextVar[str | None] = ContextVar("thread_id", default=None)
_CONTEXT = {"request_id": request_id_var, "run_id": run_id_var, "thread_id": thread_id_var}

_SCOPE_KEY = "assistants.request_id"
# A client may send its own id (to correlate with its logs); accept it only if it is short and plain.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@contextmanager
def log_context(*, run_id: str | None = None, thread_id: str | None = None) -> Iterator[None]:
    """Tag every line logged inside the block (e.g. a worker executing one run)."""
    tokens = []
    if run_id is not None:
        tokens.append((run_id_var, run_id_var.set(run_id)))
    if thread_id is not None:
        tokens.append((thread_id_var, thread_id_var.set(thread_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            if not hasattr(record, name):
                setattr(record, name, var.get())
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        tags = " ".join(f"{name}={value}" for name in _CONTEXT if (value := getattr(record, name, None)))
        return f"{line} [{tags}]" if tags else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT:
            if value := getattr(record, name, None):
                entry[name] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return encoder.encode(entry).decode()


def setup_logging(*, log_format: str = "text", debug: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(_ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # uvicorn's access log duplicates our request metrics (its error log is kept); alembic narrates
    # every plugin it sets up at INFO.
    for noisy in ("uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)


def request_id(scope: Scope) -> str:
    """This request's id, minted on first use (also for paths that matched no route)."""
    current = scope.get(_SCOPE_KEY)
    if not isinstance(current, str):
        sent = next((value for name, value in scope.get("headers", ()) if name == b"x-request-id"), b"")
        text = sent.decode("latin-1")
        current = text if _CLIENT_ID.fullmatch(text) else f"req_{uuid.uuid4().hex}"
        scope[_SCOPE_KEY] = current  # type: ignore[literal-required]
    return current


class RequestContextMiddleware(ASGIMiddleware):
    """Binds request_id (and the thread/run ids of the path) for the handler's log lines."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        params = scope.get("path_params") or {}
        tokens = [(request_id_var, request_id_var.set(request_id(scope)))]
        for name in ("thread_id", "run_id"):
            if isinstance(value := params.get(name), str):
                tokens.append((_CONTEXT[name], _CONTEXT[name].set(value)))
        try:
            await next_app(scope, receive, send)
        finally:
            for var, token in reversed(tokens):
                var.reset(token)


async def add_request_id_header(message: Message, scope: Scope) -> None:
    """An app `before_send` hook, so error responses and unmatched paths get the header too."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)["x-request-id"] = request_id(scope)
