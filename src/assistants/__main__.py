"""Command line: `assistants serve | worker | migrate | convert-gguf` (also `python -m assistants ...`).

Start-up fails with ONE line on stderr and a non-zero exit (no traceback unless --debug). The port is
bound and the database migrated before the model loads, so the cheap mistakes are reported in
milliseconds, not after the model has been assembled and loaded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import uvicorn

from assistants.errors import StartupError
from assistants.logs import setup_logging
from assistants.settings import Settings, parse_cli_args

log = logging.getLogger("assistants")

WORKER_GAUGE_INTERVAL = 1.0
"""Seconds between a worker process's updates of its engine gauges (batch, slots, waiting)."""


def main(argv: Sequence[str] | None = None) -> int:
    try:
        command, settings, args = parse_cli_args(argv, os.environ)
    except StartupError as exc:  # a bad flag value or variable: there are no settings to log with yet
        print(f"assistants: error: {exc}", file=sys.stderr)
        return 1
    setup_logging(log_format=settings.log_format, debug=settings.debug)
    try:
        if command == "convert-gguf":
            return convert_gguf(args)
        if command == "migrate":
            migrate(settings)
            print(f"assistants: database at head: {mask_url(settings.database_url)}")
            return 0
        if command == "worker":
            return work(settings)
        return serve(settings)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if settings.debug:
            raise
        print(f"assistants: error: {describe(exc)}", file=sys.stderr)
        threading.excepthook = _quiet_thread_failure
        return 1


def describe(exc: BaseException) -> str:
    if isinstance(exc, StartupError):
        return str(exc)
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"


