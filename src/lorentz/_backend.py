"""Namespace resolution and argument validation shared by every public function.

Nothing here imports torch or jax: a library is detected from the type of an argument
(array-api-compat looks in ``sys.modules``), so ``import lorentz`` stays light.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from ._dask import is_dask

__all__ = ["prepare", "to_work", "as_dtype", "finish", "is_concrete", "curvature", "compute_dtype", "flag"]


# type -> namespace: array-api-compat's look-up depends on the type alone; a dict hit is
# cheaper than its checks and is traced cleanly by torch.compile.
_NAMESPACES: dict[type, Any] = {}


def _namespace_of(name: str, a: Any):
    ns = _NAMESPACES.get(type(a))
    if ns is None:
        if isinstance(a, (bool, int, float, complex)) or not is_array_api_obj(a):
            raise TypeError(f"{name} must be an array, got {type(a).__name__}")
        ns = _NAMESPACES[type(a)] = array_namespace(a)
    return ns


def _library(xp) -> str:
    return getattr(xp, "__name__", repr(xp)).rsplit(".", 1)[-1]


def namespace(**arrays):
    """The one array namespace of all named arrays; TypeError naming the two that differ."""
    xp = first = None
    for name, a in arrays.items():
        ns = _namespace_of(name, a)
        if xp is None:
            xp, first = ns, name
        elif ns is not xp:
            raise TypeError(
                f"{first} and {name} come from different array libraries "
                f"({_library(xp)} and {_library(ns)}); convert one of them"
            )
    return xp


# array type -> dtypes already found real floating: numpy's isdtype costs a microsecond, ten
# times the look-up, on every argument of every call. Keyed by type as _NAMESPACES is:
# torch.compile can compare neither modules nor a torch dtype with a numpy one.
_REAL_FLOATING: dict[type, set] = {}


def _check_dtype(name: str, a, xp) -> None:
    if a.dtype in _REAL_FLOATING.get(type(a), ()):
        return
    if not xp.isdtype(a.dtype, "real floating"):
        raise TypeError(f"{name} must have a real floating-point dtype, got {a.dtype}")
    _REAL_FLOATING.setdefault(type(a), set()).add(a.dtype)


def is_concrete(a) -> bool:
    """False while ``a`` is being traced (jax.jit, torch.compile): values cannot be inspected."""
    if "jax" in sys.modules:
        import jax

        if isinstance(a, jax.core.Tracer):
            return False
    if "torch" in sys.modules:
        import torch

        if isinstance(a, torch.Tensor) and torch.compiler.is_compiling():
            return False
    return True


def compute_dtype(xp, device):
    """float64 wherever the backend has it: products of two float32 are then exact, which is
    what removes the growth of the error with the radius (measured: 1e-4 at |xs| = 1e4 in
    float32 arithmetic, 7e-8 with float64 accumulation). jax without x64 and torch on MPS have
    no float64 and compute in float32."""
    name = getattr(xp, "__name__", "")
    if name.startswith("jax"):
        import jax

        if not jax.config.read("jax_enable_x64"):
            return xp.float32
    if name.endswith("torch") and getattr(device, "type", None) == "mps":
        return xp.float32
    return xp.float64


def _broadcast(shapes: dict[str, tuple]) -> tuple:
    out: list = []
    seen: dict[int, str] = {}
    for name, shape in shapes.items():
        for i, dim in enumerate(reversed(shape)):
            if i == len(out):
                out.append(dim)
                seen[i] = name
            elif out[i] == 1:
                out[i] = dim
                seen[i] = name
            elif dim != 1 and dim != out[i]:
                raise ValueError(
                    f"the batch shapes of {seen[i]} and {name} do not broadcast: "
                    + ", ".join(f"{k} {tuple(v)}" for k, v in shapes.items())
                )
    return tuple(reversed(out))


def curvature(c, xp, dtype, batch_shape: tuple):
    """Validate ``c`` (> 0, finite) and return it as a Python float or as an array of shape
    ``(..., 1)`` in the compute dtype, ready to broadcast against ``(..., n+1)`` arrays."""
    if isinstance(c, bool):
        raise TypeError("c must be a positive real number or a real floating-point array, got bool")
    if isinstance(c, (np.generic, np.ndarray)) and c.ndim == 0:
        if c.dtype.kind not in "iuf":
            raise TypeError(f"c must be a positive real number, got a numpy {c.dtype} scalar")
        c = float(c)  # a numpy scalar: no autograd to keep, and it goes with any library
    if isinstance(c, (int, float)):
        c = float(c)
        if not (math.isfinite(c) and c >= sys.float_info.min):
            # a subnormal c passes c > 0 but overflows 1/c (= x0^2 at the origin)
            raise ValueError(f"c must be finite and > 0 with 1/c finite (curvature is -c), got {c}")
        return c
    if isinstance(c, complex):
        raise TypeError("c must be real, got complex")
    if namespace(c=c) is not xp:
        raise TypeError(
            f"c comes from {_library(namespace(c=c))} but the points from {_library(xp)}"
        )
    _check_dtype("c", c, xp)
    _broadcast({"c": tuple(c.shape), "the points": batch_shape})
    if is_concrete(c):
        bad = ~(xp.isfinite(c) & (c >= xp.finfo(c.dtype).smallest_normal))  # 1/c finite
        if bool(xp.any(bad)):
            raise ValueError(
                f"c must be finite and > 0 (curvature is -c); found {c[bad][0]!r}"
                if c.ndim
                else f"c must be finite and > 0 (curvature is -c), got {c!r}"
            )
    return xp.astype(c, dtype)[..., None]


def prepare(c, *, rows: tuple[str, ...] = (), min_dim: int = 2, cast: bool = True, **arrays):
    """Resolve the namespace once, validate every argument, cast to the compute dtype.

    Returns ``(xp, arrays, c, dtype, batch_shape)``: the arrays in the compute dtype (in the
    order given), ``c`` from :func:`curvature`, the output dtype (the promoted input dtype)
    and the broadcast batch shape. Names in ``rows`` hold rows (pairwise functions): at least
    2-D, and left out of the batch shape;
    ``min_dim`` is the least last dimension (2 for ambient arrays, 1 for space parts).
    """
    xp = namespace(**arrays)
    names = list(arrays)
    dims = {}
    for name, a in arrays.items():
        _check_dtype(name, a, xp)
        if a.ndim == 0:
            raise ValueError(f"{name} must have shape (..., n+1), got a 0-d array")
        if name in rows and a.ndim < 2:
            raise ValueError(f"{name} must have shape (..., N, n+1), got {tuple(a.shape)}")
        dims[name] = a.shape[-1]
    first = names[0]
    for name in names[1:]:
        if dims[name] != dims[first]:
            raise ValueError(
                f"{first} and {name} must have the same last dimension (n+1), "
                f"got {dims[first]} and {dims[name]}"
            )
    if dims[first] is not None and dims[first] < min_dim:
        raise ValueError(
            f"{first} must have at least {min_dim} components in its last dimension"
            + (" (time and one space coordinate)" if min_dim == 2 else "")
            + f", got {dims[first]}"
        )
    batch = {n: tuple(a.shape[:-1]) for n, a in arrays.items() if n not in rows}
    batch_shape = _broadcast(batch) if batch else ()
    dtype = xp.result_type(*arrays.values())
    c = curvature(c, xp, compute_dtype(xp, getattr(arrays[first], "device", None)), batch_shape)
    values = list(arrays.values())
    return xp, (to_work(xp, *values) if cast else values), c, dtype, batch_shape


def as_dtype(xp, a, dtype):
    """``a`` in ``dtype``, without a copy when it is already."""
    return xp.astype(a, dtype) if a.dtype != dtype else a


def to_work(xp, *arrays):
    """The arrays in the compute dtype (see compute_dtype)."""
    work = compute_dtype(xp, getattr(arrays[0], "device", None))
    return [xp.astype(a, work) if a.dtype != work else a for a in arrays]


def flag(name: str, value) -> bool:
    """A True/False argument: anything else (0, 1, None, "no") would pick a shape or a branch
    by its truthiness, differently on different code paths, so it is refused by name."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def finish(xp, out, dtype, keepdim: bool | None = None):
    """Cast a result back to the input dtype; drop the reduced last axis unless ``keepdim``.
    A dask result gets its last axis back in one chunk (concatenating the time coordinate
    splits it), so outputs are chunked as the inputs are."""
    if out.ndim and is_dask(xp):
        out = out.rechunk({out.ndim - 1: -1})
    if keepdim is False:
        out = out[..., 0]
    return xp.astype(out, dtype) if out.dtype != dtype else out
