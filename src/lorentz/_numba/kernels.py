"""Compiled kernels: exact pairwise distance, k nearest neighbours, origin maps.

Nothing here imports the rest of the library: the formulas are the reference ones
(lorentz._reference) transcribed to scalar loops, tested against it.

Pairwise work splits in two: the inner products xs.ys of a block of rows come from BLAS
(dgemm on float64 copies, exact products for float32 inputs), and a compiled epilogue turns
them into distances. The GEMM form of u = c (x0 y0 - xs.ys) - 1 cancels for near pairs, so
the epilogue bounds its error by (n + 4) eps64 c x0 y0 (the standard bound of a length-n dot
product, plus the roundings of x0, y0 and their product) and recomputes the pair with the
cancellation-free formula whenever that could cost more than ``tol`` relative in d.
float32 GEMM is not enough: its bound, n eps32 |xs||ys|, is 2e-6 relative in d for random
128-dimensional points of norm 3.4, the whole error budget.
Compiled lazily, cached on disk (cache=True), threads as numba is set (NUMBA_NUM_THREADS).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_OPTS = dict(cache=True, nogil=True, error_model="numpy")
EPS64 = float(np.finfo(np.float64).eps)


@nb.njit(inline="always", **_OPTS)
def _u_exact(x, y, c):
    """cosh(sqrt(c) d) - 1 by the Lagrange identity (see lorentz._reference.cosh_minus_one)."""
    n = x.shape[0]
    nx = 0.0
    ny = 0.0
    xy = 0.0
    for i in range(n):
        a = np.float64(x[i])
        b = np.float64(y[i])
        nx += a * a
        ny += b * b
        xy += a * b
    x0 = math.sqrt(1.0 / c + nx)
    y0 = math.sqrt(1.0 / c + ny)
    if xy >= 0.0:
        # |xs^ys|^2 = |b|^2 |D_perp|^2, b the shorter point, D = xs - ys
        nb_ = min(nx, ny)
        bd = 0.0
        dd = 0.0
        for i in range(n):
            b = np.float64(x[i]) if nx <= ny else np.float64(y[i])
            d = np.float64(x[i]) - np.float64(y[i])
            bd += b * d
            dd += d * d
        t = bd / nb_ if nb_ > 0.0 else 0.0
        perp = 0.0
        for i in range(n):
            b = np.float64(x[i]) if nx <= ny else np.float64(y[i])
            p = (np.float64(x[i]) - np.float64(y[i])) - t * b
            perp += p * p
        return (dd + c * nb_ * perp) / (x0 * y0 + 1.0 / c + xy)
    a = 1.0 / math.sqrt(c)
    return c * (nx * y0 / (x0 + a) + a * ny / (y0 + a) - xy)


@nb.njit(inline="always", **_OPTS)
def _scaled_dist(u):
    """acosh(1 + u) = log(1 + w), w = u + sqrt(u (u + 2)): log1p where w is small (exact
    near u = 0), log elsewhere (1 + w rounds harmlessly there, and glibc's log is ~4x faster
    than its log1p: 6 ns against 23 ns a call, measured)."""
    if u <= 0.0:
        return 0.0
    w = u + math.sqrt(u * (u + 2.0))
    return math.log(1.0 + w) if w > 0.5 else math.log1p(w)


@nb.njit(inline="always", **_OPTS)
def _scaled_dist_f32(u):
    """_scaled_dist for float32 results: where w > 0.5, d >= log(1.5) and float32's log of
    the rounded 1 + w is within 2e-7 relative (one rounding of 1 + w is 6e-8 absolute in d,
    logf adds an ulp), against the 2e-6 budget; logf costs half of log."""
    if u <= 0.0:
        return 0.0
    w = u + math.sqrt(u * (u + 2.0))
    if w > 0.5:
        return np.float64(math.log(np.float32(1.0 + w)))
    return math.log1p(w)


@nb.njit(inline="always", **_OPTS)
def _gemm_u(p, g, c, slack, tol):
    """u from the GEMM value g = xs.ys and p = x0 y0, and whether it is good to ``tol``
    relative in d. Its error is at most slack * p (slack = (n + 4) eps64 c), and d moves by
    at most that over sqrt(u (u+2)); relative to d = acosh(1+u) that is at most
    slack * p / (2u), since sqrt(u (u+2)) acosh(1+u) >= 2u for u > 0 (equal as u -> 0)."""
    u = c * (p - g) - 1.0
    return u, slack * p <= tol * 2.0 * u


# Each kernel below takes ``serial``: True runs its rows on the calling thread, for small work,
# where starting the thread pool costs more than the rows do, and while other processes hold
# every core it waits a scheduler time slice for its workers (8 ms a call measured on 2 busy
# cores, against 4 us for one pair). The rows themselves are one inlined function per kernel.


@nb.njit(inline="always", **_OPTS)
def _dist_row(i, x, y, c, out):
    out[i] = _scaled_dist(_u_exact(x[i], y[i], c)) / math.sqrt(c)


@nb.njit(parallel=True, **_OPTS)
def dist_rows(x, y, c, out, serial):
    """out[i] = d(x[i], y[i]); x, y of shape (N, n) (space parts)."""
    if serial:
        for i in range(x.shape[0]):
            _dist_row(i, x, y, c, out)
    else:
        for i in nb.prange(x.shape[0]):
            _dist_row(i, x, y, c, out)


@nb.njit(inline="always", **_OPTS)
def _epilogue_row(i, xs, ys, gram, x0, y0, row0, c, tol, single, out):
    inv_sqrt_c = 1.0 / math.sqrt(c)
    slack = (xs.shape[1] + 4) * EPS64 * c
    r = row0 + i
    for j in range(gram.shape[1]):
        u, ok = _gemm_u(x0[r] * y0[j], gram[i, j], c, slack, tol)
        if not ok:  # the GEMM value could miss the bound: recompute exactly
            u = _u_exact(xs[r], ys[j], c)
        out[r, j] = (_scaled_dist_f32(u) if single else _scaled_dist(u)) * inv_sqrt_c


@nb.njit(parallel=True, **_OPTS)
def pairwise_epilogue(xs, ys, gram, x0, y0, row0, c, tol, single, out, serial):
    """out[row0 + i, j] = d(xs[row0+i], ys[j]) from gram[i, j] = xs.ys (float64);
    ``single``: out is float32, whose budget allows float32's log."""
    if serial:
        for i in range(gram.shape[0]):
            _epilogue_row(i, xs, ys, gram, x0, y0, row0, c, tol, single, out)
    else:
        for i in nb.prange(gram.shape[0]):
            _epilogue_row(i, xs, ys, gram, x0, y0, row0, c, tol, single, out)


