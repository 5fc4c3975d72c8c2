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
from typing import Any

import numba as nb
import numpy as np

from .threads import configure

# before the first kernel launches its threads: see threads.py
configure()

_OPTS: dict[str, Any] = dict(cache=True, nogil=True, error_model="numpy")
EPS64 = float(np.finfo(np.float64).eps)

# The plain formulas square lengths: in float64 |xs|^2 overflows at 1.3e154 and the distance's
# terms (c |b|^2 |D_perp|^2) at 1e77, far inside the representable radius (x0 finite up to
# |xs| = 1.8e308); below 1e-146 squares lose digits in subnormals; and once sqrt(c)|b| > 2^20 the
# projection of D across b, formed on a direction rounded to eps, errs by eps sqrt(c)|b|. Rows
# outside these bounds take the square-free forms below (lorentz._reference._odd_pair,
# _sinh_half_wide); ordinary rows pay two comparisons.
LO2 = 2.0**-512  # squared lengths and c |xs|^2 below: tiny
HI2 = 2.0**512  # squared lengths above: huge
CHI = 2.0**256  # c |xs|^2 above: u and its terms leave the range
FAR2 = 2.0**40  # c min(|xs|^2, |ys|^2) above: projections too coarse
T_BIG = math.log(np.finfo(np.float64).max) - 10.0  # sinh(t), e^t about to overflow past this
T_INF = math.log(np.finfo(np.float64).max) - math.log(5e-324) + 1.0  # e^t x overflows for all x
SPLIT = 134217729.0  # 2^27 + 1, Veltkamp's splitter for float64
SQRT2 = math.sqrt(2.0)


@nb.njit(inline="always", **_OPTS)
def _odd(nx, ny, c, x, y):
    """Whether the plain formula of degree 4 in the lengths of rows x, y (squared: nx, ny) leaves
    its range (NaN: no; two zero rows: no, their squares are exact)."""
    if nx != nx or ny != ny:  # max() would drop the NaN: the plain formula carries it
        return False
    big2 = max(nx, ny)
    cb = c * big2
    if big2 > HI2 or cb > CHI or cb * big2 > HI2 or c * min(nx, ny) > FAR2:
        return True
    if big2 < LO2 or cb < LO2:
        for i in range(x.shape[0]):
            if x[i] != 0.0 or y[i] != 0.0:
                return True
    return False


@nb.njit(inline="always", **_OPTS)
def _pow2_scale(m):
    """A power of two lam for a row of largest magnitude m (lorentz._guarded.pow2_scale): m lam at
    most 2^448 (squares and products of two stay finite) and no smaller than needed, so that the
    row's small components keep normal squares; small rows up to [0.5, 1) (at most 2^1000)."""
    e = math.frexp(m)[1]  # m in [2^(e-1), 2^e)
    if e > 448:
        return math.ldexp(1.0, 448 - e)
    if e < -64:
        return math.ldexp(1.0, min(1000, -e))
    return 1.0


@nb.njit(inline="always", **_OPTS)
def _row_stats(x, lam):
    """(|x lam|^2, max |x|) of a row."""
    s = 0.0
    m = 0.0
    for i in range(x.shape[0]):
        a = np.float64(x[i])
        m = max(m, abs(a))
        a *= lam
        s += a * a
    return s, m


@nb.njit(inline="always", **_OPTS)
def _two_prod(a, b):
    """(p, e) with p + e = a b exactly (Dekker; |a|, |b| below 2^996)."""
    p = a * b
    t = a * SPLIT
    ah = t - (t - a)
    al = a - ah
    t = b * SPLIT
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@nb.njit(**_OPTS)
def _perp_norm(a, b, la, lb):
    """|part of b across a| for rows a, b scaled by la, lb (see lorentz._guarded.perp_part): from
    exact 2x2 minors, to a few ulps of its own size however small, 0 only for parallel rows."""
    out = np.empty(a.shape[0])
    _perp_vec(a, b, la, lb, out)
    m = 0.0
    for i in range(a.shape[0]):
        m = max(m, abs(out[i]))
    if m == 0.0 or m != m:
        return m
    lam = math.ldexp(1.0, min(1000, -math.frexp(m)[1]))  # the part across may be far below b
    s = 0.0
    for i in range(a.shape[0]):
        v = out[i] * lam
        s += v * v
    return math.sqrt(s) / lam


