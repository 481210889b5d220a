"""llama-cpp-python's high-level `Llama`, with its weights loaded as our engine loads them: not repacked.

`Llama` has no parameter for llama.cpp's `use_extra_bufts` (`--no-repack`), so `unpacked_llama` hands
it model parameters with that field off while it loads. Two reasons:
* on a CPU with AMX (these VMs' Sapphire Rapids Xeons), the AMX matmul that repacking selects in the
  llama.cpp llama-cpp-python 0.3.36 vendors segfaults in decode: Gemma 3 270M Q4_K_M crashed on a
  7-token prompt at 1 and at 2 threads, every time;
* repacked weights round differently from plain ones (`inference.gguf`'s module docstring), so a
  reference decode must not repack either, or it is not our engine's reference.
Used for GGUF embedding models (`retrieval.embedder`), and by the tests and benchmarks that compare
our engine with plain llama-cpp-python.
"""

from __future__ import annotations

import threading
from typing import Any

_loading = threading.Lock()
"""The default-parameters function is swapped module-wide while one `Llama` loads."""


def unpacked_llama(model_path: str, **kwargs: Any) -> Any:
    """`llama_cpp.Llama(model_path, **kwargs)`, loaded without weight repacking."""
    import llama_cpp
    from llama_cpp import llama_cpp as low_level

    with _loading:
        defaults = low_level.llama_model_default_params

        def without_repacking() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        low_level.llama_model_default_params = without_repacking
        try:
            return llama_cpp.Llama(model_path=model_path, **kwargs)
        finally:
            low_level.llama_model_default_params = defaults