@nb.njit(inline="always", **_OPTS)
def _knn_row(i, qs, ks, gram, q0, k0, row0, col0, c, tol, best_u, best_i):
    k = best_u.shape[1]
    slack = (qs.shape[1] + 4) * EPS64 * c
    r = row0 + i
    for j in range(gram.shape[1]):
        p = q0[r] * k0[j]
        if c * (p - gram[i, j]) - 1.0 - slack * p >= best_u[r, k - 1]:
            continue  # cannot enter even at its most favourable rounding
        u, ok = _gemm_u(p, gram[i, j], c, slack, tol)
        if not ok:
            u = _u_exact(qs[r], ks[j], c)
        if u >= best_u[r, k - 1] or u != u:
            continue  # a NaN never enters: the host ranks rows left short again
        m = k - 1
        while m > 0 and best_u[r, m - 1] > u:
            best_u[r, m] = best_u[r, m - 1]
            best_i[r, m] = best_i[r, m - 1]
            m -= 1
        best_u[r, m] = u
        best_i[r, m] = col0 + j


@nb.njit(parallel=True, **_OPTS)
def knn_tile(qs, ks, gram, q0, k0, row0, col0, c, tol, best_u, best_i, serial):
    # ks, k0: this tile's keys; col0: index of its first key
    """Merge one (query block x key block) tile into the running k best per query.

    best_u[r] (ascending) and best_i[r] hold the k smallest u = cosh(sqrt(c) d) - 1 so far
    (u is monotone in d). A key must be strictly smaller to enter, and keys arrive in
    index order, so ties keep the lower index.
    """
    if serial:
        for i in range(gram.shape[0]):
            _knn_row(i, qs, ks, gram, q0, k0, row0, col0, c, tol, best_u, best_i)
    else:
        for i in nb.prange(gram.shape[0]):
            _knn_row(i, qs, ks, gram, q0, k0, row0, col0, c, tol, best_u, best_i)


