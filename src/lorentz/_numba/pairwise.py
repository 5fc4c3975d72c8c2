"""Compiled epilogues of all-pairs GEMM tiles beside pairwise_dist's: the exterior angle at
every row of x towards every row of y (lorentz._pairwise.angle_bound's form and bound, the
pairs it cannot give recomputed by the pair formula of ``cones``), and the squared Lorentzian
distance (``kernels``' a-priori bound and exact recompute, on u instead of d). Parallel over
the rows of a tile, written straight into the N x M output."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .cones import _angle_odd, _angle_parts
from .kernels import _OPTS, EPS64, _gemm_u, _u_s

# ---------------------------------------------------------------- exterior angle

ANGLE_LO2, ANGLE_HI2 = 2.0**-480, 2.0**480  # lorentz._pairwise's range of squared lengths


@nb.njit(inline="always", **_OPTS)
def _atan2_upper(w, k):
    """atan2(w, k) for w >= 0 from one atan of the smaller ratio: libm's atan2 took 16 ns a
    pair, twice the rest of the epilogue (the sum pi + t and pi/2 - t round once, 2 ulp of pi
    at most)."""
    if w <= abs(k):
        t = math.atan(w / k) if k != 0.0 else 0.0
        return t if k > 0.0 else math.pi + t
    return 0.5 * math.pi - math.atan(k / w)


@nb.njit(inline="always", **_OPTS)
def _gemm_angle(g, xx, yy, q, x0, y0, sc, n, tol):
    """(angle, good): atan2(W, K) from the GEMM value g = xs.ys, the squared lengths xx and yy
    and q = |xs||ys|, and whether it is good to ``tol`` radians by lorentz._pairwise's
    angle_bound (with q^2 for xx yy: they differ by 3 ulp, inside its margin)."""
    if not (ANGLE_LO2 <= xx <= ANGLE_HI2 and (yy == 0.0 or ANGLE_LO2 <= yy <= ANGLE_HI2)):
        return 0.0, False  # NaN rows too
    w2 = xx * yy - g * g
    w = math.sqrt(w2) if w2 > 0.0 else 0.0
    k = sc * (x0 * g - xx * y0)
    a = (4 * n + 12) * EPS64
    dw = math.sqrt(a) * q  # sqrt(E) of angle_bound
    if w > dw:
        dw = (a * q) * (q / w)  # E / W
    dk = (2 * n + 8) * EPS64 * sc * (x0 * q + xx * y0)
    # squares compared, no hypot: they overflow only where the range test above lets c do
    # so, and those pairs are recomputed
    err = dw + 2.0 * EPS64 * w + dk
    return _atan2_upper(w, k), err * err <= (tol * tol) * (w * w + k * k) < math.inf


@nb.njit(inline="always", **_OPTS)
def _angle_row(i, x, y, gram, xx, yy, ly, x0, y0, row0, c, tol, out):
    """out[row0 + i, j] for every j from the GEMM row, the pairs it cannot give to ``tol``
    by cones' pair formula; pairs outside that formula's range are left NaN and counted (the
    host finishes them)."""
    n = x.shape[1] - 1
    sc = math.sqrt(c)
    r = row0 + i
    lx = math.sqrt(xx[r])
    odd = 0
    for j in range(gram.shape[1]):
        q = lx * ly[j]
        angle, good = _gemm_angle(gram[i, j], xx[r], yy[j], q, x0[r], y0[j], sc, n, tol)
        if good:
            out[r, j] = angle
        elif _angle_odd(x[r], y[j], c):
            out[r, j] = math.nan
            odd += 1
        else:
            parts = _angle_parts(x[r], y[j], c)
            s, cos = parts[0], parts[1]
            # atan2(0, 0) is 0 (x == y), as the reference's atan2_0 and cones' row kernel
            out[r, j] = math.atan2(s, cos) if (s != 0.0 or cos != 0.0) else 0.0
    return odd


@nb.njit(parallel=True, **_OPTS)
def angle_epilogue(x, y, gram, xx, yy, ly, x0, y0, row0, c, tol, out, odd, serial):
    """out[row0 + i, j] = the exterior angle of (x[row0+i], y[j]) (ambient rows) from
    gram[i, j] = xs.ys (float64); odd[i] counts the pairs of row i left to the host."""
    if serial:
        for i in range(gram.shape[0]):
            odd[i] = _angle_row(i, x, y, gram, xx, yy, ly, x0, y0, row0, c, tol, out)
    else:
        for i in nb.prange(gram.shape[0]):
            odd[i] = _angle_row(i, x, y, gram, xx, yy, ly, x0, y0, row0, c, tol, out)


@nb.njit(**_OPTS)
def odd_angle_pairs(x, y, gram, xx, yy, ly, x0, y0, row0, c, tol, odd):
    """(rows, cols) of the pairs angle_epilogue left to the host, odd its counts per row of
    the tile: the same tests in the same order."""
    total = 0
    for i in range(odd.shape[0]):
        total += odd[i]
    rows = np.empty(total, dtype=np.int64)
    cols = np.empty(total, dtype=np.int64)
    n = x.shape[1] - 1
    sc = math.sqrt(c)
    k = 0
    for i in range(odd.shape[0]):
        if odd[i] == 0:
            continue
        r = row0 + i
        for j in range(y.shape[0]):
            q = math.sqrt(xx[r]) * ly[j]
            good = _gemm_angle(gram[i, j], xx[r], yy[j], q, x0[r], y0[j], sc, n, tol)[1]
            if not good and _angle_odd(x[r], y[j], c):
                rows[k] = r
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
