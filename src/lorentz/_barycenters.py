"""Barycenters: the Lorentzian centroid (Law et al., ICML 2019) and the Fréchet mean."""

from __future__ import annotations

import math

from . import _reference as ref
from . import _registry
from ._arguments import _broadcast, as_dtype, is_concrete, prepare, to_work
from ._boosts import boost
from ._guarded import asinhc, div0, hyp1, norm0, sinhc, sq, sqrt0
from ._params import vectors
from ._typing import Array


def _to_frame(X, B, *, xp):
    """The points X (..., N, n) in the frame where B (..., 1, n) is the origin, on the unit
    hyperboloid (space parts times sqrt(c)): (space parts S, sinh(d / 2), |S| = sinh(d)).

    The exact boost's direction is kept and its length set from the distance's
    cancellation-free form: far out (sqrt(c)|xs| = t) the boost's projections onto a rounded
    direction err by eps t; this way every point's distance from B is exact."""
    h = ref.sinh_half(X, B, 1.0, xp=xp)
    S = boost(X, B, -1.0, xp=xp)
    length = 2.0 * h * hyp1(h, xp=xp)
    return S * div0(length, norm0(S, xp=xp), xp=xp), h, length


def centroid_ref(xs, w, c, *, xp):
    """Space part (..., 1, n) of the Lorentzian centroid of xs (..., N, n) with weights
    w (..., N, 1).

    mu = a / (sqrt(c) sqrt(-<a,a>_L)), a = sum w_i x_i (on the unit hyperboloid: X = sqrt(c)
    xs). Formed directly, -<a,a>_L = a0^2 - |as|^2 cancels like the textbook distance (a
    tight cluster 15 from the origin: x0^2 ~ 3e12 against a result ~1). With a_hat = as/|as|
    and x0_i - |X_i| = 1/(x0_i + |X_i|) (each point on the sheet),
        a0 - |as| = sum_i w_i (x0_i - X_i.a_hat)
                  = sum_i w_i (1/(x0_i + |X_i|) + |X_i| |X_i_hat - a_hat|^2 / 2),
    a sum of terms >= 0, and -<a,a>_L = (a0 - |as|)(a0 + |as|), taken as a product of square
    roots (a0 passes 1e154 for a set far out). The space parts as / sqrt(-<a,a>_L) then
    carry the sums' rounding only: eps relative for a cluster, and for a spread set, whose
    sum cancels, eps |X| / sqrt(-<a,a>_L) <= eps."""
    sc = ref._sqrt(c, xp=xp)
    X = sc * xs
    r = norm0(X, xp=xp)
    x0 = hyp1(r, xp=xp)
    a0 = xp.sum(w * x0, axis=-2, keepdims=True)
    a = xp.sum(w * X, axis=-2, keepdims=True)
    na = norm0(a, xp=xp)
    across = sq(div0(X, r, xp=xp) - div0(a, na, xp=xp), xp=xp)
    gap = xp.sum(w * (1.0 / (x0 + r) + r * across / 2.0), axis=-2, keepdims=True)
    k = xp.sqrt(xp.where(na > 0, gap, a0)) * xp.sqrt(a0 + na)  # sqrt(-<a,a>_L)
    return a / k / sc


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
        raise ValueError(
            f"axis must name an axis of x other than the last (the coordinates), "
            f"got {axis} for shape {tuple(x.shape)}"
        )
    axis %= x.ndim
    if x.shape[axis] == 0:
        raise ValueError(f"x has no points along axis {axis}")
    xw = xp.moveaxis(xw, axis, -2)
    w = None
    if weights is not None:
        weights = vectors("weights", weights, xp, min_dim=0)
        _broadcast(
            {"x without its last axis": tuple(x.shape[:-1]), "weights": tuple(weights.shape)}
        )
        dtype = xp.result_type(dtype, weights.dtype)
        w = xp.broadcast_to(weights, tuple(x.shape[:-1]))
        w = xp.moveaxis(w, axis, -1)[..., None]
        if is_concrete(w):
            if bool(xp.any(w < 0)):
                raise ValueError("weights must be >= 0")
            if bool(xp.any(xp.sum(w, axis=-2) == 0)):
                raise ValueError(f"weights sum to 0 for some set of points; {what} is undefined")
    (xs,) = to_work(xp, xw[..., 1:])
    w = as_dtype(xp, w, xs.dtype) if w is not None else xp.ones_like(xs[..., :1])
    return xp, xs, w, cc, dtype