def mask_url(url: str) -> str:
    """The database URL with any password replaced by `***` (it is printed and logged)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def migrate(settings: Settings) -> None:
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"cannot create data directory {settings.data_dir}: {exc.strerror}") from exc
    from assistants.store.migrate import upgrade_to_head

    check_sqlite_directory(settings.database_url)
    previous_hook = threading.excepthook
    threading.excepthook = _quiet_thread_failure
    try:
        upgrade_to_head(settings.database_url)
    except Exception as exc:
        reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
        raise StartupError(f"cannot open database {mask_url(settings.database_url)}: {reason}") from exc
    threading.excepthook = previous_hook  # kept quiet on failure: the straggler may die any time after


def _quiet_thread_failure(args: threading.ExceptHookArgs) -> None:
    """A library thread left over from a failed start (aiosqlite's worker, after a failed connect,
    finds its event loop closed) must not print a traceback under the one-line error."""
    log.debug("thread %s ended with %r", args.thread.name if args.thread else "?", args.exc_value)


def check_sqlite_directory(url: str) -> None:
    """SQLite creates the file but not its directory; say so instead of `unable to open database file`."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception as exc:
        raise StartupError(f"invalid database URL {mask_url(url)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        directory = Path(parsed.database).parent
        if not directory.is_dir():
            raise StartupError(f"cannot open database {mask_url(url)}: directory {directory} does not exist")


def bind(settings: Settings) -> socket.socket:
    """Bind before anything slow, so a busy port is a one-line error, not a crash after the model load."""
    try:
        infos = socket.getaddrinfo(settings.host, settings.port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"cannot bind to {settings.host}:{settings.port}: {exc.strerror}") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(f"port {settings.port} on {settings.host} is already in use "
                               "(stop the other server or choose another --port)") from exc
        raise StartupError(f"cannot bind to {settings.host}:{settings.port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def check_files(settings: Settings) -> None:
    """Operator-given paths are checked up front; a typo should not cost a migration and a model load."""
    if settings.engine_urls and settings.engine != "openai":
        raise StartupError("--engine-url is for remote engines: add --engine openai")
    if settings.model is not None and not settings.model.exists():
        raise StartupError(f"model not found: {settings.model}")
    if settings.chat_template is not None and not settings.chat_template.is_file():
        raise StartupError(f"chat template not found: {settings.chat_template}")
    if settings.embedding_model is not None and not settings.embedding_model.is_file():
        raise StartupError(f"embedding model not found: {settings.embedding_model}")


def convert_gguf(args: argparse.Namespace) -> int:
    """Convert a GGUF into an MLX model directory; needs the `mlx` extra."""
    from assistants.inference.mlx import MlxNotInstalledError, UnsupportedModelError, convert_gguf

    quantize = None if args.quantize == "none" else args.quantize
    try:
        result = convert_gguf(args.src, args.dst, quantize=quantize, dtype=args.dtype)
    except (MlxNotInstalledError, UnsupportedModelError, FileExistsError, FileNotFoundError) as exc:
        raise StartupError(str(exc)) from exc
    print(f"converted {args.src} -> {result.path} ({result.tensors} tensors, {result.seconds:.1f} s)")
    return 0


def serve(settings: Settings) -> int:
    check_files(settings)
    sock = bind(settings)
    try:
        migrate(settings)
        return asyncio.run(_serve(settings, sock))
    finally:
        sock.close()
        _process_exiting()


async def _serve(settings: Settings, sock: socket.socket) -> int:
    from assistants.app import create_app
    from assistants.services import Services

    async with Services.open(settings) as services:
        app = create_app(settings, services)
        config = uvicorn.Config(
            app, log_level="debug" if settings.debug else "warning", lifespan="on",
            timeout_graceful_shutdown=5, log_config=None,
        )
        server = _Server(config, ready_line(settings, services))
        # uvicorn re-raises a caught SIGTERM once it has drained; with the default disposition that
        # would kill us before the services close. Ignoring that replay lets them close, then exit 0.
        previous = signal.signal(signal.SIGTERM, lambda *_: None)
        try:
            await server.serve(sockets=[sock])
        finally:
            signal.signal(signal.SIGTERM, previous)
        return 0 if server.started else 1


def work(settings: Settings) -> int:
    """A worker process: no HTTP; it decodes runs that any `serve` on the same database queued."""
    check_files(settings)
    migrate(settings)
    try:
        return asyncio.run(_work(settings))
    finally:
        _process_exiting()


def _process_exiting() -> None:
    from assistants import metrics

    metrics.process_exiting()  # its live gauges leave a shared PROMETHEUS_MULTIPROC_DIR's sums


async def _work(settings: Settings) -> int:
    from assistants.services import Services

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with Services.open(settings) as services:
        if services.worker is None:
            raise StartupError("a worker needs a model (drop --no-model)")
        model = ", ".join(services.models.ids()) if services.models is not None else "?"
        print(f"assistants: worker {services.worker.worker_id} decoding runs with {model} "
              f"({settings.engine}) — database {mask_url(settings.database_url)}",
              file=sys.stderr, flush=True)
        # No /metrics here sets the engine gauges at scrape time; with PROMETHEUS_MULTIPROC_DIR an
        # API process's /metrics shows these, at most one interval old.
        while not stop.is_set():
            if services.models is not None:
                services.models.publish_engine_gauges()
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: no task per wait (jobs.worker)
                async with asyncio.timeout(WORKER_GAUGE_INTERVAL):
                    await stop.wait()
    return 0


class _Server(uvicorn.Server):
    """Prints the ready line once it accepts connections."""

    def __init__(self, config: uvicorn.Config, line: str) -> None:
        super().__init__(config)
        self.ready_line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.ready_line, file=sys.stderr, flush=True)


def ready_line(settings: Settings, services: object) -> str:
    models = getattr(services, "models", None)
    ids = models.ids() if models is not None else []
    model = ids[0] + (f" (+{len(ids) - 1} more)" if len(ids) > 1 else "") if ids else None
    what = f"{model} ({settings.engine})" if model else "no model (--no-model)"
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    where = f"http://{host}:{settings.port}"
    exposure = "" if settings.host in {"127.0.0.1", "localhost", "::1"} else " (reachable from the network)"
    auth = "api keys required" if settings.api_keys else "no auth"
    return (f"assistants: serving {what} on {where}{exposure} — database {mask_url(settings.database_url)}"
            f" — {auth}")


if __name__ == "__main__":
    sys.exit(main())
