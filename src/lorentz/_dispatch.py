"""The one place that decides which implementation runs: "reference" (the array-API core)
or "numba" (compiled CPU kernels for numpy arrays). "triton" is reserved for fused GPU
kernels, which this version does not have."""

from __future__ import annotations

import importlib.util

from array_api_compat import numpy as np_compat

IMPLEMENTATIONS = (None, "reference", "numba", "triton")

# Automatic choice: numba for numpy float32/float64 inputs once the work (pairs, or array
# elements for the origin maps) reaches these sizes. benchmarks/crossover.py measured the
# compiled kernels ahead at every size on a 2-core machine (1 pair: 78 us against 154 us),
# so the thresholds are 1; the first call in a process also pays numba's import and the load
# of its on-disk cache (about 1 s; about 4 s the very first time, when it compiles).
NUMBA_MIN_WORK = {
    "dist": 1,
    "pairwise_dist": 1,
    "knn": 1,
    "expmap0": 1,
    "logmap0": 1,
}

_numba_installed: bool | None = None


def _numba_missing(xp, c, dtype) -> str | None:
    global _numba_installed
    if xp is not np_compat:
        return "the numba kernels take numpy arrays"
    if dtype.name not in ("float32", "float64"):
        return f"the numba kernels take float32 or float64, got {dtype}"
    if not isinstance(c, float):
        return "the numba kernels take a scalar c"
    if _numba_installed is None:
        _numba_installed = importlib.util.find_spec("numba") is not None
    if not _numba_installed:
        return "numba is not installed (pip install 'lorentz-geometry[numba]')"
    return None


def select(op: str, implementation, xp, c, dtype, work: int) -> str:
    """'reference' or 'numba' for ``op``; ValueError naming what is missing when a forced
    implementation cannot run on these inputs."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of None, 'reference', 'numba', 'triton'; "
            f"got {implementation!r}"
        )
    if implementation == "reference":
        return "reference"
    if implementation == "triton":
        raise ValueError(
            "implementation='triton' is not available: this version has no fused GPU kernels; "
            "use None, 'reference' or 'numba'"
        )
    missing = _numba_missing(xp, c, dtype)
    if implementation == "numba":
        if missing:
            raise ValueError(f"implementation='numba' cannot run here: {missing}")
        return "numba"
    return "numba" if missing is None and work >= NUMBA_MIN_WORK[op] else "reference"


def numba_ops():
    from ._numba import ops

    return ops
