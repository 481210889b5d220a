"""Make mlx use an optimized BLAS on Linux.

The Linux `mlx[cpu]` wheel links the reference (netlib) BLAS it bundles: measured here, a 682-token
prompt took ≈250 s through gemma3 270M, and 16 rows through the 262k-vocabulary output layer 3.3 s.
A library that exports the same `cblas_*gemm` names, loaded with RTLD_GLOBAL *before* mlx is first
imported, makes the dynamic linker bind mlx's calls to it instead: the same prompt then takes 16 s.

First choice is what the `mlx` extra installs, so a fresh machine runs as fast as a developer's:
scipy-openblas32 (OpenBLAS with every CPU kernel and no system dependency) behind `_cblas_shim.so`,
which the install compiles from cblas_shim.c because scipy-openblas32 prefixes its names
(`scipy_cblas_sgemm`). Else a system OpenBLAS or BLIS; else a warning. On macOS mlx uses
Accelerate/Metal and this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

SHIM = Path(__file__).with_name("_cblas_shim.so")
_SYSTEM_CANDIDATES = ("openblas", "openblasp", "blis")
_GEMMS = ("sgemm", "dgemm", "cgemm")


class _Binding:
    """What this process bound mlx's BLAS calls to (set once: the binding cannot change after)."""

    loaded: str | None = None
    shim: ctypes.CDLL | None = None


def use_optimized_blas() -> str | None:
    """Load an optimized BLAS into the global symbol scope; returns what was loaded, or None.

    Must run before `import mlx.core` anywhere in the process to have any effect; safe to call again.
    """
    if _Binding.loaded is not None or not sys.platform.startswith("linux"):
        return _Binding.loaded
    if "mlx.core" in sys.modules:
        log.debug("mlx already imported; its BLAS binding can no longer change")
        return None
    _Binding.loaded = _packaged_openblas() or _system_blas()
    if _Binding.loaded is None:
        log.warning(
            "no optimized BLAS found: mlx on Linux falls back to its bundled reference BLAS, which makes "
            "prompt processing ~10x slower (reinstall with the `mlx` extra and a C compiler, or "
            "apt-get install libopenblas0-pthread)"
        )
    else:
        log.debug("mlx will use %s", _Binding.loaded)
    return _Binding.loaded


def shim_calls() -> int:
    """How many matrix products went through the shim (0 when it is not in use)."""
    if _Binding.shim is None:
        return 0
    return ctypes.c_ulong.in_dll(_Binding.shim, "assistants_calls").value


def _packaged_openblas() -> str | None:
    try:
        import scipy_openblas32
    except ImportError:
        return None
    if not SHIM.is_file():
        log.debug("%s was not built at install time; looking for a system BLAS", SHIM.name)
        return None
    library = Path(scipy_openblas32.get_lib_dir()) / scipy_openblas32.get_library(fullname=True)
    try:
        openblas = ctypes.CDLL(str(library))  # local scope: its prefixed names bind nothing by themselves
        shim = ctypes.CDLL(str(SHIM), mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        log.debug("could not load %s behind the shim: %s", library, exc)
        return None
    # One thread: OpenBLAS's pool spins while it waits, and beside mlx's own threads and the server on a
    # small or busy machine that stalled a first token for seconds; one thread already does the matrix
    # products ~15-35x faster than the reference BLAS (CPU time, measured here).
    openblas.scipy_openblas_set_num_threads(1)
    # Filled before anything can call through them: mlx is not imported yet.
    for name in _GEMMS:
        target = ctypes.cast(getattr(openblas, f"scipy_cblas_{name}"), ctypes.c_void_p).value
        ctypes.c_void_p.in_dll(shim, f"assistants_{name}").value = target
    _Binding.shim = shim
    return str(library)


def _system_blas() -> str | None:
    for name in _SYSTEM_CANDIDATES:
        path = ctypes.util.find_library(name)
        if path is None:
            continue
        try:
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        return path
    return None
