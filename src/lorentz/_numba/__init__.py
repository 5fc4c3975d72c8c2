"""Numba CPU kernels (extra ``numba``) for numpy arrays and torch CPU tensors, behind the
registry's contract (lorentz._registry). Importing this package imports neither numba nor
torch: the kernels load on first use (``ops`` for numpy, ``torch_ops`` for torch)."""

from __future__ import annotations

import importlib.util

ELEMENTWISE = frozenset(
    {
        "dist",
        "dist0",
        "expmap0",
        "logmap0",
        "expmap",
        "logmap",
        "transport",
        "half_aperture",
        "exterior_angle",
        "to_poincare",
        "from_poincare",
    }
)
# torch tensors get the elementwise kernels as custom operators with compiled backward passes
KERNELS = {
    "numpy": ELEMENTWISE | {"pairwise_dist", "knn", "pairwise_sqdist", "pairwise_exterior_angle"},
    "torch": ELEMENTWISE,
}

_installed: bool | None = None


_dtype_names: dict = {}


def _dtype_name(dtype) -> str:
    """ "float32" for numpy's and torch's float32 alike (str of a numpy dtype is slow: once)."""
    name = _dtype_names.get(dtype)
    if name is None:
        name = _dtype_names[dtype] = str(dtype).rsplit(".", 1)[-1]
    return name


def why_not(op, xp, c, dtype, device) -> str | None:
    """Why the numba kernels cannot take these inputs, or None when they can."""
    global _installed
    name = getattr(xp, "__name__", "")
    if name.endswith("torch") and op in KERNELS["torch"]:
        if getattr(device, "type", None) != "cpu":
            return "the numba kernels take CPU tensors"
    elif name not in ("array_api_compat.numpy", "numpy"):
        return "the numba kernels take numpy arrays" + (
            " or torch CPU tensors" if op in KERNELS["torch"] else ""
        )
    if _dtype_name(dtype) not in ("float32", "float64"):
        return f"the numba kernels take float32 or float64, got {dtype}"
    if not isinstance(c, float):
        return "the numba kernels take a scalar c"
    if _installed is None:
        _installed = importlib.util.find_spec("numba") is not None
    if not _installed:
        return "numba is not installed (pip install 'lorentz-geometry[numba]')"
    return None


_hosts: dict = {}


def _host(library: str):
    if library == "torch":
        from . import torch_ops

        _hosts[library] = torch_ops
    else:
        from . import ops

        _hosts[library] = ops
    return _hosts[library]


def kernel(op: str, library: str):
    """The host function of ``op`` for arrays of ``library`` (looked up at each call, so a
    test may replace it)."""
    host = _hosts.get(library) or _host(library)
    if op == "knn":  # the registry passes (queries, keys, c, k, dtype)
        return lambda q, keys, c, k, dtype: host.knn(q, keys, k, c, dtype)
    return getattr(host, op)
