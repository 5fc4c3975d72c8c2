"""Barycenters: the Lorentzian centroid (Law et al., ICML 2019) and the Fréchet mean."""

from __future__ import annotations

import math

from . import _reference as ref
from ._backend import _broadcast, as_dtype, finish, is_concrete, prepare, to_work
from ._params import vectors
from ._series import dot, sq


def _sc(c, xp):
    return math.sqrt(c) if isinstance(c, float) else xp.sqrt(c)


def _boost(xs, bs, c, *, xp):
    """The points xs (..., N, n) seen from bs (..., 1, n): the Lorentz boost that takes b to
    the origin, on the unit hyperboloid (coordinates times sqrt(c)). Returns (time, space).

    Time: -c<x,b>_L = 1 + u, u from the cancellation-free form. Space:
    X - B (X0 + 1 + u) / (B0 + 1), which for x near a far b is a difference of two numbers of
    size |X|; written as D - B (u + X0 - B0) / (B0 + 1), D = X - B, X0 - B0 =
    D.(X + B) / (X0 + B0), every part is formed from the difference D."""
    sc = _sc(c, xp)
    X, B = sc * xs, sc * bs
    x0 = xp.sqrt(1.0 + sq(X, xp=xp))
    b0 = xp.sqrt(1.0 + sq(B, xp=xp))
    u = ref.cosh_minus_one(xs, bs, c, xp=xp)
    D = X - B
    dt = dot(D, X + B, xp=xp) / (x0 + b0)
    return 1.0 + u, D - B * ((u + dt) / (b0 + 1.0))


def _unboost(m0, ms, bs, c, *, xp):
    """Inverse of _boost for a point (m0, ms) of the unit hyperboloid near the origin: the
    space part (unscaled) of the point it is in the original frame."""
    sc = _sc(c, xp)
    B = sc * bs
    b0 = xp.sqrt(1.0 + sq(B, xp=xp))
    return (ms + B * (m0 + dot(B, ms, xp=xp) / (b0 + 1.0))) / sc


def _centroid_from(xs, w, bs, c, *, xp):
    """One pass: the normalised weighted sum in the frame where bs is the origin."""
    t, s = _boost(xs, bs, c, xp=xp)
    a0 = xp.sum(w * t, axis=-2, keepdims=True)
    a = xp.sum(w * s, axis=-2, keepdims=True)
    k = xp.sqrt(a0 * a0 - sq(a, xp=xp))  # -<a,a>_L on the unit hyperboloid
    return _unboost(a0 / k, a / k, bs, c, xp=xp)


def centroid_ref(xs, w, c, *, xp):
    """Space part (..., 1, n) of the Lorentzian centroid of xs (..., N, n) with weights
    w (..., N, 1).

    mu = a / (sqrt(c) sqrt(-<a,a>_L)), a = sum w_i x_i. Formed directly, -<a,a>_L = a0^2 -
    |as|^2 cancels like the textbook distance (a tight cluster 15 from the origin: x0^2 ~
    3e12 against a result ~1), and it is Lorentz-invariant: the sum is taken in the frame of
    a base point, where it is small, and the result moved back. Pass 1 takes the first point
    as the base, pass 2 the result of pass 1, which is then within rounding of the centroid
    (so |as| << a0: no cancellation left, whatever the spread of the points)."""
    first = _centroid_from(xs, w, xs[..., :1, :], c, xp=xp)
    return _centroid_from(xs, w, first, c, xp=xp)


def _prepare_set(x, weights, c, axis, what):
    """Validate a set of points and its weights; returns (xp, xs (..., N, n) in the compute
    dtype, w (..., N, 1) or None, c, dtype)."""
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"axis must be an int, got {type(axis).__name__}")
    xp, (xw,), cc, dtype, _ = prepare(c, cast=False, x=x)
    if not isinstance(cc, float) and cc.ndim > 1:
        raise ValueError(f"c must be a scalar for {what}, got shape {tuple(cc.shape[:-1])}")
    if x.ndim < 2:
        raise ValueError(f"x must have shape (..., N, n+1), got {tuple(x.shape)}")
    if not -x.ndim <= axis < x.ndim or axis % x.ndim == x.ndim - 1:
        raise ValueError(f"axis must name an axis of x other than the last (the coordinates), "
                         f"got {axis} for shape {tuple(x.shape)}")
    axis %= x.ndim
    if x.shape[axis] == 0:
        raise ValueError(f"x has no points along axis {axis}")
    xw = xp.moveaxis(xw, axis, -2)
    w = None
    if weights is not None:
        weights = vectors("weights", weights, xp, min_dim=0)
        _broadcast({"x without its last axis": tuple(x.shape[:-1]), "weights": tuple(weights.shape)})
        dtype = xp.result_type(dtype, weights.dtype)
        w = xp.broadcast_to(weights, tuple(x.shape[:-1]))
        w = xp.moveaxis(w, axis, -1)[..., None]
        if is_concrete(w):
            if bool(xp.any(w < 0)):
                raise ValueError("weights must be >= 0")
            if bool(xp.any(xp.sum(w, axis=-2) == 0)):
                raise ValueError(f"weights sum to 0 for some set of points; {what} is undefined")
    (xs,) = to_work(xp, xw[..., 1:])
    if w is not None:
        w = as_dtype(xp, w, xs.dtype)
    else:
        w = xp.ones_like(xs[..., :1])
    return xp, xs, w, cc, dtype


def centroid(x, weights=None, *, c=1.0, axis=-2):
    r"""The Lorentzian centroid (Law et al., ICML 2019) of points along ``axis``: the weighted
    sum normalised back onto the hyperboloid,

    .. math:: \mu = \frac{a}{\sqrt{c}\,\sqrt{-\langle a, a\rangle_L}}, \qquad
              a = \sum_i w_i x_i,

    the minimiser of :math:`\sum_i w_i \|x_i - \mu\|_L^2` (the squared Lorentzian distance,
    :func:`sqdist`). For two points with equal weights it is the geodesic midpoint.

    Parameters
    ----------
    x : array, shape (..., N, n+1)
        Points (only the space parts are read); ``axis`` names the axis of the N points.
    weights : array, optional
        Non-negative weights broadcasting against ``x.shape[:-1]`` (shape (N,) for the
        default ``axis``); default equal. Only their ratios matter.
    c : float or 0-d array
        Curvature is :math:`-c`.
    axis : int
        The axis of ``x`` that holds the points (not the last).

    Returns
    -------
    array, shape ``x.shape`` without ``axis``

    Notes
    -----
    The sum is taken in the frame of a base point (a Lorentz boost, under which the centroid
    is equivariant), where it has no cancellation: first the first point, then the result of
    that pass. Directly, :math:`-\langle a,a\rangle_L = a_0^2 - |a_s|^2` cancels like the
    textbook distance; a tight cluster 15 from the origin loses every digit in float32 (see
    docs/operations.md). Relative error <= 2e-6 (float32) / 1e-12 (float64), or 4x the
    answer's movement under one rounding of the inputs; finite gradients, also for a single
    point or coincident points. Negative weights, or weights summing to 0, raise
    ``ValueError`` (when values are concrete).

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]))
    >>> np.round(lorentz.centroid(x), 12).tolist()
    [1.0, 0.0, 0.0]
    """
    xp, xs, w, c, dtype = _prepare_set(x, weights, c, axis, "the centroid")
    ms = centroid_ref(xs, w, c, xp=xp)[..., 0, :]
    return finish(xp, ref.from_space(ms, c if isinstance(c, float) else c[..., 0, :], xp=xp), dtype)
