"""The accuracy contract, shared by the accuracy tests and the textbook counter-tests.

Bounds (issue: core): max relative error 2e-6 (float32, space norms up to 1e3) and 1e-12
(float64, up to 1e4); angles 2e-6 / 1e-12 rad absolute. Where one rounding of the inputs
moves the exact answer by more than a tenth of that, the bound is 4x that movement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from hypothesis import assume, strategies as st

import lorentz
from lorentz.testing import curvatures, mpref, point_pairs, points, tangent_vectors, to_numpy

BOUND = {"float32": 2e-6, "float64": 1e-12}
MAX_NORM = {"float32": 1e3, "float64": 1e4}
MAX_SCALED_DIST = 50.0  # sqrt(c) * distance, tangent norm


@dataclass(frozen=True)
class Op:
    name: str
    lib: Callable  # lorentz function
    ref: Callable  # mpref function, same positional arguments, then c
    kind: str  # which inputs: point, tangent0, pair, tangent, transport
    angle: bool = False


OPS = {
    op.name: op
    for op in [
        Op("dist", lorentz.dist, mpref.dist, "pair"),
        Op("dist0", lorentz.dist0, mpref.dist0, "point"),
        Op("expmap0", lorentz.expmap0, mpref.expmap0, "tangent0"),
        Op("logmap0", lorentz.logmap0, mpref.logmap0, "point"),
        Op("expmap", lorentz.expmap, mpref.expmap, "tangent"),
        Op("logmap", lorentz.logmap, mpref.logmap, "pair"),
        Op("transport", lorentz.transport, mpref.transport, "transport"),
        Op("half_aperture", lorentz.half_aperture, mpref.half_aperture, "point", angle=True),
        Op("exterior_angle", lorentz.exterior_angle, mpref.exterior_angle, "distinct", True),
        Op("to_poincare", lorentz.to_poincare, mpref.to_poincare, "point"),
        Op("from_poincare", lorentz.from_poincare, mpref.from_poincare, "ball"),
    ]
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
    if kind in ("pair", "distinct"):
        return dtype, c, draw(point_pairs(**kw, distinct=kind == "distinct"))
    if kind == "tangent0":
        zero = np.zeros(draw(st.integers(2, 9)), dtype=dtype)
        u = draw(tangent_vectors(zero, c=c, dtype=dtype, max_norm=MAX_SCALED_DIST / math.sqrt(c)))
        return dtype, c, (u,)
    x, y = draw(point_pairs(**kw))
    u = draw(tangent_vectors(x, c=c, dtype=dtype, max_norm=MAX_SCALED_DIST / math.sqrt(c)))
    return dtype, c, ((x, u) if kind == "tangent" else (x, y, u))


def measure(op: Op, out, args, c, dtype) -> tuple[float, float]:
    """(error, bound) of one output against the mpmath reference."""
    try:
        ref = op.ref(*args, c)
    except ValueError:  # the reference itself is undefined (exterior angle at the origin)
        assume(False)
    values = to_numpy(out)
    err = mpref.error(values.tolist() if values.ndim else float(values), ref, absolute=op.angle)
    bound = BOUND[dtype]
    if err > bound:  # only then is the answer's own sensitivity worth its cost
        # a ball point has no time coordinate: every component is an input
        moved = mpref.movement(lambda *a: op.ref(*a, c), args, ulp(dtype), absolute=op.angle,
                               ambient=op.kind != "ball")
        bound = max(bound, 4 * moved)
    return err, bound
