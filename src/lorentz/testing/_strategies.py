"""Hypothesis strategies that build valid inputs by construction (no filtering).

Points are drawn as a radius (log-uniform, or exactly 0) times a direction, rounded to the
requested dtype; the time coordinate is then derived from the *rounded* space part, so every
point lies on the hyperboloid to one rounding. Each strategy returns arrays of the library
``xp`` (numpy by default).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

__all__ = ["curvatures", "near_points", "point_pairs", "points", "tangent_vectors"]


def _log_uniform(lo: float, hi: float):
    return st.floats(math.log(lo), math.log(hi)).map(math.exp)


def _sometimes_zero(values):
    return st.integers(0, 9).flatmap(lambda k: st.just(0.0) if k == 0 else values)


def _dtype(dtype):
    return np.dtype(str(dtype).rsplit(".", 1)[-1])


def _convert(a: np.ndarray, xp, dtype):
    if xp is None:
        return a
    return xp.asarray(a, dtype=getattr(xp, str(dtype).rsplit(".", 1)[-1]))


def curvatures(min_value: float = 0.1, max_value: float = 10.0):
    """Curvature parameters c (curvature -c): 1.0 often, else log-uniform in the range."""
    if not 0 < min_value <= max_value:
        raise ValueError("need 0 < min_value <= max_value")
    return st.one_of(st.just(1.0), _log_uniform(min_value, max_value))


@st.composite
def directions(draw, n: int):
    """Unit vectors in R^n (float64)."""
    raw = np.array(draw(st.lists(st.floats(-1, 1), min_size=n, max_size=n)), dtype=np.float64)
    nrm = float(np.linalg.norm(raw))
    if nrm < 1e-3:
        raw = np.eye(n)[draw(st.integers(0, n - 1))]
        nrm = 1.0
    return raw / nrm


def _lift(xs: np.ndarray, c: float, dtype) -> np.ndarray:
    xs = xs.astype(dtype)
    x0 = math.sqrt(1.0 / c + math.fsum(float(t) ** 2 for t in xs))
    return np.concatenate([np.array([x0], dtype=dtype), xs])


@st.composite
def points(
    draw,
    n: int | None = None,
    *,
    c: float = 1.0,
    dtype="float64",
    min_norm: float = 1e-6,
    max_norm: float = 1e3,
    allow_zero: bool = True,
    xp=None,
):
    """One point, shape (n+1,), with space norm log-uniform in [min_norm, max_norm] (or, one
    time in ten with ``allow_zero``, exactly 0: the origin).

    ``n`` (space dimension) is drawn from 1..8 when None.
    """
    n = draw(st.integers(1, 8)) if n is None else n
    r = draw(
        _sometimes_zero(_log_uniform(min_norm, max_norm))
        if allow_zero
        else _log_uniform(min_norm, max_norm)
    )
    dt = _dtype(dtype)
    return _convert(_lift(r * draw(directions(n)), c, dt), xp, dtype)


@st.composite
def near_points(
    draw,
    x,
    *,
    c: float = 1.0,
    dtype="float64",
    min_step: float = 1e-7,
    max_step: float = 1.0,
    xp=None,
):
    """A point whose space part is x's moved by a log-uniform step in a random direction:
    near pairs at every distance from the rounding level up, radial and tangential."""
    xs = np.asarray(x, dtype=np.float64)[1:]
    step = draw(_log_uniform(min_step, max_step)) * max(1.0, float(np.linalg.norm(xs)))
    dt = _dtype(dtype)
    return _convert(_lift(xs + step * draw(directions(xs.shape[0])), c, dt), xp, dtype)


@st.composite
def point_pairs(
    draw,
    n: int | None = None,
    *,
    c: float = 1.0,
    dtype="float64",
    max_norm: float = 1e3,
    distinct: bool = False,
    xp=None,
):
    """(x, y): y is independent of x, a near point, or (unless ``distinct``) x itself;
    with ``distinct`` neither point is the origin either."""
    x = draw(points(n, c=c, dtype=dtype, max_norm=max_norm, allow_zero=not distinct))
    kind = draw(st.sampled_from(["independent", "near", "near"] + ["same"] * (not distinct)))
    if kind == "independent":
        y = draw(
            points(x.shape[0] - 1, c=c, dtype=dtype, max_norm=max_norm, allow_zero=not distinct)
        )
    elif kind == "near":
        y = draw(near_points(x, c=c, dtype=dtype))
    else:
        y = x.copy()
    return _convert(x, xp, dtype), _convert(y, xp, dtype)


@st.composite
def tangent_vectors(
    draw,
    x,
    *,
    c: float = 1.0,
    dtype="float64",
    min_norm: float = 1e-6,
    max_norm: float = 50.0,
    xp=None,
):
    """A tangent vector at ``x`` with Lorentz norm log-uniform in [min_norm, max_norm] (or,
    one time in ten, exactly 0).

    The space part is a random direction scaled to the drawn norm; the time part is derived
    from tangency (u0 = xs.us / x0) before rounding.
    """
    xs = np.asarray(x, dtype=np.float64)[1:]
    x0 = math.sqrt(1.0 / c + float(xs @ xs))
    target = draw(_sometimes_zero(_log_uniform(min_norm, max_norm)))
    us = draw(directions(xs.shape[0]))
    # Lorentz norm of the tangent vector with space part us, without cancellation
    nx = float(xs @ xs)
    perp = us - (float(xs @ us) / nx) * xs if nx > 0 else us
    lnorm = math.sqrt(float(us @ us) / c + nx * float(perp @ perp)) / x0
    us = us * (target / lnorm)
    dt = _dtype(dtype)
    u = np.concatenate([[float(xs @ us) / x0], us]).astype(dt)
    return _convert(u, xp, dtype)
