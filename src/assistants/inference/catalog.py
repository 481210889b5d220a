"""What a models directory holds: every GGUF file and MLX model directory under a stable id.

Scanning never loads a model and never fails: a file that cannot be a model is listed as unavailable
with the reason, so one bad download does not stop the server (it fails only the requests naming it).
"""

from __future__ import annotations

import logging
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("assistants.inference.catalog")

GGUF_MAGIC = b"GGUF"
ALIASES_FILE = "models.toml"
"""Optional, in a models directory: `[aliases]` with `alias = "model id"` lines."""


@dataclass(frozen=True)
class ModelSpec:
    """One servable model: where it lives, which engine reads it, the ids it answers to."""

    id: str
    path: Path | None
    """None: the bundled model, assembled into the data dir on first load."""
    engine: str
    """`gguf`, `mlx`, or `openai` (the remote engines of `--engine openai`)."""
    aliases: tuple[str, ...] = ()
    unavailable: str | None = None
    """Why it can never load (not a GGUF file, no config.json, ...); None when it may."""


def scan_models_dir(directory: Path) -> list[ModelSpec]:
    """The models in one directory (not recursive), sorted by id; hidden files and models.toml skipped."""
    try:
        children = sorted(directory.iterdir())
    except OSError as exc:
        log.warning("models dir %s: %s", directory, exc.strerror or exc)
        return []
    specs = [_spec_of(child) for child in children
             if not child.name.startswith(".") and child.name != ALIASES_FILE]
    aliases = read_aliases(directory / ALIASES_FILE)
    return [ModelSpec(s.id, s.path, s.engine, tuple(a for a, target in aliases.items() if target == s.id),
                      s.unavailable) for s in specs]


def read_aliases(path: Path) -> dict[str, str]:
    """`alias -> id` from a models.toml; a broken file is logged and ignored (never breaks start-up)."""
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("aliases", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.warning("%s ignored: %s", path, exc)
        return {}
    if not isinstance(table, dict):
        log.warning("%s ignored: [aliases] must be a table of alias = \"model id\"", path)
        return {}
    return {str(alias): target for alias, target in table.items() if isinstance(target, str)}


def _spec_of(path: Path) -> ModelSpec:
    if path.is_dir():
        model_id = path.name.removesuffix(".mlx")
        if not (path / "config.json").is_file():
            return ModelSpec(model_id, path, "mlx", unavailable="a directory without config.json "
                                                                 "(not an MLX model directory)")
        return ModelSpec(model_id, path, "mlx")
    if path.suffix.lower() != ".gguf":
        return ModelSpec(path.name, path, "gguf",
                         unavailable="not a model (expected a .gguf file or an MLX model directory)")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        return ModelSpec(path.stem, path, "gguf", unavailable=f"unreadable: {exc.strerror or exc}")
    if magic != GGUF_MAGIC:
        return ModelSpec(path.stem, path, "gguf", unavailable="not a GGUF file (bad magic bytes)")
    return ModelSpec(path.stem, path, "gguf")


def merge(served: Sequence[ModelSpec], scanned: Iterable[ModelSpec]) -> list[ModelSpec]:
    """The served models first (the first is the default), then each directory's; a later model whose
    id repeats an earlier id or alias is left out with a warning (an id names one model), and one
    whose file is already served is left out silently (the default's own file, found again)."""
    out: list[ModelSpec] = []
    taken: set[str] = set()
    paths: set[Path] = set()
    for spec in [*served, *scanned]:
        resolved = spec.path.resolve() if spec.path is not None else None
        if resolved is not None and resolved in paths:
            continue
        if spec.id in taken:
            log.warning("model %s (%s) left out: its id is already taken", spec.id, spec.path)
            continue
        aliases = tuple(a for a in dict.fromkeys(spec.aliases) if a not in taken and a != spec.id)
        out.append(ModelSpec(spec.id, spec.path, spec.engine, aliases, spec.unavailable))
        taken |= {spec.id, *aliases}
        if resolved is not None:
            paths.add(resolved)
    return out
