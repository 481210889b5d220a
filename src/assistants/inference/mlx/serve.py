"""Opening the MLX engine for `assistants serve --engine mlx`.

Without `--model` the bundled GGUF is converted once into `<data_dir>/models/<name>.mlx` (the
converter writes into a temporary directory and renames it at the end, so an interrupted first start
leaves nothing a later start would mistake for a model) and that directory is served. Its stem is the
GGUF's, so the model id is the same under either engine.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from assistants.errors import StartupError
from assistants.inference.mlx.convert import MlxNotInstalledError, _require_mlx

if TYPE_CHECKING:
    from assistants.inference.mlx.engine import MlxEngine
    from assistants.settings import Settings

log = logging.getLogger("assistants.inference.mlx")


def bundled_mlx_model(data_dir: Path) -> Path:
    """The bundled model converted to MLX under the data dir, converting it on first use."""
    from assistants.inference.bundled import ensure_bundled_model
    from assistants.inference.mlx.convert import convert_gguf

    gguf = ensure_bundled_model(data_dir)
    target = gguf.with_suffix(".mlx")
    if not (target / "config.json").is_file():
        log.info("converting the bundled model to MLX into %s (once)", target)
        convert_gguf(gguf, target, progress=True)
    return target


def open_mlx_engine(settings: Settings) -> tuple[MlxEngine, Path]:
    try:
        _require_mlx()
    except MlxNotInstalledError as exc:
        raise StartupError(f"--engine mlx: {exc}") from None
    path = settings.model if settings.model is not None else bundled_mlx_model(settings.data_dir)
    if not (Path(path) / "config.json").is_file():
        raise StartupError(f"--engine mlx needs an MLX model directory (with config.json), "
                           f"not {path}; convert a GGUF with `assistants convert-gguf SRC DST`")
    from assistants.inference.mlx.engine import MlxEngine

    engine = MlxEngine(Path(path), ctx_size=settings.ctx_size, parallel=settings.parallel,
                       ctx_size_per_seq=settings.ctx_size_per_seq or None,
                       cache_slots=settings.kv_cache_slots,
                       kv_cache_dir=settings.data_dir / "kvcache",
                       kv_cache_disk=settings.kv_cache_disk * 1024 * 1024)
    return engine, Path(path)
