"""Compiled all-pairs kernels beside pairwise_dist's: the exterior angle at every row of x
towards every row of y (the pair formula of ``cones``, parallel over the rows of x, written
straight into the N x M output), and the squared Lorentzian distance from pairwise_dist's GEMM
tiles (``kernels``: the same a-priori bound and exact recompute, on u instead of d)."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .cones import _angle_odd, _angle_parts
from .kernels import _OPTS, EPS64, _gemm_u, _u_s

# ---------------------------------------------------------------- exterior angle


@nb.njit(inline="always", **_OPTS)
def _angle_row(i, x, y, c, out):
    """out[i, j] for every j: the exterior angle at x[i] towards y[j] by cones' pair formula;
    pairs outside its plain range are left NaN and counted (the host finishes them)."""
    odd = 0
    for j in range(y.shape[0]):
        if _angle_odd(x[i], y[j], c):
            out[i, j] = math.nan
            odd += 1
            continue
        parts = _angle_parts(x[i], y[j], c)
        s, cos = parts[0], parts[1]
        # atan2(0, 0) is 0 (x == y), as the reference's atan2_0 and cones' row kernel
        out[i, j] = math.atan2(s, cos) if (s != 0.0 or cos != 0.0) else 0.0
    return odd


@nb.njit(parallel=True, **_OPTS)
def exterior_angle_pairs(x, y, c, out, odd, serial):
    """out[i, j] = the exterior angle of (x[i], y[j]) (ambient rows); odd[i] counts the pairs
    of row i left to the host."""
    if serial:
        for i in range(x.shape[0]):
            odd[i] = _angle_row(i, x, y, c, out)
    else:
        for i in nb.prange(x.shape[0]):
            odd[i] = _angle_row(i, x, y, c, out)


@nb.njit(**_OPTS)
def odd_angle_pairs(x, y, c, odd):
    """(rows, cols) of the pairs exterior_angle_pairs left to the host, odd its counts."""
    total = 0
    for i in range(odd.shape[0]):
        total += odd[i]
    rows = np.empty(total, dtype=np.int64)
    cols = np.empty(total, dtype=np.int64)
    k = 0
    for i in range(x.shape[0]):
        if odd[i] == 0:
            continue
        for j in range(y.shape[0]):
            if _angle_odd(x[i], y[j], c):
                rows[k] = i
                cols[k] = j
                k += 1
    return rows, cols


# ---------------------------------------------------------------- squared distance


@nb.njit(inline="always", **_OPTS)
def _sqdist_exact(x, y, c):
    """2u/c by the cancellation-free u; 4 s^2 / c outside its range (lorentz._reference.sqdist)."""
    u, s = _u_s(x, y, c)
    return 4.0 * (s * s) / c if s >= 0.0 else 2.0 * u / c


@nb.njit(inline="always", **_OPTS)
def _sqdist_row(i, xs, ys, gram, x0, y0, row0, c, tol, out):
    slack = (xs.shape[1] + 4) * EPS64 * c
    r = row0 + i
    for j in range(gram.shape[1]):
        # _gemm_u's test is relative in d (tol 2u); u's own relative error is asked: tol / 2
        u, ok = _gemm_u(x0[r] * y0[j], gram[i, j], c, slack, 0.5 * tol)
        if ok:
            out[r, j] = 2.0 * u / c
        elif x0[r] != x0[r] or y0[j] != y0[j]:
            # a NaN row: NaN (_u_s's range test takes max(0, NaN) as 0, so the origin against
            # a NaN row would give 0 there)
            out[r, j] = math.nan
        else:  # the GEMM value could miss the bound: recompute exactly
            out[r, j] = _sqdist_exact(xs[r], ys[j], c)


@nb.njit(parallel=True, **_OPTS)
def sqdist_epilogue(xs, ys, gram, x0, y0, row0, c, tol, out, serial):
    """out[row0 + i, j] = sqdist(xs[row0+i], ys[j]) from gram[i, j] = xs.ys (float64), every
    pair whose GEMM value could err by more than ``tol`` relative recomputed."""
    if serial:
        for i in range(gram.shape[0]):
            _sqdist_row(i, xs, ys, gram, x0, y0, row0, c, tol, out)
    else:
        for i in nb.prange(gram.shape[0]):
            _sqdist_row(i, xs, ys, gram, x0, y0, row0, c, tol, out)