@nb.njit(**_OPTS)
def _perp_vec(a, b, la, lb, out):
    """out = the part of b lb across a la (rows; lorentz._guarded.perp_part); b lb where a = 0."""
    n = a.shape[0]
    k = 0
    best = -1.0
    for i in range(n):
        v = abs(np.float64(a[i]) * la)
        if v > best:
            best = v
            k = i
    ak = np.float64(a[k]) * la
    bk = np.float64(b[k]) * lb
    if ak == 0.0:
        for i in range(n):
            out[i] = np.float64(b[i]) * lb
        return
    aw = 0.0
    aa = 0.0
    for i in range(n):
        ai = np.float64(a[i]) * la
        p1, e1 = _two_prod(ak, np.float64(b[i]) * lb)
        p2, e2 = _two_prod(ai, bk)
        w = ((p1 - p2) + (e1 - e2)) / ak
        out[i] = w
        aw += ai * w
        aa += ai * ai
    f = aw / aa
    for i in range(n):
        out[i] -= f * (np.float64(a[i]) * la)


@nb.njit(inline="always", **_OPTS)
def _rho_sigma(t):
    """(1 / sqrt(1 + t^2), t / sqrt(1 + t^2)) without overflow."""
    if t > 1.0:
        return 1.0 / math.hypot(1.0, t), 1.0 / math.hypot(1.0, 1.0 / t)
    h = math.hypot(1.0, t)
    return 1.0 / h, t / h


@nb.njit(**_OPTS)
def _s_wide(x, y, c):
    """sinh(sqrt(c) d / 2) for rows outside the plain range (lorentz._reference._sinh_half_wide):
    s^2 = sinh^2((a_x - a_y) / 2) + t_x t_y sin^2(theta / 2), a = asinh(t), t = sqrt(c)|xs|,
    theta the angle at the origin; flat (sqrt(c)|D| / 2) below t = 2^-30. Each norm on its own
    scale (a common one lost the smaller point's squares: 2e-3 off at |xs| = 1, |ys| = 1e162)."""
    n = x.shape[0]
    m = 0.0
    for i in range(n):
        m = max(m, abs(np.float64(x[i])), abs(np.float64(y[i])))
    if m != m:
        return m
    if m == 0.0:
        return 0.0
    lam = _pow2_scale(m)  # common: D and S
    ds = 0.0
    dd = 0.0
    xy = 0.0
    for i in range(n):
        a = np.float64(x[i]) * lam
        b = np.float64(y[i]) * lam
        d = a - b
        ds += d * (a + b)
        dd += d * d
    sc = math.sqrt(c)
    _, mx = _row_stats(x, 1.0)
    _, my = _row_stats(y, 1.0)
    lx = _pow2_scale(mx) if mx > 0.0 else 1.0
    ly = _pow2_scale(my) if my > 0.0 else 1.0
    nx, _ = _row_stats(x, lx)
    ny, _ = _row_stats(y, ly)
    rx = math.sqrt(nx) / lx  # |xs|, |ys| on their own scales
    ry = math.sqrt(ny) / ly
    tx = sc * rx
    ty = sc * ry
    if max(tx, ty) < 2.0**-30:
        return (sc * math.sqrt(dd)) / lam / 2.0
    rho_x, sig_x = _rho_sigma(tx)
    rho_y, sig_y = _rho_sigma(ty)
    if rx <= 2.0 * ry and ry <= 2.0 * rx:  # t_x - t_y from D.S on one scale
        dt = (sc * (ds / (rx * lam + ry * lam))) / lam
    else:
        dt = tx - ty
    q = dt * ((sig_x * rho_y + sig_y * rho_x) / (sig_x + sig_y))
    radial = abs(q) / (SQRT2 * math.sqrt(math.hypot(1.0, q) + 1.0))
    if rx == 0.0 or ry == 0.0:
        return radial
    sm = 0.0
    df = 0.0
    for i in range(n):
        a = np.float64(x[i]) * lx / math.sqrt(nx)
        b = np.float64(y[i]) * ly / math.sqrt(ny)
        xy += a * b
        sm += (a + b) * (a + b)
        df += (a - b) * (a - b)
    if xy >= 0.0:  # sin(theta / 2) = sin(theta) / |xs_hat + ys_hat|, sin(theta) from exact minors
        half = _perp_norm(x, y, lx, ly) / math.sqrt(ny) / math.sqrt(sm)
    else:
        half = math.sqrt(df) / 2.0
    return math.hypot(radial, math.sqrt(tx) * math.sqrt(ty) * half)


