"""Loaded by pytest before it collects any test module.

mlx binds its BLAS once, at its first import (src/assistants/inference/mlx/blas.py). A test module that
imports mlx_lm at collection time would otherwise pin this whole pytest process to the reference BLAS
mlx's Linux wheel bundles, which made the in-process MLX tests ~15x slower; binding the optimized one
here, first, keeps every in-process MLX test on it.
"""

from assistants.inference.mlx import use_optimized_blas

use_optimized_blas()
