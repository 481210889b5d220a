"""Convert a llama.cpp GGUF into an mlx-lm model directory (`assistants convert-gguf SRC DST`).

mlx cannot read the GGUF's k-quants itself, so every tensor is dequantized to float32 with the `gguf`
package, renamed to mlx-lm's parameter names, loaded into the mlx-lm model class (which checks every
name and shape), optionally re-quantized with mlx, and saved with the config and tokenizer files.
The directory appears atomically: it is built beside DST under a temporary name and renamed at the end.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from assistants.inference.mlx.config import architecture, gemma3_config
from assistants.inference.mlx.names import is_shifted_norm, mlx_name
from assistants.inference.mlx.tokenizer import write_tokenizer

log = logging.getLogger(__name__)

Quantize = Literal["q4", "q8"]
QUANT_BITS: dict[str, int] = {"q4": 4, "q8": 8}
QUANT_GROUP_SIZE = 64  # mlx-lm's default for affine quantization
DTYPES = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Conversion:
    """What convert_gguf produced."""

    path: Path
    config: dict[str, Any]
    tensors: int
    seconds: float


def read_metadata(reader: Any) -> dict[str, Any]:
    """Every GGUF key/value field as plain Python values (strings, numbers, lists)."""
    return {name: field.contents() for name, field in reader.fields.items()}


def convert_gguf(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    quantize: Quantize | None = None,
    progress: bool = True,
    dtype: str = "float32",
) -> Conversion:
    """Write an mlx-lm model directory at `dst` equivalent to the GGUF `src`.

    `quantize` re-quantizes the linear layers and the embedding with mlx (4 or 8 bits, group size 64);
    otherwise weights are stored as `dtype` (float32 keeps the dequantized values exactly).
    """
    _require_mlx()
    from gguf import GGUFReader

    started = time.monotonic()
    src, dst = Path(src), Path(dst)
    if quantize is not None and quantize not in QUANT_BITS:
        raise ValueError(f"quantize must be one of {sorted(QUANT_BITS)} or None, not {quantize!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, not {dtype!r}")
    if not src.is_file():
        raise FileNotFoundError(f"no GGUF file at {src}")
    if dst.exists():
        raise FileExistsError(f"{dst} already exists; remove it or choose another destination")

    reader = GGUFReader(src)
    meta = read_metadata(reader)
    architecture(meta)  # fail before the slow part if we cannot convert this model
    config = gemma3_config(meta)

    dst.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        weights = _dequantized_weights(reader, progress)
        if "lm_head.weight" in weights:
            config["tie_word_embeddings"] = False
        config = _save_model(weights, config, work, quantize, dtype)
        del weights
        write_tokenizer(meta, work, context_length=config["max_position_embeddings"])
        (work / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")
        work.chmod(0o755)  # mkdtemp makes it private; the result is an ordinary directory
        os.rename(work, dst)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    seconds = time.monotonic() - started
    log.info("converted %s -> %s in %.1f s", src, dst, seconds)
    return Conversion(path=dst, config=config, tensors=len(reader.tensors), seconds=seconds)


class MlxNotInstalledError(ImportError):
    """The `mlx` extra (mlx, mlx-lm, gguf, tokenizers) is not installed."""


def _require_mlx() -> None:
    """Fail before the slow part, with the fix in the message, when the mlx extra is missing."""
    import importlib.util

    needed = ("mlx", "mlx_lm", "gguf", "tokenizers")
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        raise MlxNotInstalledError(
            f"missing {', '.join(missing)}: install the mlx extra (pip install 'assistants[mlx]')"
        )


def _dequantized_weights(reader: Any, progress: bool) -> dict[str, Any]:
    """mlx-lm name -> float32 numpy array, norms shifted back to Gemma's `1 + w` convention."""
    import numpy as np
    from gguf.quants import dequantize
    from tqdm import tqdm

    weights: dict[str, Any] = {}
    for tensor in tqdm(reader.tensors, desc="dequantize", unit="tensor", disable=not progress):
        # The reader already presents the data in row-major order (GGUF lists dims innermost first),
        # so a [640, 1024] GGUF matrix arrives as (1024, 640): (out_features, in_features), as mlx wants.
        array = np.asarray(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32)
        expected = tuple(int(d) for d in reversed(tensor.shape))
        if array.shape != expected:
            array = array.reshape(expected)
        if is_shifted_norm(tensor.name):
            array = array - 1.0
        weights[mlx_name(tensor.name)] = array
    return weights


def _save_model(
    weights: Mapping[str, Any], config: dict[str, Any], directory: Path, quantize: Quantize | None, dtype: str
) -> dict[str, Any]:
    """Load the weights into mlx-lm's model class (strict: every parameter present, shapes equal),
    optionally quantize, and save `model.safetensors`. Returns the config to write."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.utils import _get_classes, quantize_model

    model_class, args_class = _get_classes(config)
    model = model_class(args_class.from_dict(config))
    target = getattr(mx, dtype)
    arrays = {name: mx.array(value).astype(target) for name, value in weights.items()}
    arrays = model.sanitize(arrays)
    model.load_weights(list(arrays.items()), strict=True)
    if quantize is not None:
        model, config = quantize_model(model, config, group_size=QUANT_GROUP_SIZE, bits=QUANT_BITS[quantize])
    parameters = dict(tree_flatten(model.parameters()))
    mx.eval(parameters)
    mx.save_safetensors(str(directory / "model.safetensors"), parameters, metadata={"format": "mlx"})
    return config
