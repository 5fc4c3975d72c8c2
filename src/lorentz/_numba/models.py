"""Compiled conversions to and from the Poincare ball, forward and backward (the formulas of
lorentz._reference transcribed to rows, accumulated in float64). The backward passes are
closed-form vector-Jacobian products with respect to the space parts (a point's time
component is never read, so its gradient is 0)."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .kernels import _OPTS, _space_norm

# ---------------------------------------------------------------- Poincare ball


@nb.njit(inline="always", **_OPTS)
def _ball_parts(row, c):
    """(|xs|, x0, den = 1 + sqrt(c) x0) of an ambient row without squaring |xs| (finite up to
    |xs| = max; den is inf only where sqrt(c) x0 itself overflows)."""
    nrm = _space_norm(row)
    x0 = math.hypot(1.0 / math.sqrt(c), nrm)
    return nrm, x0, 1.0 + math.sqrt(c) * x0


@nb.njit(inline="always", **_OPTS)
def _to_poincare_row(i, x, c, out):
    """p = xs / (1 + sqrt(c) x0), x0 = sqrt(1/c + |xs|^2); (xs / x0) / (sqrt(c) + 1/x0) where
    den overflows (lorentz._reference.to_poincare). out holds space parts only."""
    _nrm, x0, den = _ball_parts(x[i], c)
    for j in range(1, x.shape[1]):
        a = np.float64(x[i, j])
        out[i, j - 1] = a / den if den < math.inf else (a / x0) / (math.sqrt(c) + 1.0 / x0)


@nb.njit(parallel=True, **_OPTS)
def to_poincare_rows(x, c, out, serial):
    if serial:
        for i in range(x.shape[0]):
            _to_poincare_row(i, x, c, out)
    else:
        for i in nb.prange(x.shape[0]):
            _to_poincare_row(i, x, c, out)


@nb.njit(inline="always", **_OPTS)
def _to_poincare_grad_row(i, x, g, c, gx):
    """gx = g / den - sqrt(c) (g.xs) / (x0 den^2) xs, den = 1 + sqrt(c) x0, formed from
    xs_hat = xs / |xs| and the ratios |xs| / x0, xs / den so that nothing squares |xs|."""
    s = math.sqrt(c)
    nrm, x0, den = _ball_parts(x[i], c)
    gdot = 0.0  # g . xs_hat
    for j in range(1, x.shape[1]):
        gdot += np.float64(g[i, j - 1]) * (np.float64(x[i, j]) / nrm if nrm > 0.0 else 0.0)
    if den < math.inf:
        w = s * gdot * (nrm / x0) / den
        gx[i, 0] = 0.0
        for j in range(1, x.shape[1]):
            gx[i, j] = np.float64(g[i, j - 1]) / den - w * (np.float64(x[i, j]) / den)
        return
    k = s + 1.0 / x0  # den / x0
    w = gdot * (nrm / x0) * (s / k) / (k * x0)
    gx[i, 0] = 0.0
    for j in range(1, x.shape[1]):
        gx[i, j] = (np.float64(g[i, j - 1]) / x0) / k - w * (np.float64(x[i, j]) / x0)


@nb.njit(parallel=True, **_OPTS)
def to_poincare_grad_rows(x, g, c, gx, serial):
    if serial:
        for i in range(x.shape[0]):
            _to_poincare_grad_row(i, x, g, c, gx)
    else:
        for i in nb.prange(x.shape[0]):
            _to_poincare_grad_row(i, x, g, c, gx)


@nb.njit(inline="always", **_OPTS)
def _ball_sq(row):
    s = 0.0
    for j in range(row.shape[0]):
        a = np.float64(row[j])
        s += a * a
    return s


@nb.njit(inline="always", **_OPTS)
def _from_poincare_row(i, p, c, out):
    """xs = 2p / (1 - c |p|^2), x0 = sqrt(1/c + |xs|^2)."""
    p2 = _ball_sq(p[i])
    scale = 2.0 / (1.0 - c * p2)
    out[i, 0] = math.sqrt(1.0 / c + scale * scale * p2)
    for j in range(p.shape[1]):
        out[i, j + 1] = scale * np.float64(p[i, j])


@nb.njit(parallel=True, **_OPTS)
def from_poincare_rows(p, c, out, serial):
    if serial:
        for i in range(p.shape[0]):
            _from_poincare_row(i, p, c, out)
    else:
        for i in nb.prange(p.shape[0]):
            _from_poincare_row(i, p, c, out)


@nb.njit(inline="always", **_OPTS)
def _from_poincare_grad_row(i, p, g, c, gp):
    """With H = gs + g0 xs / x0 (x0 depends on xs): gp = 2H/q + 4c (p.H) / q^2 p, q = 1 - c|p|^2."""
    p2 = _ball_sq(p[i])
    q = 1.0 - c * p2
    scale = 2.0 / q
    x0 = math.sqrt(1.0 / c + scale * scale * p2)
    g0 = np.float64(g[i, 0]) * scale / x0  # g0 xs_j / x0 = g0 scale p_j / x0
    ph = 0.0
    for j in range(p.shape[1]):
        a = np.float64(p[i, j])
        ph += a * (np.float64(g[i, j + 1]) + g0 * a)
    w = 4.0 * c * ph / (q * q)
    for j in range(p.shape[1]):
        a = np.float64(p[i, j])
        gp[i, j] = scale * (np.float64(g[i, j + 1]) + g0 * a) + w * a


@nb.njit(parallel=True, **_OPTS)
def from_poincare_grad_rows(p, g, c, gp, serial):
    if serial:
        for i in range(p.shape[0]):
            _from_poincare_grad_row(i, p, g, c, gp)
    else:
        for i in nb.prange(p.shape[0]):
            _from_poincare_grad_row(i, p, g, c, gp)
