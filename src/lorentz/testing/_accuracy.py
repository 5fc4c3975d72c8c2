"""The accuracy contract, shared by the accuracy tests and the textbook counter-tests.

Bounds (issue: core): max relative error 2e-6 (float32, space norms up to 1e3) and 1e-12
(float64, up to 1e4); angles 2e-6 / 1e-12 rad absolute. Where one rounding of the inputs
moves the exact answer by more than a tenth of that, the bound is 4x that movement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import lorentz

from .._registry import OPERATIONS
from . import mpref
from ._assert import to_numpy
from ._contract import BOUND, MAX_NORM
from ._strategies import curvatures, point_pairs, points, tangent_vectors

__all__ = ["BOUND", "MAX_NORM", "MAX_SCALED_DIST", "OPS", "Op", "cases", "measure", "ulp"]
MAX_SCALED_DIST = 50.0  # sqrt(c) * distance, tangent norm


@dataclass(frozen=True)
class Op:
    name: str
    lib: Callable  # lorentz function
    ref: Callable  # mpref function, same positional arguments, then c
    kind: str  # which inputs: point, tangent0, pair, tangent, transport
    angle: bool = False


# every registered public operation with an mpmath oracle and no argument beyond its arrays;
# an all-pairs one ("rows") is measured on one pair, as a 1 x 1 call
OPS = {
    name: Op(name, getattr(lorentz, name), getattr(mpref, op.oracle), op.inputs, op.angle)
    for name, op in OPERATIONS.items()
    if op.oracle and op.public and not op.extra_required
}


def ulp(dtype: str) -> Callable[[float], float]:
    t = np.dtype(dtype).type
    return lambda v: float(np.spacing(abs(t(v))))


@st.composite
def cases(draw, name: str, dtypes=("float32", "float64")):
    """(dtype, c, args): args are numpy arrays in dtype, the exact inputs of the reference."""
    kind = OPS[name].kind
    dtype = draw(st.sampled_from(dtypes))
    c = draw(curvatures())
    kw = dict(c=c, dtype=dtype, max_norm=MAX_NORM[dtype])
    if kind == "point":
        return dtype, c, (draw(points(**kw)),)
    if kind == "ball":  # a point of the Poincare ball, rounded to dtype, strictly inside it
        p = np.array(mpref.to_poincare(draw(points(**kw)), c), dtype=np.float64).astype(dtype)
        assume(c * float(np.sum(p.astype(np.float64) ** 2)) < 1)
        return dtype, c, (p,)
    if kind in ("pair", "distinct", "rows"):
        distinct = kind == "distinct" or (kind == "rows" and OPS[name].angle)
        return dtype, c, draw(point_pairs(**kw, distinct=distinct))
    if kind == "tangent0":
        zero = np.zeros(draw(st.integers(2, 9)), dtype=dtype)
        u = draw(tangent_vectors(zero, c=c, dtype=dtype, max_norm=MAX_SCALED_DIST / math.sqrt(c)))
        return dtype, c, (u,)
    x, y = draw(point_pairs(**kw))
    u = draw(tangent_vectors(x, c=c, dtype=dtype, max_norm=MAX_SCALED_DIST / math.sqrt(c)))
    return dtype, c, ((x, u) if kind == "tangent" else (x, y, u))


def measure(op: Op, out, args, c, dtype) -> tuple[float, float]:
    """``(error, bound)`` of one output of ``op`` against its mpmath reference.

    ``args`` are the exact (rounded) inputs in ``dtype`` as numpy arrays; the error is relative
    to the largest component (absolute in radians for angles); the bound is :data:`BOUND` for
    ``dtype``, or 4x the answer's own movement under one rounding of the inputs where that is
    larger (computed only when the error exceeds :data:`BOUND`)."""
    try:
        ref = op.ref(*args, c)
    except ValueError:  # the reference itself is undefined (exterior angle at the origin)
        assume(False)
    values = to_numpy(out)
    err = mpref.error(values.tolist() if values.ndim else float(values), ref, absolute=op.angle)
    bound = BOUND[dtype]
    if err > bound:  # only then is the answer's own sensitivity worth its cost
        # a ball point has no time coordinate: every component is an input
        moved = mpref.movement(
            lambda *a: op.ref(*a, c), args, ulp(dtype), absolute=op.angle, ambient=op.kind != "ball"
        )
        bound = max(bound, 4 * moved)
    return err, bound


# hard cases of the contract, pinned as examples by the accuracy tests and run by the textbook
# counter-tests: (dtype, c, (x, y))
def _pt(dtype, c, *xs):
    xs = np.array(xs, dtype=dtype)
    return np.concatenate([[np.sqrt(1 / c + np.sum(xs.astype(np.float64) ** 2))], xs]).astype(dtype)


# near pairs far out, where the textbook acosh(-c<x,y>) loses everything
FAR_NEAR_32 = (
    "float32",
    1.0,
    (_pt("float32", 1.0, 1000.0, 0.0), _pt("float32", 1.0, 1000.0, 0.001)),
)
FAR_NEAR_64 = (
    "float64",
    0.37,
    (_pt("float64", 0.37, 9000.0, 1.0), _pt("float64", 0.37, 9000.0, 1.0 + 1e-6)),
)

# a near pair at moderate radius, and a radial step outward: acos and the
# textbook log lose most digits on both
NEAR_32 = ("float32", 1.0, (_pt("float32", 1.0, 1.0, 1.0), _pt("float32", 1.0, 1.001, 1.0)))
NEAR_64 = ("float64", 1.0, (_pt("float64", 1.0, 1.0, 1.0), _pt("float64", 1.0, 1.001, 1.0)))
RADIAL_32 = ("float32", 1.0, (_pt("float32", 1.0, 20.0, 0.0), _pt("float32", 1.0, 20.5, 0.0)))
RADIAL_64 = ("float64", 1.0, (_pt("float64", 1.0, 20.0, 0.0), _pt("float64", 1.0, 20.5, 0.0)))

# points one tiny normal number apart: the reference itself must not round 1 + u to 1
TINY_64 = (
    "float64",
    1.0,
    (_pt("float64", 1.0, 0.0, 2.2250738585072014e-308, 1.0), _pt("float64", 1.0, 0.0, 0.0, 1.0)),
)
