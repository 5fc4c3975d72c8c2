"""The accuracy contract for operations with scalar, point and matrix arguments.

Error against the mpmath reference; where it exceeds the bound (2e-6 float32, 1e-12 float64)
the bound becomes 4x the answer's own movement when each input component is moved by one
ulp of its dtype in turn (accuracy.measure's rule, extended to scalars and to stacks of
points). A point's time coordinate (column 0 of a ``point`` argument) is derived, never read,
so it is not moved.
"""

from __future__ import annotations

import numpy as np

from ._assert import to_numpy

#: The accuracy contract: the largest error allowed against the mpmath reference, by dtype
#: (relative; absolute in radians for angles), unless the answer itself moves by more under
#: one rounding of the inputs (then 4x that movement).
BOUND = {"float32": 2e-6, "float64": 1e-12}
#: The largest space norm |xs| the contract is tested to, by dtype (any larger norm keeps it
#: too, to the representable radius; these are the hunts' ranges).
MAX_NORM = {"float32": 1e3, "float64": 1e4}


def _ulp(dtype, v):
    return float(np.spacing(abs(np.dtype(dtype).type(v))))


def movement(f, args, kinds, dtype, *, absolute=False):
    """Sum over every input component of |f(moved) - f(args)| (the first-order sensitivity to
    one rounding), relative to max|f(args)| unless ``absolute``. ``kinds``: per argument,
    "point" (last-axis index 0 not moved), "vector" (all moved), "scalar" or "fixed"."""
    from mpmath import mp  # imported here: `import lorentz.testing` needs no mpmath

    from . import mpref

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
    from . import mpref

    values = to_numpy(out).astype(np.float64)
    if isinstance(ref, list) and ref and isinstance(ref[0], list):
        ref = list(_flatten(ref))
        values = values.reshape(-1)
    return mpref.error(values.tolist() if values.ndim else float(values), ref, absolute=absolute)


def check(out, f, args, kinds, dtype, *, absolute=False, bound=None):
    """Assert that ``out`` keeps the accuracy contract; returns ``(error, bound)``.

    The bound is :data:`BOUND` for ``dtype``; where the error exceeds it, it becomes 4x the
    answer's own movement when each input component is moved by one ulp in turn.

    Parameters
    ----------
    out : array
        The computed answer (any backend; compared as float64 numpy).
    f : callable
        The exact answer for ``args``, e.g. a function of :mod:`lorentz.testing.mpref`
        (mpmath values, a number or nested lists).
    args : sequence
        The inputs ``out`` was computed from, as numpy arrays or floats in ``dtype``.
    kinds : sequence of str
        Per argument: ``"point"`` (the time coordinate is derived, so it is not moved),
        ``"vector"``, ``"scalar"`` or ``"fixed"`` (not moved).
    dtype : str
        ``"float32"`` or ``"float64"``: selects :data:`BOUND` and the size of one rounding.
    absolute : bool
        Absolute error (angles) instead of relative to the largest component.
    bound : float, optional
        A bound to use instead of :data:`BOUND`.

    Returns
    -------
    tuple of float
        ``(error, bound)``; an AssertionError when ``error > bound``.
    """
    ref = f(*args)
    err = error(out, ref, absolute=absolute)
    b = BOUND[dtype] if bound is None else bound
    if not err <= b:
        b = max(b, 4 * movement(f, args, kinds, dtype, absolute=absolute))
    assert err <= b, f"error {err:.3g} > bound {b:.3g}"
    return err, b
