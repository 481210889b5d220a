"""The MLX (mlx-lm) side of inference: converting a GGUF into an mlx-lm model directory.

Nothing here imports mlx at module import time, so `assistants` installs and runs without the `mlx`
extra; mlx, mlx-lm, gguf and tokenizers are imported by the functions that need them. Importing this
package first makes mlx bind an optimized BLAS on Linux (see `blas.py`).
"""

from assistants.inference.mlx.blas import use_optimized_blas
from assistants.inference.mlx.config import SUPPORTED_ARCHITECTURES, UnsupportedModelError
from assistants.inference.mlx.convert import Conversion, MlxNotInstalledError, convert_gguf

use_optimized_blas()  # none of the imports above import mlx, so this still comes first

__all__ = [
    "SUPPORTED_ARCHITECTURES", "Conversion", "MlxNotInstalledError", "UnsupportedModelError", "convert_gguf",
    "use_optimized_blas",
]
