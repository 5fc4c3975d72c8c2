"""Point builders: points of the hyperboloid from their space parts, sets of points (spread
or clustered) for the barycenter tests, and a tight cluster far out."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import lorentz

from ._contract import MAX_NORM
from ._points import lift
from ._strategies import curvatures, directions, points


@st.composite
def point_sets(draw, dtypes=("float32", "float64"), fixed=False):
    """(dtype, c, points (N, n+1), weights (N,) or None): independent points, or a cluster
    around one point at relative spread 1e-7 .. 1. With ``fixed``, one shape (eager jax
    compiles every new shape)."""
    dtype = draw(st.sampled_from(dtypes))
    c = draw(curvatures())
    n = 3 if fixed else draw(st.integers(1, 4))
    count = 3 if fixed else draw(st.integers(1, 4))
    base = draw(points(n, c=c, dtype="float64", max_norm=MAX_NORM[dtype]))[1:]
    if draw(st.booleans()):
        rows = [
            draw(points(n, c=c, dtype="float64", max_norm=MAX_NORM[dtype]))[1:]
            for _ in range(count)
        ]
    else:
        spread = 10.0 ** draw(st.floats(-7, 0)) * max(1.0, float(np.linalg.norm(base)))
        rows = [base + spread * draw(st.floats(0, 1)) * draw(directions(n)) for _ in range(count)]
    x = lift(np.array(rows), c, dtype)
    w = None
    if draw(st.booleans()):
        w = np.array([draw(st.floats(0.01, 10)) for _ in range(count)], dtype=dtype)
    return dtype, c, x, w


def tight_cluster(dtype):
    """Eight points within 1e-3 of a point 15 from the origin (seeded): where the textbook
    centroid's normalisation loses every digit in float32."""
    rng = np.random.default_rng(5)
    base = lorentz.expmap0(np.array([0.0, 15.0, 0.0, 0.0]))[1:]
    rows = base + 1e-3 * rng.standard_normal((8, 3))
    return lift(rows, 1.0, dtype)
