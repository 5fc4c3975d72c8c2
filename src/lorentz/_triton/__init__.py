"""Fused Triton kernels (extra ``triton``) for torch tensors on a GPU, or on the CPU through
Triton's interpreter (TRITON_INTERPRET=1), behind the registry's contract (lorentz._registry).
Importing this package imports neither torch nor triton: ``ops`` loads on first use."""

from __future__ import annotations

import importlib.util
import os

# each operation with kernels: the jit functions of ``kernels`` it launches (the compile
# tests build every one for each GPU architecture from this table)
COMPILED = {
    "dist": ("dist_kernel", "dist_grad_kernel"),
    "pairwise_dist": ("pairwise_dist_kernel",),
    "pairwise_sqdist": ("pairwise_dist_kernel",),
    "pairwise_exterior_angle": ("pairwise_exterior_angle_kernel",),
    "knn": ("pairwise_dist_kernel",),
    "expmap0": ("expmap0_kernel", "expmap0_grad_kernel"),
    "logmap0": ("logmap0_kernel", "logmap0_grad_kernel"),
    "neg_dist_lse": ("neg_dist_lse_kernel", "neg_dist_lse_grad_kernel"),
}
KERNELS = {"torch": frozenset(COMPILED)}
# the kernels read these and compute by the scheme ``precision`` picks per device and dtype
DTYPES = ("float16", "bfloat16", "float32")
# implementation="triton:<scheme>" forces the arithmetic of the all-pairs kernels
SCHEMES = ("float64", "half", "split")
SCHEME_OPS = frozenset({"pairwise_dist", "knn", "neg_dist_lse"})

_installed: bool | None = None


def why_not(op, xp, c, dtype, device) -> str | None:
    """Why the Triton kernels cannot take these inputs, or None when they can."""
    global _installed
    if not getattr(xp, "__name__", "").endswith("torch"):
        return "the triton kernels take torch tensors"
    if str(dtype).rsplit(".", 1)[-1] not in DTYPES:
        return f"the triton kernels take float16, bfloat16 or float32, got {dtype}"
    if not isinstance(c, float) and c.numel() != 1:
        return "the triton kernels take a scalar c"
    on_gpu = getattr(device, "type", None) == "cuda"
    if not on_gpu and os.environ.get("TRITON_INTERPRET") != "1":
        return "the triton kernels take CUDA tensors (or CPU tensors with TRITON_INTERPRET=1)"
    if _installed is None:
        _installed = importlib.util.find_spec("triton") is not None
    if not _installed:
        return "triton is not installed (pip install 'lorentz-geometry[triton]')"
    return None


def kernel(op: str, library: str, scheme: str | None = None):
    """The host function of ``op``; the kernels return the compute dtype, so the output dtype
    the registry passes last is not theirs to take. ``scheme`` (all-pairs kernels only)
    forces the arithmetic over the precision rule."""
    from . import ops

    forced = () if scheme is None else (scheme,)
    if op == "knn":  # the registry passes (queries, keys, c, k, dtype)

        def knn(q, keys, c, k, dtype):
            _check(scheme, dtype)
            return ops.knn(q, keys, k, c, *forced)

        return knn

    def host(*args):
        _check(scheme, args[-1])
        return getattr(ops, op)(*args[:-1], *forced)

    return host


def _check(scheme, dtype):
    if scheme is not None:
        from .precision import check_scheme

        check_scheme(scheme, dtype, "implementation")
