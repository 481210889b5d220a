"""The one typed settings object. Built once from the CLI and the environment, then passed in.

Every flag `--some-flag` is mirrored by the environment variable `ASSISTANTS_SOME_FLAG`; the flag wins.
The environment is read here and by alembic's `migrations/env.py` (for a URL given to alembic directly).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistants.errors import StartupError

ENV_PREFIX = "ASSISTANTS_"


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Per-user data location: $XDG_DATA_HOME/assistants, else ~/.local/share/assistants."""
    xdg = environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "assistants"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    """Bind address. Loopback unless the operator says otherwise."""
    port: int = 8000
    """TCP port."""
    data_dir: Path = field(default_factory=lambda: default_data_dir(os.environ))
    """Holds the SQLite file and the assembled model cache."""
    db: str | None = None
    """SQLAlchemy async URL; None means a SQLite file in data_dir."""
    db_pool_size: int = 10
    """PostgreSQL: connections the pool keeps open."""
    db_max_overflow: int = 10
    """PostgreSQL: extra connections a burst may open beyond the pool."""
    db_pool_timeout: float = 10.0
    """PostgreSQL: seconds a request waits for a free connection before it answers 503."""
    db_statement_timeout: float = 30.0
    """PostgreSQL: seconds one statement may run (0: no limit); past it the request answers 503."""
    engine: str = "gguf"
    """Inference engine: `gguf` (llama-cpp-python), `mlx` (mlx-lm), or `openai` (remote engines)."""
    engine_urls: tuple[str, ...] = ()
    """`--engine openai`: the remote OpenAI-compatible engines (replicas of one model), e.g.
    `http://engine:8080` (a `/v1` suffix is allowed)."""
    engine_api_keys: tuple[str, ...] = field(default=(), repr=False)
    """Bearer keys for the engines: one for all, or one per URL in their order."""
    engine_models: tuple[str, ...] = ()
    """The model id to ask each engine for: one for all, or one per URL; none: the engine's first."""
    engine_concurrency: int = 0
    """Requests in flight per remote engine (its own batching does the work); 0: the engine's
    `total_slots` from /props, else --parallel."""
    model: Path | None = None
    """Model path (a GGUF file, or an MLX directory); None means the bundled Gemma 3 270M."""
    model_alias: str | None = None
    """Id the model is served under; defaults to the file or directory name."""
    models_dirs: tuple[Path, ...] = ()
    """Directories of further models (GGUF files, MLX directories), served by id, loaded on first use."""
    models_max: int = 4
    """Most models loaded at once; beyond it the least recently used idle one is unloaded."""
    sleep_idle: float = 0.0
    """Seconds a loaded model may stay idle before its memory is freed (0: never); it reloads on use."""
    ctx_size: int = 16384
    """KV cells shared by all sequences (live and cached prefixes); one sequence may use all of them.
    The bundled model's KV costs 18 KiB a cell: 288 MiB at the default."""
    ctx_size_per_seq: int = 0
    """Most tokens one sequence may hold; 0 means the whole --ctx-size."""
    kv_cache_slots: int | None = None
    """Finished sequences kept as cached prefixes for reuse; None means 2 x parallel, 0 turns reuse off."""
    kv_cache_disk: int = 1024
    """MiB of thread caches kept on disk (data_dir/kvcache) across restarts; 0 turns persistence off."""
    parallel: int = 8
    """Maximum sequences decoded together in one batch; more requests wait in a queue."""
    max_tool_rounds: int = 10
    """Tool-call rounds one run may make; the turn after the last one must answer in text."""
    min_p: float = 0.05
    """Sampled tokens must be at least this likely relative to the most likely one (llama.cpp's and
    llama-server's default, 0.05). The small bundled models, sampled from the whole distribution at
    OpenAI's temperature 1, drift off into endless text: the README's `Hello` on SmolLM2 ran to the
    2048-token cap in 2 of 5 runs without it, and ended in at most 73 tokens in 10 of 10 with it.
    0 samples the whole distribution, as OpenAI's temperature and top_p alone define it."""
    max_output_tokens: int = 2048
    """Most tokens one answer decodes when its request sets no limit (`max_tokens`,
    `max_completion_tokens`, `max_output_tokens`), as each OpenAI model has its own output limit: a
    small local model sampled at temperature 1 now and then never stops, and would hold a batch slot
    until the context is full (16k tokens: minutes on a CPU). 0: no cap but the context. A limit the
    request sets is bounded by the context only."""
    threads: int | None = None
    """Decode threads; None means the number of CPU cores."""
    chat_template: Path | None = None
    """A Jinja chat template file that overrides the model's own."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Largest accepted request body (413 above it)."""
    debug: bool = False
    """Show tracebacks and debug logs."""
    load_model: bool = True
    """False serves the store routes without loading any model (used by store-only tests)."""
    run_worker: bool = True
    """False (`serve --no-worker`): this process serves the API only; `assistants worker` processes
    on the same database decode its runs."""
    delta_retention: float = 168.0
    """Hours after a run or background response was created before its delta events are deleted
    from the log, once it is over (`store.pruning`; its lifecycle events stay). 0 keeps them all."""
    heartbeat_timeout: float = 15.0
    """Seconds without a heartbeat after which a worker's runs are taken over by another worker."""
    worker_poll_interval: float | None = None
    """Seconds between a worker's sweeps and looks for queued jobs it was not told of (a backstop: jobs
    queued anywhere are announced through the event log); None: the heartbeat tick,
    `store.leases.heartbeat_tick` (a fifth of the heartbeat timeout, at most 3 s)."""
    debug_crash_on_metadata: str | None = None
    """Tests only, `KEY=VALUE`: the worker process exits at once when it decodes a run with that
    metadata (a "poison" run). Unset, nothing checks it."""
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    """Accepted bearer keys; empty means no auth. Env: comma-separated ASSISTANTS_API_KEY."""
    api_key_file: Path | None = None
    """A file with one key per line (blank lines and `#` comments skipped), added to api_keys."""
    cors_origins: tuple[str, ...] = ()
    """Origins allowed by CORS; empty means CORS is closed. `*` only when given explicitly."""
    log_format: str = "text"
    """`text` (human) or `json` (one object per line, with request_id/run_id/thread_id)."""
    embedding_model: Path | None = None
    """Embedding model: a GGUF file, or an ONNX file with tokenizer.json beside it; None = bundled MiniLM."""
    max_file_bytes: int = 512 * 1024 * 1024
    """Largest file accepted by POST /v1/files (413 above it); OpenAI's limit is 512 MB."""

    @property
    def database_url(self) -> str:
        return self.db or f"sqlite+aiosqlite:///{self.data_dir / 'assistants.db'}"


