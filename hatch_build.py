"""Build hook: compile the small cblas shim that lets mlx use scipy-openblas32 on Linux.

mlx's Linux wheel calls `cblas_sgemm` and friends, which bind to the reference BLAS it bundles unless
an optimized library exporting those names is loaded first; the one optimized BLAS on PyPI that
needs no system library (scipy-openblas32) prefixes its names. The shim is 40 lines of C with no
headers, so any C compiler builds it (installing llama-cpp-python already requires one). Without a
compiler the install still succeeds: mlx then runs on a system OpenBLAS, or on the slow reference
BLAS with a warning (see src/assistants/inference/mlx/blas.py).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/assistants/inference/mlx/cblas_shim.c")
TARGET = "assistants/inference/mlx/_cblas_shim.so"


def compile_shim(root: Path, output: Path) -> str | None:
    """Compile the shim to `output`; returns why not, or None on success."""
    compiler = shlex.split(os.environ.get("CC") or "cc")
    command = [*compiler, "-O2", "-shared", "-fPIC", "-o", str(output), str(root / SOURCE)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.strip() or f"exit status {done.returncode}"


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if not sys.platform.startswith("linux"):
            return
        root = Path(self.root)
        if version == "editable":  # next to blas.py in the source tree, where the editable import looks
            output = root / "src" / TARGET
        else:
            output = Path(tempfile.mkdtemp()) / "_cblas_shim.so"
        failure = compile_shim(root, output)
        if failure is not None:
            print(f"assistants: warning: the cblas shim for mlx was not built ({failure}); mlx on Linux "
                  f"will use a system OpenBLAS if present, else its slow reference BLAS", file=sys.stderr)
            return
        if version != "editable":
            build_data["force_include"][str(output)] = TARGET
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