def centroid(
    x: Array, weights: Array | None = None, *, c: float | Array = 1.0, axis: int = -2
) -> Array:
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
    Directly, :math:`-\langle a,a\rangle_L = a_0^2 - |a_s|^2` cancels like the textbook
    distance (docs/operations.md); here :math:`a_0 - |a_s|` is summed from terms
    :math:`\ge 0`, one per point, and :math:`-\langle a,a\rangle_L = (a_0 - |a_s|)(a_0 +
    |a_s|)`: one pass, no cancellation, for clusters and for sets spread far out alike.
    Relative error <= 2e-6 (float32) / 1e-12 (float64), or 4x the answer's movement under
    one rounding of the inputs; finite gradients, also for a single point or coincident
    points. Negative weights, or weights summing to 0, raise ``ValueError`` (when values are
    concrete).

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]))
    >>> np.round(lorentz.centroid(x), 12).tolist()
    [1.0, 0.0, 0.0]
    """
    return _registry.call("centroid", c=c, extra=(axis,), x=x, weights=weights)


def centroid_bind(c, axis, *, x, weights):
    """The registry's preparation of centroid's arguments."""
    xp, xs, w, c, dtype = _prepare_set(x, weights, c, axis, "the centroid")
    return xp, (xs, w), c, dtype, ()


@ref._quiet
def centroid_point(xs, w, c, *, xp):
    """The centroid as a point (..., n+1) from centroid_ref's space part."""
    return ref.from_space(centroid_ref(xs, w, c, xp=xp)[..., 0, :], c, xp=xp)


# ---------------------------------------------------------------- Fréchet mean


def _stop_gradient(xp, a):
    """a, cut from the autograd graph (torch, jax); other libraries record none."""
    name = getattr(xp, "__name__", "")
    if name.endswith("torch"):
        return a.detach()
    if name.startswith("jax"):
        import jax

        return jax.lax.stop_gradient(a)
    return a


def _dcoth(d, *, xp):
    """(d coth d, (1 - d coth d) / d^2) for d >= 0; series below 1e-3 (errors ~d^4/945)."""
    small = d < 1e-3
    ds = xp.where(small, 1.0, d)
    f1 = ds / xp.tanh(ds)
    d2 = xp.where(small, d * d, 0.0)
    return (
        xp.where(small, 1.0 + d2 / 3.0, f1),
        xp.where(small, -1.0 / 3.0 + d2 / 45.0, (1.0 - f1) / (ds * ds)),
    )


def _newton_step(X, w, M, *, xp):
    """One Newton step for min sum w_i d^2(mu, x_i) / 2 on the unit hyperboloid (space parts
    times sqrt(c)): X (..., N, n), w (..., N, 1), M (..., 1, n) the current mean. Returns
    (new mean (..., 1, n), step length (..., 1, 1), weighted squared distances' sum).

    In the frame of M (the exact boost) the tangent space is R^n with the Euclidean metric:
    the gradient is -sum w_i l_i, l_i = log_o(x_i'), and the Hessian of d^2/2 is
    l_hat l_hat^T + d coth d (I - l_hat l_hat^T) = d coth d I + (1 - d coth d)/d^2 l l^T."""
    Xp, h, r = _to_frame(X, M, xp=xp)
    d = 2.0 * xp.asinh(h)
    lg = asinhc(r, xp=xp) * Xp  # l_i = log_o(x_i'), length d
    W = xp.sum(w, axis=-2, keepdims=True)
    g = xp.sum(w * lg, axis=-2, keepdims=True) / W  # (..., 1, n)
    f1, f2 = _dcoth(d, xp=xp)
    n = X.shape[-1]
    eye = xp.eye(n, dtype=X.dtype)
    H = (
        xp.sum((w * f1)[..., None], axis=-3) * eye
        + xp.sum((w * f2)[..., None] * (lg[..., :, None] * lg[..., None, :]), axis=-3)
    ) / W[..., 0, :, None]
    step = xp.linalg.solve(H, g[..., 0, :, None])[..., None, :, 0]  # (..., 1, n)
    s = sqrt0(sq(step, xp=xp), xp=xp)
    Y = sinhc(s, xp=xp) * step  # exp_o(step)
    return boost(Y, M, 1.0, xp=xp), s, xp.sum(w * d * d, axis=-2, keepdims=True) / W


