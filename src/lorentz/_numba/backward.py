"""Compiled backward passes of the elementwise kernels (used by the torch operators of
``lorentz._numba.torch_ops``): vector-Jacobian products of the reference formulas with respect
to the space parts, in closed form, accumulated in float64. The time components of the
inputs are never read (the reference re-derives them), so their gradient is 0.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .kernels import _OPTS, _space_sq, _u_exact

# below this t, the closed forms of the bends below cancel (t cosh t - sinh t loses
# log2(3 / t^2) bits) and their Taylor series is summed instead: at t = 0.25 the closed form
# loses 6 bits of a term that is itself t^2 / 3 of the gradient
SERIES_T = 0.25


@nb.njit(inline="always", **_OPTS)
def _expmap0_bend(t):
    """(t cosh t - sinh t) / t^3 = sum_{m>=1} 2m t^(2m-2) / (2m+1)!, 1/3 at t = 0."""
    if t < SERIES_T:
        term = 1.0 / 3.0
        total = term
        t2 = t * t
        for m in range(1, 12):
            term *= t2 / (2.0 * m * (2.0 * m + 3.0))
            total += term
        return total
    # cosh t (t - tanh t): inf, not inf - inf, where cosh overflows
    return math.cosh(t) * (t - math.tanh(t)) / (t * t * t)


@nb.njit(inline="always", **_OPTS)
def _logmap0_bend(t):
    """(t / sqrt(1 + t^2) - asinh t) / t^3
    = sum_{m>=1} (-1)^m C(2m, m) 4^-m 2m / (2m+1) t^(2m-2), -1/3 at t = 0."""
    if t < SERIES_T:
        a = 1.0  # C(2m, m) / 4^m
        total = 0.0
        power = 1.0
        sign = -1.0
        for m in range(1, 30):
            a *= (2.0 * m - 1.0) / (2.0 * m)
            total += sign * a * (2.0 * m / (2.0 * m + 1.0)) * power
            power *= t * t
            sign = -sign
        return total
    return (t / math.sqrt(1.0 + t * t) - math.asinh(t)) / (t * t * t)


@nb.njit(inline="always", **_OPTS)
def _dist_grad_row(i, x, y, g, c, gx, gy):
    """d = acosh(1 + u) / sqrt(c): dd/du = 1 / (sqrt(c) sqrt(u (u+2))) and
    du/dxs = c (y0/x0 xs - ys) = c (D - (D.S) / ((x0 + y0) x0) xs), D = xs - ys, S = xs + ys,
    since y0 - x0 = -(D.S) / (x0 + y0): no cancellation for near pairs, zero at x == y."""
    xr, yr = x[i], y[i]
    n = xr.shape[0]
    u = _u_exact(xr[1:], yr[1:], c)
    # the zero subgradient at x == y; NaN stays NaN (u == 0 is False for NaN)
    w = 0.0 if u == 0.0 else np.float64(g[i]) * math.sqrt(c) / (math.sqrt(u) * math.sqrt(u + 2.0))
    nx = _space_sq(xr)
    ny = _space_sq(yr)
    ds = 0.0
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        ds += (a - b) * (a + b)
    x0 = math.sqrt(1.0 / c + nx)
    y0 = math.sqrt(1.0 / c + ny)
    kx = ds / ((x0 + y0) * x0)
    ky = ds / ((x0 + y0) * y0)
    gx[i, 0] = 0.0
    gy[i, 0] = 0.0
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        gx[i, j] = w * ((a - b) - kx * a)
        gy[i, j] = w * ((b - a) + ky * b)


@nb.njit(parallel=True, **_OPTS)
def dist_grad_rows(x, y, g, c, gx, gy, serial):
    """gx[i], gy[i] = g[i] * grad d(x[i], y[i]); ambient rows (N, n+1)."""
    if serial:
        for i in range(x.shape[0]):
            _dist_grad_row(i, x, y, g, c, gx, gy)
    else:
        for i in nb.prange(x.shape[0]):
            _dist_grad_row(i, x, y, g, c, gx, gy)


@nb.njit(inline="always", **_OPTS)
def _dist0_grad_row(i, x, g, c, gx):
    """d = asinh(sqrt(c) r) / sqrt(c): dd/dxs = xs / (r sqrt(1 + c r^2)); 0 at the origin."""
    r2 = _space_sq(x[i])
    w = 0.0 if r2 == 0.0 else np.float64(g[i]) / (math.sqrt(r2) * math.sqrt(1.0 + c * r2))
    gx[i, 0] = 0.0
    for j in range(1, x.shape[1]):
        gx[i, j] = w * np.float64(x[i, j])


@nb.njit(parallel=True, **_OPTS)
def dist0_grad_rows(x, g, c, gx, serial):
    if serial:
        for i in range(x.shape[0]):
            _dist0_grad_row(i, x, g, c, gx)
    else:
        for i in nb.prange(x.shape[0]):
            _dist0_grad_row(i, x, g, c, gx)


@nb.njit(inline="always", **_OPTS)
def _expmap0_grad_row(i, u, g, c, gu):
    """x = (cosh(t)/sqrt(c), k us), k = sinh(t)/t, t = sqrt(c)|us|:
    gu = k gs + (g0 sqrt(c) k + c (gs.us) bend(t)) us, bend = (t cosh t - sinh t) / t^3."""
    r2 = _space_sq(u[i])
    s = math.sqrt(c)
    t = s * math.sqrt(r2)
    k = math.sinh(t) / t if t != 0.0 else 1.0
    gdot = 0.0
    for j in range(1, u.shape[1]):
        gdot += np.float64(g[i, j]) * np.float64(u[i, j])
    w = np.float64(g[i, 0]) * s * k + c * gdot * _expmap0_bend(t)
    gu[i, 0] = 0.0
    for j in range(1, u.shape[1]):
        gu[i, j] = k * np.float64(g[i, j]) + w * np.float64(u[i, j])


@nb.njit(parallel=True, **_OPTS)
def expmap0_grad_rows(u, g, c, gu, serial):
    if serial:
        for i in range(u.shape[0]):
            _expmap0_grad_row(i, u, g, c, gu)
    else:
        for i in nb.prange(u.shape[0]):
            _expmap0_grad_row(i, u, g, c, gu)


@nb.njit(inline="always", **_OPTS)
def _logmap0_grad_row(i, y, g, c, gy):
    """v = (0, h ys), h = asinh(t)/t, t = sqrt(c)|ys|:
    gy = h gs + c (gs.ys) bend(t) ys, bend = (t / sqrt(1 + t^2) - asinh t) / t^3."""
    r2 = _space_sq(y[i])
    t = math.sqrt(c) * math.sqrt(r2)
    h = math.asinh(t) / t if t != 0.0 else 1.0
    gdot = 0.0
    for j in range(1, y.shape[1]):
        gdot += np.float64(g[i, j]) * np.float64(y[i, j])
    w = c * gdot * _logmap0_bend(t)
    gy[i, 0] = 0.0
    for j in range(1, y.shape[1]):
        gy[i, j] = h * np.float64(g[i, j]) + w * np.float64(y[i, j])


@nb.njit(parallel=True, **_OPTS)
def logmap0_grad_rows(y, g, c, gy, serial):
    if serial:
        for i in range(y.shape[0]):
            _logmap0_grad_row(i, y, g, c, gy)
    else:
        for i in nb.prange(y.shape[0]):
            _logmap0_grad_row(i, y, g, c, gy)
