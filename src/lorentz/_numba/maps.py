"""Compiled exponential map at any base point, forward and backward, for rows in the plain
range of lorentz._reference.expmap (lengths whose squares are normal numbers, x not far out,
t below t_big). Rows outside it are marked ``odd`` and finished by the host with the
reference's square-free form (lorentz._numba.ops), so every row keeps the reference's accuracy.

The forward pass is the reference's: with a = |xs|, xh = xs / a, b = us.xh and
us_perp = us - b xh, y_s = R xh + sinhc(t) us_perp, t^2 = c |us_perp|^2 + (b / x0)^2, and
R = a cosh t + sinhc(t) b formed without cancellation on either side of the origin
(lorentz._reference._expmap_plain). y0 = sqrt(1/c + |y_s|^2), as from_space.

The backward pass is the vector-Jacobian product of the same function of (xs, us) (neither
time component is read, so theirs is 0). With G = gs + g0 y_s / y0 (y0 depends on y_s),
k = sinhc(t), bend(t) = (t cosh t - sinh t) / t^3 and w = us - (xs.us) xs / x0^2
= us_perp + b / (c x0^2) xh (no cancellation), since t^2 = c (|us|^2 - (xs.us)^2 / x0^2):
    q = G.(k xs + bend(t) us),
    g_us = k G + c q w,        g_xs = cosh(t) G - c q (a b / x0^2) w.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .backward import _expmap0_bend
from .cones import _tiny
from .kernels import _OPTS, FAR2, T_BIG, _odd, _space_sq


@nb.njit(inline="always", **_OPTS)
def _expmap_odd(x, u, c, nx, nu):
    """Whether a row leaves the plain range (conservatively: the host's reference is exact on
    every row). NaN rows are not odd: they stay NaN here."""
    if _odd(nx, nu, c, x[1:], u[1:]) or c * nx > FAR2 or c * nu > T_BIG * T_BIG:
        return True
    return _tiny(nx, x) or _tiny(nu, u)


@nb.njit(inline="always", **_OPTS)
def _expmap_parts(x, u, c, nx):
    """(a, b, x0, p2, t, k, R) of one plain row (see the module docstring)."""
    n = x.shape[0]
    a = math.sqrt(nx)
    b = 0.0
    for j in range(1, n):
        b += np.float64(u[j]) * (np.float64(x[j]) / a if a > 0.0 else 0.0)
    p2 = 0.0
    for j in range(1, n):
        xh = np.float64(x[j]) / a if a > 0.0 else 0.0
        p = np.float64(u[j]) - b * xh
        p2 += p * p
    x0 = math.sqrt(1.0 / c + nx)
    t = math.sqrt(c * p2 + (b / x0) * (b / x0))
    k = math.sinh(t) / t if t != 0.0 else 1.0
    if b >= 0.0:  # outward: a cosh t + k b as a + (2 sinh(t/2)^2 a + k b)
        h = math.sinh(t / 2.0)
        r = a + (2.0 * h * h * a + k * b)
    else:  # inward: sinh(g - t) / s + k c p2 x0^2 / (t x0 - b), g = asinh(s a)
        s = math.sqrt(c)
        r = math.sinh(math.asinh(s * a) - t) / s + k * c * p2 * x0 * x0 / (t * x0 - b)
    return a, b, x0, p2, t, k, r


@nb.njit(inline="always", **_OPTS)
def _y_space(x, u, j, a, b, k, r):
    """The j-th component of y_s = R xh + k (us - b xh)."""
    xh = np.float64(x[j]) / a if a > 0.0 else 0.0
    return r * xh + k * (np.float64(u[j]) - b * xh)


@nb.njit(inline="always", **_OPTS)
def _y_time(x, u, c, a, b, k, r, y2):
    """y0 = sqrt(1/c + |y_s|^2) from y2 = |y_s|^2, or from y_s scaled by 2^-600 where y2
    overflows (t near t_big)."""
    if y2 <= 2.0 ** 1000:
        return math.sqrt(1.0 / c + y2)
    s = 0.0
    for j in range(1, x.shape[0]):
        y = _y_space(x, u, j, a, b, k, r) * 2.0 ** -600
        s += y * y
    return math.hypot(1.0 / math.sqrt(c), math.sqrt(s) * 2.0 ** 600)


@nb.njit(inline="always", **_OPTS)
def _expmap_row(i, x, u, c, out, odd):
    xr, ur = x[i], u[i]
    nx = _space_sq(xr)
    odd[i] = _expmap_odd(xr, ur, c, nx, _space_sq(ur))
    if odd[i]:
        return
    a, b, x0, p2, t, k, r = _expmap_parts(xr, ur, c, nx)
    y2 = 0.0
    for j in range(1, xr.shape[0]):
        y = _y_space(xr, ur, j, a, b, k, r)
        out[i, j] = y
        y2 += y * y
    out[i, 0] = _y_time(xr, ur, c, a, b, k, r, y2)


@nb.njit(parallel=True, **_OPTS)
def expmap_rows(x, u, c, out, odd, serial):
    """out[i] = exp_x[i](u[i]) (ambient rows); odd[i] marks rows left to the host."""
    if serial:
        for i in range(x.shape[0]):
            _expmap_row(i, x, u, c, out, odd)
    else:
        for i in nb.prange(x.shape[0]):
            _expmap_row(i, x, u, c, out, odd)


@nb.njit(inline="always", **_OPTS)
def _expmap_grad_row(i, x, u, g, c, gx, gu, odd):
    xr, ur, gr = x[i], u[i], g[i]
    n = xr.shape[0]
    nx = _space_sq(xr)
    odd[i] = _expmap_odd(xr, ur, c, nx, _space_sq(ur))
    gx[i, 0] = 0.0
    gu[i, 0] = 0.0
    if odd[i]:
        return
    a, b, x0, p2, t, k, r = _expmap_parts(xr, ur, c, nx)
    y2 = 0.0
    for j in range(1, n):
        y = _y_space(xr, ur, j, a, b, k, r)
        y2 += y * y
    y0 = _y_time(xr, ur, c, a, b, k, r, y2)
    f0 = np.float64(gr[0]) / y0
    bend = _expmap0_bend(t)
    q = 0.0
    for j in range(1, n):
        big_g = np.float64(gr[j]) + f0 * _y_space(xr, ur, j, a, b, k, r)
        q += big_g * (k * np.float64(xr[j]) + bend * np.float64(ur[j]))
    cq = c * q
    lean = b / (c * x0 * x0)  # w = us_perp + lean xh
    across = cq * (a * b / (x0 * x0))
    ch = math.cosh(t)
    for j in range(1, n):
        xh = np.float64(xr[j]) / a if a > 0.0 else 0.0
        w = (np.float64(ur[j]) - b * xh) + lean * xh
        big_g = np.float64(gr[j]) + f0 * _y_space(xr, ur, j, a, b, k, r)
        gu[i, j] = k * big_g + cq * w
        gx[i, j] = ch * big_g - across * w


@nb.njit(parallel=True, **_OPTS)
def expmap_grad_rows(x, u, g, c, gx, gu, odd, serial):
    if serial:
        for i in range(x.shape[0]):
            _expmap_grad_row(i, x, u, g, c, gx, gu, odd)
    else:
        for i in nb.prange(x.shape[0]):
            _expmap_grad_row(i, x, u, g, c, gx, gu, odd)
