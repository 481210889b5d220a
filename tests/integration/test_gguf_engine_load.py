"""The GGUF engine loads in-process with and without its progress bar (benchmarks and tools use both)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistants.inference.gguf import GGUFEngine


@pytest.mark.parametrize("progress", [False, True])
def test_engine_loads_with_or_without_progress(bundled_model: Path, progress: bool) -> None:
    engine = GGUFEngine(bundled_model, ctx_size=512, parallel=2, threads=1, progress=progress)
    try:
        # One unified pool shared by both sequences; either may grow to all of it.
        assert engine.limits.n_ctx_seq == engine.limits.n_ctx == 512
        assert engine.tokenize("Hello", add_special=True)[0] == 2  # Gemma's <bos>, added by the tokenizer
    finally:
        engine.close()