def _env(environ: Mapping[str, str], name: str) -> str | None:
    return environ.get(ENV_PREFIX + name.upper().replace("-", "_"))


def _bool(text: str) -> bool:
    return text.strip().lower() in {"1", "true", "yes", "on"}


def _csv(text: str) -> tuple[str, ...]:
    """Repeatable flags are mirrored by one comma-separated variable (keys and origins hold no commas)."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 0")
    return value


def _number(text: str, *, positive: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 if positive else value >= 0) or value == float("inf"):
        bound = "above 0" if positive else "of at least 0"
        raise argparse.ArgumentTypeError(f"{text!r} is not a number {bound}")
    return value


def _unit_float(text: str) -> float:
    value = _number(text, positive=False)
    if value > 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1")
    return value


def _positive_float(text: str) -> float:
    return _number(text, positive=True)


def _non_negative_float(text: str) -> float:
    return _number(text, positive=False)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistants", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the API and run a worker (applies migrations first)")
    _add_common(serve)
    serve.add_argument("--host", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8000)")
    _add_model(serve)
    serve.add_argument("--max-body-bytes", type=int, help="largest request body accepted")
    serve.add_argument("--api-key", dest="api_keys", action="append", metavar="KEY",
                       help="require `Authorization: Bearer KEY` on every route but /health (repeatable)")
    serve.add_argument("--api-key-file", type=Path, metavar="FILE", help="file with one API key per line")
    serve.add_argument("--cors-origin", dest="cors_origins", action="append", metavar="ORIGIN",
                       help="allow this browser origin (repeatable; `*` allows any)")
    serve.add_argument("--embedding-model", type=Path,
                       help="embedding model: GGUF, or ONNX with tokenizer.json beside it "
                            "(default: bundled MiniLM)")
    serve.add_argument("--max-file-bytes", type=_positive_int, help="largest uploaded file (default 512 MiB)")
    serve.add_argument("--no-model", dest="load_model", action="store_const", const=False,
                       help="serve store routes only, without loading a model")
    serve.add_argument("--no-worker", dest="run_worker", action="store_const", const=False,
                       help="do not decode runs here (`assistants worker` processes do)")

    worker = commands.add_parser("worker", help="decode runs queued in the database (no HTTP)")
    _add_common(worker)
    _add_model(worker)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    _add_common(migrate)

    convert = commands.add_parser("convert-gguf", help="convert a GGUF model into an MLX (mlx-lm) directory")
    convert.add_argument("src", type=Path, help="GGUF file to read")
    convert.add_argument("dst", type=Path, help="MLX model directory to create (must not exist)")
    convert.add_argument("--quantize", choices=["none", "q4", "q8"], default="none",
                         help="re-quantize with mlx (default none: dequantized weights)")
    convert.add_argument("--dtype", choices=["float32", "float16", "bfloat16"], default="float32",
                         help="dtype of unquantized weights (default float32: exact dequantized values)")
    convert.add_argument("--debug", action="store_const", const=True, help="tracebacks and debug logs")
    return parser


def _add_model(sub: argparse.ArgumentParser) -> None:
    serve = sub
    serve.add_argument("--engine", choices=["gguf", "mlx", "openai"],
                       help="inference engine (default gguf; openai: remote engines at --engine-url)")
    serve.add_argument("--engine-url", dest="engine_urls", action="append", metavar="URL",
                       help="--engine openai: a remote OpenAI-compatible engine (repeatable: replicas)")
    serve.add_argument("--engine-api-key", dest="engine_api_keys", action="append", metavar="KEY",
                       help="bearer key for the engines (once for all, or once per --engine-url)")
    serve.add_argument("--engine-model", dest="engine_models", action="append", metavar="ID",
                       help="model id to ask the engines for (once for all, or once per --engine-url)")
    serve.add_argument("--engine-concurrency", type=_positive_int, metavar="N",
                       help="requests in flight per remote engine (default: its slots, else --parallel)")
    serve.add_argument("--model", type=Path,
                       help="GGUF file or MLX directory (default: bundled SmolLM2-135M-Instruct; "
                            "with --engine mlx, bundled Gemma 3 270M)")
    serve.add_argument("--model-alias", help="model id to serve under")
    serve.add_argument("--models-dir", dest="models_dirs", action="append", type=Path, metavar="DIR",
                       help="directory of further GGUF files / MLX model dirs, served by id (repeatable)")
    serve.add_argument("--models-max", type=_positive_int,
                       help="most models loaded at once; LRU idle ones are unloaded (default 4)")
    serve.add_argument("--sleep-idle", type=_non_negative_float, metavar="SECONDS",
                       help="unload a model idle this long; it reloads on its next request (default 0: off)")
    serve.add_argument("--ctx-size", type=int,
                       help="KV cells shared by all sequences; one may use all of them (default 16384)")
    serve.add_argument("--ctx-size-per-seq", type=int,
                       help="cap on one sequence's tokens (default: --ctx-size)")
    serve.add_argument("--kv-cache-slots", type=int,
                       help="finished sequences kept for prefix reuse (default 2 x --parallel; 0: off)")
    serve.add_argument("--kv-cache-disk", type=int, metavar="MIB",
                       help="MiB of thread KV caches persisted in the data dir (default 1024; 0: off)")
    serve.add_argument("--parallel", type=int, help="sequences decoded together")
    serve.add_argument("--threads", type=int, help="decode threads")
    serve.add_argument("--max-tool-rounds", type=_positive_int,
                       help="tool-call rounds a run may make before it must answer (default 10)")
    serve.add_argument("--min-p", type=_unit_float, metavar="P",
                       help="sample only tokens at least P times as likely as the most likely one "
                            "(default 0.05, as llama.cpp; 0: the whole distribution)")
    serve.add_argument("--max-output-tokens", type=_non_negative_int, metavar="N",
                       help="most tokens an answer decodes when its request sets no limit "
                            "(default 2048; 0: until the context is full)")
    serve.add_argument("--chat-template", type=Path, help="Jinja chat template file overriding the model's")
    serve.add_argument("--delta-retention", type=_non_negative_float, metavar="HOURS",
                       help="delete a finished run's or response's delta events this long after it was "
                            "created; lifecycle events stay (default 168; 0: keep them)")
    serve.add_argument("--heartbeat-timeout", type=float,
                       help="seconds without a heartbeat before a worker's runs are taken over (default 15)")
    serve.add_argument("--worker-poll-interval", type=_positive_float, metavar="SECONDS",
                       help="worker sweeps and looks for unannounced jobs this often (default: the "
                            "heartbeat tick, min(3, --heartbeat-timeout / 5))")
    serve.add_argument("--debug-crash-on-metadata", metavar="KEY=VALUE", help=argparse.SUPPRESS)


def _add_common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--data-dir", type=Path, help="data directory (SQLite file, model cache)")
    sub.add_argument("--db", help="database URL (default: SQLite in the data dir)")
    sub.add_argument("--db-pool-size", type=_positive_int, help="PostgreSQL pool connections (default 10)")
    sub.add_argument("--db-max-overflow", type=_non_negative_int,
                     help="PostgreSQL connections beyond the pool under a burst (default 10)")
    sub.add_argument("--db-pool-timeout", type=_positive_float,
                     help="seconds to wait for a pooled connection before answering 503 (default 10)")
    sub.add_argument("--db-statement-timeout", type=_non_negative_float,
                     help="PostgreSQL statement_timeout in seconds, 0 for none (default 30)")
    sub.add_argument("--debug", action="store_const", const=True, help="tracebacks and debug logs")
    sub.add_argument("--log-format", choices=["text", "json"], help="log line format (default text)")


_CASTS: dict[str, Callable[[str], object]] = {
    "port": int, "ctx_size": int, "ctx_size_per_seq": int, "kv_cache_slots": int, "kv_cache_disk": int,
    "parallel": int, "threads": int, "max_body_bytes": int,
    "max_tool_rounds": _positive_int, "max_output_tokens": _non_negative_int, "min_p": _unit_float,
    "db_pool_size": _positive_int, "db_max_overflow": _non_negative_int,
    "db_pool_timeout": _positive_float, "db_statement_timeout": _non_negative_float,
    "data_dir": Path, "model": Path, "chat_template": Path, "debug": _bool, "load_model": _bool,
    "run_worker": _bool, "heartbeat_timeout": float, "worker_poll_interval": _positive_float,
    "delta_retention": _non_negative_float,
    "api_keys": _csv, "api_key_file": Path, "cors_origins": _csv,
    "embedding_model": Path, "max_file_bytes": _positive_int,
    "engine_urls": _csv, "engine_api_keys": _csv, "engine_models": _csv, "engine_concurrency": _positive_int,
    "models_dirs": lambda text: tuple(Path(part) for part in text.split(os.pathsep) if part),
    "models_max": _positive_int, "sleep_idle": _non_negative_float,
}

# Fields whose flag is singular (`--api-key`, repeatable) are mirrored by the singular variable name.
_ENV_NAMES = {"api_keys": "api_key", "cors_origins": "cors_origin", "engine_urls": "engine_url",
              "engine_api_keys": "engine_api_key", "engine_models": "engine_model",
              "models_dirs": "models_dir"}


def read_api_key_file(path: Path) -> tuple[str, ...]:
    """One key per line; blank lines and `#` comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise StartupError(f"--api-key-file {path}: {reason}") from None
    keys = tuple(line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#"))
    if not keys:
        raise StartupError(f"--api-key-file {path}: no keys in file")
    return keys


def settings_from_args(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> Settings:
    """Merge parsed flags over ASSISTANTS_* environment variables over the defaults."""
    values: dict[str, object] = {}
    for name in Settings.__dataclass_fields__:
        flag_value = getattr(args, name, None)
        if flag_value is not None:
            values[name] = flag_value
            continue
        env_name = _ENV_NAMES.get(name, name)
        env_value = _env(environ, env_name)
        if env_value not in (None, ""):
            cast = _CASTS.get(name, str)
            try:
                values[name] = cast(env_value)
            except (ValueError, argparse.ArgumentTypeError) as exc:
                variable = ENV_PREFIX + env_name.upper()
                raise StartupError(f"{variable}={env_value!r}: {exc}") from None
    if "data_dir" not in values:
        values["data_dir"] = default_data_dir(environ)
    for name in ("cors_origins", "engine_urls", "engine_api_keys", "engine_models", "models_dirs"):
        values[name] = tuple(values.get(name, ()))  # type: ignore[arg-type]
    values["api_keys"] = _api_keys(values)
    return Settings(**values)  # type: ignore[arg-type]


def _api_keys(values: Mapping[str, object]) -> tuple[str, ...]:
    keys: tuple[str, ...] = tuple(values.get("api_keys", ()))  # type: ignore[arg-type]
    key_file = values.get("api_key_file")
    if isinstance(key_file, Path):
        keys += read_api_key_file(key_file)
    if any(not key.isprintable() or not key or " " in key for key in keys):
        raise StartupError("--api-key: keys must be non-empty printable text without spaces")
    return keys


def parse_cli_args(
    argv: Sequence[str] | None, environ: Mapping[str, str]
) -> tuple[str, Settings, argparse.Namespace]:
    """(command, settings, the parsed arguments): convert-gguf's inputs are arguments, not settings."""
    args = build_parser().parse_args(argv)
    return args.command, settings_from_args(args, environ), args
