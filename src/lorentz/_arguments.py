"""Namespace resolution and argument validation shared by every public function.

Nothing here imports torch or jax: a library is detected from the type of an argument
(array-api-compat looks in ``sys.modules``), so ``import lorentz`` stays light.
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_array_api_obj

from ._dask import is_dask

__all__ = [
    "as_dtype",
    "compute_dtype",
    "curvature",
    "finish",
    "flag",
    "is_concrete",
    "prepare",
    "to_work",
]


# type -> namespace: array-api-compat's look-up depends on the type alone; a dict hit is
# cheaper than its checks and is traced cleanly by torch.compile.
_NAMESPACES: dict[type, Any] = {}


def _refuse_masked(name: str, a: Any) -> None:
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array, whose mask no computation here would honour "
            f"(the compiled kernels read the data, array operations mix mask rules); pass "
            f"{name}.filled(...) or select the unmasked rows first"
        )


def _namespace_of(name: str, a: Any):
    ns = _NAMESPACES.get(type(a))
    if ns is None:
        _refuse_masked(name, a)  # never cached: refused on every call
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
    _refuse_masked("c", c)
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


# outputs below this size are not checked: any machine holds them, and reading the free
# memory would cost more than allocating them
CHECK_MEMORY_FROM = 1 << 28


def _host_memory() -> int | None:
    """Bytes the host can still give: Linux's MemAvailable plus free swap, capped by a cgroup
    (v2) limit, where a container's is lower than the machine's; elsewhere the physical RAM."""
    try:
        with open("/proc/meminfo") as f:
            info = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f)}
        free = info["MemAvailable"] + info.get("SwapFree", 0)
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, OSError, ValueError):  # no sysconf (Windows)
            return None
    try:
        with open("/sys/fs/cgroup/memory.max") as f, open("/sys/fs/cgroup/memory.current") as g:
            limit = f.read().strip()
            if limit != "max":
                free = min(free, int(limit) - int(g.read()))
    except (OSError, ValueError):
        pass
    return free


def available_memory(xp, device) -> int | None:
    """Bytes that a new array on ``device`` can take (None: not known, e.g. torch's meta
    device): the GPU's free memory plus what the library's allocator holds unused, else the
    host's (:func:`_host_memory`)."""
    name = getattr(xp, "__name__", "")
    kind = getattr(device, "type", None)
    if name.endswith("torch") and kind == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    if name.endswith("torch") and kind not in ("cpu", "mps", None):  # mps: unified memory
        return None
    if name.startswith("jax"):
        import jax

        platform = getattr(device, "platform", None) or jax.default_backend()  # None: traced
        if platform != "cpu":
            stats = (device if device is not None else jax.devices()[0]).memory_stats() or {}
            return (
                stats["bytes_limit"] - stats.get("bytes_in_use", 0)
                if "bytes_limit" in stats
                else None
            )
    if "cupy" in name:
        import cupy

        free, _ = cupy.cuda.runtime.memGetInfo()
        return free + cupy.get_default_memory_pool().free_bytes()
    return _host_memory()


def check_fits(
    what: str, shape: tuple, dtype, xp, device, *, copies: int = 1, instead: str
) -> None:
    """MemoryError at once when an output of ``shape`` and ``dtype``, held ``copies`` times at
    the peak, cannot fit in the memory available where it would live: computing it first
    would run for minutes before the allocation failed (or the OOM killer ended the process).
    ``instead`` says what to use."""
    if "torch" in sys.modules and sys.modules["torch"].compiler.is_compiling():
        return  # traced: no memory to read, and the shapes may be symbolic
    size = math.prod(shape) * (xp.finfo(dtype).bits // 8)
    if size * copies < CHECK_MEMORY_FROM:
        return
    free = available_memory(xp, device)
    if free is None or size * copies <= free:
        return
    held = f" ({copies} copies at the peak: {size * copies / 2**30:.1f} GiB)" if copies > 1 else ""
    raise MemoryError(
        f"{what}: the output, shape {tuple(shape)} of {dtype}, is {size / 2**30:.1f} GiB{held}, "
        f"more than the {max(free, 0) / 2**30:.1f} GiB of memory available; {instead}"
    )


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