@nb.njit(inline="always", **_OPTS)
def _space_norm(row):
    """|xs| of an ambient row, accumulated in float64, scaled by a power of two where the plain
    sum of squares overflows or falls into subnormals (finite up to |xs| = max)."""
    s = _space_sq(row)
    if s > 2.0**-960 and s <= 1.7976931348623157e308:
        return math.sqrt(s)
    m = 0.0
    for j in range(1, row.shape[0]):
        m = max(m, abs(np.float64(row[j])))
    if m == 0.0 or m != m or m == math.inf:
        return m
    lam = _pow2_scale(m)
    s = 0.0
    for j in range(1, row.shape[0]):
        a = np.float64(row[j]) * lam
        s += a * a
    return math.sqrt(s) / lam


@nb.njit(inline="always", **_OPTS)
def _asinh_mul(s, r):
    """asinh(s r), also where s r overflows (log(2 s r) there, exact to far below an ulp)."""
    t = s * r
    if t > 2.0**1020:
        return (math.log(2.0) + math.log(s)) + math.log(r)
    return math.asinh(t)


@nb.njit(inline="always", **_OPTS)
def _cosh_minus_one(x, y, c):
    """cosh(sqrt(c) d) - 1 by the Lagrange identity (see lorentz._reference.cosh_minus_one);
    2 s^2 from _s_wide outside the plain range (inf where u itself overflows)."""
    return _u_s(x, y, c)[0]


@nb.njit(inline="always", **_OPTS)
def _u_s(x, y, c):
    """(u, -1) in the plain range, (2 s^2, s) outside it, s = sinh(sqrt(c) d / 2) = sqrt(u / 2)."""
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
    if _odd(nx, ny, c, x, y):
        s = _s_wide(x, y, c)
        return 2.0 * s * s, s
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
        return (dd + c * nb_ * perp) / (x0 * y0 + 1.0 / c + xy), -1.0
    a = 1.0 / math.sqrt(c)
    return c * (nx * y0 / (x0 + a) + a * ny / (y0 + a) - xy), -1.0


@nb.njit(inline="always", **_OPTS)
def _scaled_dist(u):
    """acosh(1 + u) = log(1 + w), w = u + sqrt(u (u + 2)): log1p where w is small (exact
    near u = 0), log elsewhere (1 + w rounds harmlessly there, and glibc's log is ~4x faster
    than its log1p: 6 ns against 23 ns a call, measured)."""
    if u <= 0.0:
        return 0.0
    if u > 2.0**500:  # u (u + 2) overflows: log 2 + log1p(u), off by 1/(4 u^2), far below an ulp
        return math.log(2.0) + math.log1p(u)
    w = u + math.sqrt(u * (u + 2.0))
    return math.log(1.0 + w) if w > 0.5 else math.log1p(w)


@nb.njit(inline="always", **_OPTS)
def _scaled_dist_f32(u):
    """_scaled_dist for float32 results: where w > 0.5, d >= log(1.5) and float32's log of
    the rounded 1 + w is within 2e-7 relative (one rounding of 1 + w is 6e-8 absolute in d,
    logf adds an ulp), against the 2e-6 budget; logf costs half of log."""
    if u <= 0.0:
        return 0.0
    if u > 2.0**60:  # 1 + w would overflow float32 (d > 89): the float64 form
        return _scaled_dist(u)
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
    # p beyond 2^500 (or not finite: x0 y0 overflowed far out): the exact form decides
    return u, slack * p <= tol * 2.0 * u and p <= 2.0**500


