"""The one place that decides which implementation runs: "reference" (the array-API core),
"numba" (compiled CPU kernels for numpy arrays) or "triton" (fused kernels for torch tensors
on a GPU, or on the CPU through Triton's interpreter when TRITON_INTERPRET=1)."""

from __future__ import annotations

import importlib.util
import os

from array_api_compat import numpy as np_compat

IMPLEMENTATIONS = (None, "reference", "numba", "triton")

# Automatic choice: numba for numpy float32/float64 inputs once the work (pairs, or array
# elements for the origin maps) reaches these sizes. benchmarks/crossover.py measured the
# compiled kernels ahead at every size on a 2-core machine (benchmarks/overhead.py, one pair
# of float64 points: 35 us against 129 us), so the thresholds are 1; the first call in a process also pays numba's import and the load
# of its on-disk cache (about 1 s; about 4 s the very first time, when it compiles).
NUMBA_MIN_WORK = {
    "dist": 1,
    "pairwise_dist": 1,
    "knn": 1,
    "dist0": 1,
    "half_aperture": 1,
    "exterior_angle": 1,
    "to_poincare": 1,
    "from_poincare": 1,
    "expmap0": 1,
    "logmap0": 1,
    "expmap": 1,
    "logmap": 1,
}

# operations whose numba kernels also serve torch CPU tensors (they have compiled backward
# passes: lorentz._numba.torch_ops)
NUMBA_TORCH_OPS = {"dist", "dist0", "expmap0", "logmap0", "half_aperture", "exterior_angle",
                   "to_poincare", "from_poincare", "expmap", "logmap"}

# operations with Triton kernels (lorentz.meru.meru_loss dispatches on its own)
TRITON_OPS = {"dist", "pairwise_dist", "knn", "expmap0", "logmap0"}
# the kernels read float16, bfloat16 and float32; the all-pairs ones (pairwise_dist, knn) compute
# by the scheme _triton.precision picks per device and dtype, the others in float64
TRITON_DTYPES = ("float16", "bfloat16", "float32")

_numba_installed: bool | None = None
_triton_installed: bool | None = None


def _numba_missing(op, xp, c, dtype, device) -> str | None:
    global _numba_installed
    name = str(dtype).rsplit(".", 1)[-1]
    if xp is np_compat:
        pass
    elif getattr(xp, "__name__", "").endswith("torch") and op in NUMBA_TORCH_OPS:
        if getattr(device, "type", None) != "cpu":
            return "the numba kernels take CPU tensors"
    else:
        return ("the numba kernels take numpy arrays"
                + (" or torch CPU tensors" if op in NUMBA_TORCH_OPS else ""))
    if name not in ("float32", "float64"):
        return f"the numba kernels take float32 or float64, got {dtype}"
    if not isinstance(c, float):
        return "the numba kernels take a scalar c"
    if _numba_installed is None:
        _numba_installed = importlib.util.find_spec("numba") is not None
    if not _numba_installed:
        return "numba is not installed (pip install 'lorentz-geometry[numba]')"
    return None


def triton_missing(xp, c, dtype, device) -> str | None:
    """Why the Triton kernels cannot take these inputs, or None when they can."""
    global _triton_installed
    if not getattr(xp, "__name__", "").endswith("torch"):
        return "the triton kernels take torch tensors"
    if str(dtype).rsplit(".", 1)[-1] not in TRITON_DTYPES:
        return f"the triton kernels take float16, bfloat16 or float32, got {dtype}"
    if not isinstance(c, float) and c.numel() != 1:
        return "the triton kernels take a scalar c"
    on_gpu = getattr(device, "type", None) == "cuda"
    if not on_gpu and os.environ.get("TRITON_INTERPRET") != "1":
        return "the triton kernels take CUDA tensors (or CPU tensors with TRITON_INTERPRET=1)"
    if _triton_installed is None:
        _triton_installed = importlib.util.find_spec("triton") is not None
    if not _triton_installed:
        return "triton is not installed (pip install 'lorentz-geometry[triton]')"
    return None


# "triton:<scheme>" forces the arithmetic of the all-pairs kernels (lorentz._triton.precision;
# pairwise_dist, knn and meru_loss)
TRITON_SCHEMES = ("float64", "half", "split")


def split_scheme(implementation):
    """(implementation, scheme or None): "triton:split" -> ("triton", "split"); any other value
    comes back as it is with None. A scheme name not in TRITON_SCHEMES, or a scheme after
    anything but "triton", raises ValueError naming ``implementation``."""
    if not isinstance(implementation, str) or ":" not in implementation:
        return implementation, None
    impl, scheme = implementation.split(":", 1)
    if impl != "triton" or scheme not in TRITON_SCHEMES:
        raise ValueError(
            f"implementation must be None, 'reference', 'numba', 'triton' or 'triton:<scheme>' "
            f"with <scheme> one of {', '.join(TRITON_SCHEMES)}; got {implementation!r}"
        )
    return impl, scheme


def select(op: str, implementation, xp, c, dtype, work: int, device=None) -> str:
    """'reference', 'numba' or 'triton' for ``op``; ValueError naming what is missing when a
    forced implementation cannot run on these inputs. None picks triton for CUDA tensors,
    numba for numpy arrays, the reference otherwise."""
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of None, 'reference', 'numba', 'triton'; "
            f"got {implementation!r}"
        )
    if implementation == "reference":
        return "reference"
    if implementation == "triton":
        missing = (f"there is no triton kernel for {op}" if op not in TRITON_OPS
                   else triton_missing(xp, c, dtype, device))
        if missing:
            raise ValueError(f"implementation='triton' cannot run here: {missing}")
        return "triton"
    if (implementation is None and op in TRITON_OPS and getattr(device, "type", None) == "cuda"
            and triton_missing(xp, c, dtype, device) is None):
        return "triton"
    missing = _numba_missing(op, xp, c, dtype, device)
    if implementation == "numba":
        if missing:
            raise ValueError(f"implementation='numba' cannot run here: {missing}")
        return "numba"
    return "numba" if missing is None and work >= NUMBA_MIN_WORK[op] else "reference"


def numba_ops(xp=np_compat):
    """The host side of the numba kernels for numpy arrays, or their torch operators."""
    if xp is np_compat:
        from ._numba import ops

        return ops
    from ._numba import torch_ops

    return torch_ops


def triton_ops():
    from ._triton import ops

    return ops
