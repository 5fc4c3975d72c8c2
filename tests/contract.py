"""The accuracy contract for operations with scalar, point and matrix arguments.

Error against the mpmath reference; where it exceeds the bound (2e-6 float32, 1e-12 float64)
the bound becomes 4x the answer's own movement when each input component is moved by one
ulp of its dtype in turn (accuracy.measure's rule, extended to scalars and to stacks of
points). A point's time coordinate (column 0 of a ``point`` argument) is derived, never read,
so it is not moved.
"""

from __future__ import annotations

import numpy as np
from mpmath import mp

from lorentz.testing import mpref, to_numpy

BOUND = {"float32": 2e-6, "float64": 1e-12}


def _ulp(dtype, v):
    return float(np.spacing(abs(np.dtype(dtype).type(v))))


def movement(f, args, kinds, dtype, *, absolute=False):
    """Sum over every input component of |f(moved) - f(args)| (the first-order sensitivity to
    one rounding), relative to max|f(args)| unless ``absolute``. ``kinds``: per argument,
    "point" (last-axis index 0 not moved), "vector" (all moved), "scalar" or "fixed"."""
    with mp.workdps(mpref.DIGITS):
        base = f(*args)
        total = 0.0
        for k, (a, kind) in enumerate(zip(args, kinds)):
            if kind == "fixed":
                continue
            if kind == "scalar":
                new = list(args)
                new[k] = float(a) + _ulp(dtype, a)
                total += mpref.error(f(*new), base, absolute=True)
                continue
            arr = np.asarray(a, dtype=np.float64)
            for idx in np.ndindex(arr.shape):
                if kind == "point" and idx[-1] == 0:
                    continue
                moved = arr.copy()
                moved[idx] += _ulp(dtype, arr[idx])
                new = list(args)
                new[k] = moved
                total += mpref.error(f(*new), base, absolute=True)
        if absolute:
            return total
        flat = base if isinstance(base, list) else [base]
        scale = float(max(abs(r) for r in _flatten(flat)))
        return total / scale if scale else (0.0 if total == 0 else float("inf"))


def _flatten(v):
    for t in v:
        if isinstance(t, list):
            yield from _flatten(t)
        else:
            yield t


def error(out, ref, *, absolute=False):
    values = to_numpy(out).astype(np.float64)
    if isinstance(ref, list) and ref and isinstance(ref[0], list):
        ref = list(_flatten(ref))
        values = values.reshape(-1)
    return mpref.error(values.tolist() if values.ndim else float(values), ref, absolute=absolute)


def check(out, f, args, kinds, dtype, *, absolute=False, bound=None):
    """Assert the contract; returns (error, bound)."""
    ref = f(*args)
    err = error(out, ref, absolute=absolute)
    b = BOUND[dtype] if bound is None else bound
    if not err <= b:
        b = max(b, 4 * movement(f, args, kinds, dtype, absolute=absolute))
    assert err <= b, f"error {err:.3g} > bound {b:.3g}"
    return err, b