# Each kernel below takes ``serial``: True runs its rows on the calling thread, for small work,
# where starting the thread pool costs more than the rows do, and while other processes hold
# every core it waits a scheduler time slice for its workers (8 ms a call measured on 2 busy
# cores, against 4 us for one pair). The rows themselves are one inlined function per kernel.


@nb.njit(inline="always", **_OPTS)
def _delta_exact(x, y, c):
    """sqrt(c) d: acosh(1 + u) of the plain u, or 2 asinh(s) outside its range (u may overflow
    where d does not)."""
    u, s = _u_s(x, y, c)
    return 2.0 * math.asinh(s) if s >= 0.0 else _scaled_dist(u)


@nb.njit(inline="always", **_OPTS)
def _dist_row(i, x, y, c, out):
    out[i] = _delta_exact(x[i], y[i], c) / math.sqrt(c)


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
        if ok:
            out[r, j] = (_scaled_dist_f32(u) if single else _scaled_dist(u)) * inv_sqrt_c
        else:  # the GEMM value could miss the bound: recompute exactly
            out[r, j] = _delta_exact(xs[r], ys[j], c) * inv_sqrt_c


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
        if p <= 2.0**500 and c * (p - gram[i, j]) - 1.0 - slack * p >= best_u[r, k - 1]:
            continue  # cannot enter even at its most favourable rounding
        u, ok = _gemm_u(p, gram[i, j], c, slack, tol)
        if not ok:
            u = _cosh_minus_one(qs[r], ks[j], c)
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
    if not (s > 2.0**-960 and s <= 2.0**1000):  # tiny, huge (or 0, NaN: same result)
        r = _space_norm(u[i])
        s = r * r
    else:
        r = math.sqrt(s)
    t = math.sqrt(c) * r
    if t > T_BIG:  # sinh(t) about to overflow: xs = e^t / (2 sqrt(c)) us / |us|, formed as
        # e^(t/2) (e^(t/2) ...), so a component overflows to +-inf alone and 0 stays 0
        e = math.exp(t / 2.0)
        w = 1.0 / (2.0 * math.sqrt(c))
        out[i, 0] = e * (e * w)
        for j in range(1, u.shape[1]):
            v = np.float64(u[i, j])
            if v == 0.0:
                out[i, j] = 0.0
            elif t > T_INF:  # e^t times any nonzero number overflows (v / r may underflow)
                out[i, j] = math.copysign(math.inf, v)
            else:
                out[i, j] = e * (e * (w * (v / r)))
        return
    k = math.sinh(t) / t if t != 0.0 else 1.0  # NaN stays NaN
    x2 = k * k * s
    # x0 = sqrt(1/c + |xs|^2), |xs| = k |us|; cosh(t) / sqrt(c) where |xs|^2 overflows
    out[i, 0] = math.sqrt(1.0 / c + x2) if x2 <= 2.0**1000 else math.cosh(t) / math.sqrt(c)
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
    r = _space_norm(y[i])
    t = math.sqrt(c) * r
    if t > 2.0**1020:  # asinh(t) / t past overflow: (log(2 sqrt(c)) + log r) / (sqrt(c) r)
        k = _asinh_mul(math.sqrt(c), r) / math.sqrt(c) / r
    else:
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
    out[i] = _asinh_mul(s, _space_norm(x[i])) / s


@nb.njit(parallel=True, **_OPTS)
def dist0_rows(x, c, out, serial):
    """out[i] = asinh(sqrt(c) |xs|) / sqrt(c) for ambient rows x (N, n+1)."""
    if serial:
        for i in range(x.shape[0]):
            _dist0_row(i, x, c, out)
    else:
        for i in nb.prange(x.shape[0]):
            _dist0_row(i, x, c, out)