def frechet_ref(xs, w, c, *, xp, tol, max_iter):
    """(space part of the Fréchet mean (..., 1, n), iterations, the last step, weighted
    mean squared distance times c). Newton's method from the Lorentzian centroid, stopped
    when every set's step is below tol (or after max_iter steps; under tracing, max_iter
    steps), then one more Newton step from the result cut from the autograd graph: its
    derivative is the implicit-function one (the Newton map's derivative in its start point
    vanishes at the solution), and its value is the solution to rounding.

    Safeguarded: a step that raised the weighted sum of squared distances (full Newton steps
    overshoot for a set spread far out, where d^2 is far from quadratic: the iterates ran off
    to inf) is taken back to the geodesic midpoint of the step, and a set whose last step is
    still longer than 1 (times 1/sqrt(c)) keeps the best point found, without a gradient."""
    sc = ref._sqrt(c, xp=xp)
    X = sc * xs
    Xs, ws = _stop_gradient(xp, X), _stop_gradient(xp, w)
    M = _stop_gradient(xp, sc * centroid_ref(_stop_gradient(xp, xs), ws, c, xp=xp))
    best, best_var = M, xp.full_like(M[..., :1], math.inf)
    steps = 0
    last = math.inf
    for steps in range(1, max_iter + 1):  # noqa: B007 (read after the loop: steps taken)
        M_next, s, var = _newton_step(Xs, ws, M, xp=xp)
        # worse than the best point: NaN where the best was a number counts (M ran off)
        worse = (var > best_var) | (xp.isnan(var) & ~xp.isnan(best_var))
        best = xp.where(worse, best, M)
        best_var = xp.where(worse, best_var, var)
        pair = xp.concat([best, M], axis=-2)
        halfway = centroid_ref(pair, xp.ones_like(pair[..., :1]), 1.0, xp=xp)
        M = xp.where(worse, halfway, M_next)
        s = xp.where(worse, math.inf, s)
        if is_concrete(s):
            last = float(xp.max(xp.where(xp.isnan(s), 0.0, s))) if math.prod(s.shape) else 0.0
            if last <= tol:
                break
    M = xp.where(best_var < math.inf, best, M)
    out, s, var = _newton_step(X, w, _stop_gradient(xp, M), xp=xp)
    return xp.where(s > 1.0, M, out) / sc, steps, last, var


def _frechet(x, weights, c, axis, tol, max_iter, what):
    if max_iter is not None and (
        isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1
    ):
        raise ValueError(f"max_iter must be a positive int, got {max_iter!r}")
    if tol is not None and (
        isinstance(tol, bool)
        or not isinstance(tol, (int, float))
        or not (tol > 0 and math.isfinite(tol))
    ):
        raise ValueError(f"tol must be a positive float, got {tol!r}")
    xp, xs, w, cc, dtype = _prepare_set(x, weights, c, axis, what)
    if tol is None:
        tol = 1e-9 if xs.dtype == xp.float64 else 1e-5
    if max_iter is None:
        # traced, every step is compiled: 8 (4 to 6 reach rounding from the centroid in the
        # tests; 32 unrolled steps took 9 s to compile under jax.jit)
        max_iter = 32 if is_concrete(xs) else 8
    return xp, (xs, w), cc, dtype, (float(tol), max_iter)


def frechet_mean_bind(c, axis, tol, max_iter, *, x, weights):
    """The registry's preparation of frechet_mean's arguments."""
    return _frechet(x, weights, c, axis, tol, max_iter, "the Fréchet mean")


def frechet_variance_bind(c, axis, tol, max_iter, *, x, weights):
    """The registry's preparation of frechet_variance's arguments."""
    return _frechet(x, weights, c, axis, tol, max_iter, "the Fréchet variance")


@ref._quiet
def frechet_point(xs, w, c, tol, max_iter, *, xp):
    """The Fréchet mean as a point (..., n+1)."""
    ms = frechet_ref(xs, w, c, xp=xp, tol=tol, max_iter=max_iter)[0]
    return ref.from_space(ms[..., 0, :], c, xp=xp)


