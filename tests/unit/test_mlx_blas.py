"""mlx's matrix products on Linux go through the OpenBLAS the `mlx` extra installs (blas.py), not the
reference BLAS its wheel bundles: checked in a fresh interpreter, since the binding happens once, at
mlx's first import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = """
import json
import numpy as np
from assistants.inference.mlx import blas
loaded = blas.use_optimized_blas()
import mlx.core as mx
a = np.random.default_rng(0).standard_normal((32, 640)).astype(np.float32)
b = np.random.default_rng(1).standard_normal((640, 256)).astype(np.float32)
product = np.asarray(mx.array(a) @ mx.array(b))
print(json.dumps({"loaded": loaded, "calls": blas.shim_calls(),
                  "error": float(np.abs(product - a @ b).max())}))
"""


def test_mlx_matrix_products_go_through_scipy_openblas() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert "scipy_openblas" in (probe["loaded"] or ""), "no shim: was it built at install (hatch_build.py)?"
    assert probe["calls"] >= 1
    assert probe["error"] < 1e-3
