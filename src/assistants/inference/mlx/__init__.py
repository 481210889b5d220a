"""The MLX (mlx-lm) side of inference: converting a GGUF into an mlx-lm model directory.

Nothing here imports mlx at module import time, so `assistants` installs and runs without the `mlx`
extra; mlx, mlx-lm, gguf and tokenizers are imported by the functions that need them.
"""

from assistants.inference.mlx.config import SUPPORTED_ARCHITECTURES, UnsupportedModelError
from assistants.inference.mlx.convert import Conversion, convert_gguf

__all__ = ["SUPPORTED_ARCHITECTURES", "Conversion", "UnsupportedModelError", "convert_gguf"]