@ref._quiet
def frechet_var(xs, w, c, tol, max_iter, *, xp):
    """The Fréchet variance (...): the weighted mean squared distance to the mean."""
    var = frechet_ref(xs, w, c, xp=xp, tol=tol, max_iter=max_iter)[3]
    return (var[..., 0, :] / c)[..., 0]


def frechet_mean(
    x: Array,
    weights: Array | None = None,
    *,
    c: float | Array = 1.0,
    axis: int = -2,
    tol: float | None = None,
    max_iter: int | None = None,
) -> Array:
    r"""The Fréchet mean (Riemannian barycenter, Karcher mean) of points along ``axis``:

    .. math:: \mu = \arg\min_{y} \sum_i w_i\, d^2(y, x_i),

    unique on the hyperboloid, differentiable with respect to the points and the weights
    through the implicit function theorem (as in Lou et al., ICML 2020), not by unrolling
    the iterations.

    Parameters
    ----------
    x : array, shape (..., N, n+1)
        Points (only the space parts are read); ``axis`` names the axis of the N points.
    weights : array, optional
        Non-negative weights broadcasting against ``x.shape[:-1]``; default equal.
    c : float or 0-d array
        Curvature is :math:`-c`.
    axis : int
        The axis of ``x`` that holds the points (not the last).
    tol : float, optional
        Stopping rule: iterate until every set's Newton step is at most ``tol`` (in units of
        :math:`1/\sqrt{c}`; default 1e-9 for float64 computation, 1e-5 where the backend
        computes in float32). Newton's method converges quadratically, so the remaining error
        is about ``tol**2``.
    max_iter : int, optional
        At most this many steps (default 32); under ``jax.jit`` or ``torch.compile``, where
        values cannot be inspected, exactly this many (default 8).

    Returns
    -------
    array, shape ``x.shape`` without ``axis``

    Notes
    -----
    Newton's method on :math:`\frac12\sum_i w_i d^2(\cdot, x_i)` from the Lorentzian
    centroid (:func:`centroid`), each step taken in the frame of the current estimate (an
    exact Lorentz boost), where the gradient is :math:`-\sum_i w_i \log_o x_i'` and the
    Hessian :math:`\sum_i w_i (\delta_i\coth\delta_i\, I + (1 - \delta_i\coth\delta_i)\,
    \hat l_i\hat l_i^T)`. Then one more Newton step from the result held constant: its
    derivative is the implicit-function derivative. At the result the Riemannian gradient
    of the weighted sum of squared distances vanishes to the accuracy contract (relative
    error of the mean <= 2e-6 float32 / 1e-12 float64 against mpmath; Lou et al.'s iteration
    is compared in docs/operations.md). A step that raises the weighted sum of squared
    distances (full steps overshoot for sets spread far out) is taken back to the geodesic
    midpoint of the step. A set that does not converge in ``max_iter`` steps is returned as
    reached (no warning); one whose last step is still longer than :math:`1/\sqrt{c}` keeps
    the best point found, with no gradient.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]))
    >>> np.round(lorentz.frechet_mean(x), 12).tolist() == [1.0, 0.0, 0.0]
    True
    """
    return _registry.call("frechet_mean", c=c, extra=(axis, tol, max_iter), x=x, weights=weights)


def frechet_variance(
    x: Array,
    weights: Array | None = None,
    *,
    c: float | Array = 1.0,
    axis: int = -2,
    tol: float | None = None,
    max_iter: int | None = None,
) -> Array:
    r"""The Fréchet variance: :math:`\min_y \sum_i w_i\, d^2(y, x_i) / \sum_i w_i`, the
    weighted mean squared distance to the Fréchet mean (:func:`frechet_mean`, same
    arguments).

    Returns
    -------
    array, shape ``x.shape`` without ``axis`` and the last axis

    Notes
    -----
    Its gradient is that of :math:`\sum_i w_i d^2(\mu, x_i) / \sum_i w_i` with the mean
    held fixed (the envelope theorem), which the implicit-function step gives.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, -1.0, 0.0], [0.0, 1.0, 0.0]]))
    >>> round(float(lorentz.frechet_variance(x)), 12)
    1.0
    """
    return _registry.call(
        "frechet_variance", c=c, extra=(axis, tol, max_iter), x=x, weights=weights
    )