@nb.njit(**_OPTS)
def u_to_dist(best_u, c, out):
    """(N, k) entries: O(N k) work, always on the calling thread."""
    sqrt_c = math.sqrt(c)
    for i in range(best_u.shape[0]):
        for j in range(best_u.shape[1]):
            out[i, j] = _scaled_dist(best_u[i, j]) / sqrt_c


@nb.njit(inline="always", **_OPTS)
def _space_sq(row):
    """|xs|^2 of an ambient row, accumulated in float64."""
    s = 0.0
    for j in range(1, row.shape[0]):
        a = np.float64(row[j])
        s += a * a
    return s


@nb.njit(inline="always", **_OPTS)
def _expmap0_row(i, u, c, out):
    s = _space_sq(u[i])
    t = math.sqrt(c) * math.sqrt(s)
    k = math.sinh(t) / t if t != 0.0 else 1.0  # NaN stays NaN
    out[i, 0] = math.sqrt(1.0 / c + k * k * s)  # x0 = sqrt(1/c + |xs|^2), |xs| = k |us|
    for j in range(1, u.shape[1]):
        out[i, j] = k * np.float64(u[i, j])


@nb.njit(parallel=True, **_OPTS)
def expmap0_rows(u, c, out, serial):
    """out[i] = expmap0(u[i]); u (N, n+1), out (N, n+1); the time part of u is ignored."""
    if serial:
        for i in range(u.shape[0]):
            _expmap0_row(i, u, c, out)
    else:
        for i in nb.prange(u.shape[0]):
            _expmap0_row(i, u, c, out)


@nb.njit(inline="always", **_OPTS)
def _logmap0_row(i, y, c, out):
    t = math.sqrt(c) * math.sqrt(_space_sq(y[i]))
    k = math.asinh(t) / t if t != 0.0 else 1.0  # NaN stays NaN
    out[i, 0] = 0.0
    for j in range(1, y.shape[1]):
        out[i, j] = k * np.float64(y[i, j])


@nb.njit(parallel=True, **_OPTS)
def logmap0_rows(y, c, out, serial):
    """out[i] = logmap0(y[i]); time component 0."""
    if serial:
        for i in range(y.shape[0]):
            _logmap0_row(i, y, c, out)
    else:
        for i in nb.prange(y.shape[0]):
            _logmap0_row(i, y, c, out)


@nb.njit(inline="always", **_OPTS)
def _dist0_row(i, x, c, out):
    s = math.sqrt(c)
    out[i] = math.asinh(s * math.sqrt(_space_sq(x[i]))) / s


@nb.njit(parallel=True, **_OPTS)
def dist0_rows(x, c, out, serial):
    """out[i] = asinh(sqrt(c) |xs|) / sqrt(c) for ambient rows x (N, n+1)."""
    if serial:
        for i in range(x.shape[0]):
            _dist0_row(i, x, c, out)
    else:
        for i in nb.prange(x.shape[0]):
            _dist0_row(i, x, c, out)
