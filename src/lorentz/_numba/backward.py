"""Compiled backward passes of the elementwise kernels (used by the torch operators of
``lorentz._numba.torch_ops``): vector-Jacobian products of the reference formulas with respect
to the space parts, in closed form, accumulated in float64. The time components of the
inputs are never read (the reference re-derives them), so their gradient is 0.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .kernels import (
    _OPTS,
    T_BIG,
    _asinh_mul,
    _perp_norm,
    _perp_vec,
    _pow2_scale,
    _rho_sigma,
    _row_stats,
    _space_norm,
    _space_sq,
    _u_s,
)

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
    since y0 - x0 = -(D.S) / (x0 + y0): no cancellation for near pairs, zero at x == y. For a
    radial pair far out the two terms cancel (7.7e-7 of the gradient on an axis at |xs| = 1e5,
    1e-9 apart): where the result is below 2^-10 of its terms, that side is formed again by
    _pull, which does not cancel."""
    xr, yr = x[i], y[i]
    n = xr.shape[0]
    u, s = _u_s(xr[1:], yr[1:], c)
    if s >= 0.0:
        _dist_grad_wide(i, xr, yr, np.float64(g[i]), c, s, gx, gy)
        return
    # the zero subgradient at x == y; NaN stays NaN (u == 0 is False for NaN)
    w = 0.0 if u == 0.0 else np.float64(g[i]) * math.sqrt(c) / (math.sqrt(u) * math.sqrt(u + 2.0))
    nx = 0.0
    ny = 0.0
    ds = 0.0
    nd = 0.0
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        nx += a * a
        ny += b * b
        ds += (a - b) * (a + b)
        nd += (a - b) * (a - b)
    x0 = math.sqrt(1.0 / c + nx)
    y0 = math.sqrt(1.0 / c + ny)
    kx = ds / ((x0 + y0) * x0)
    ky = ds / ((x0 + y0) * y0)
    gx[i, 0] = 0.0
    gy[i, 0] = 0.0
    rx = 0.0  # |result|^2 per side, against the squares of its terms |D|^2 + k^2 |xs|^2
    ry = 0.0
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        vx = (a - b) - kx * a
        vy = (b - a) + ky * b
        gx[i, j] = w * vx
        gy[i, j] = w * vy
        rx += vx * vx
        ry += vy * vy
    if rx < 2.0**-20 * (nd + kx * kx * nx):
        _pull(xr[1:], yr[1:], c, w, gx[i, 1:])
    if ry < 2.0**-20 * (nd + ky * ky * ny):
        _pull(yr[1:], xr[1:], c, w, gy[i, 1:])


@nb.njit(**_OPTS)  # not inlined: rarely taken, and twice inlined it slowed the common rows
def _pull(a, b, c, w, out):
    """out = w (b0/a0 a - b) for space rows a, b, as -w ((lean / a0) a_hat + b_perp): b = eta a_hat
    + b_perp, lean = a0 eta - b0 |a| formed without cancellation (for eta > 0 as (along (eta + |a|)
    / c - |a|^2 |b_perp|^2) / (a0 eta + b0 |a|), along = a_hat.(b - a)), b_perp from the shorter
    of b and b - a. Written as (b0/a0) a - b it cancels for a radial pair far out (7.7e-7 of the
    gradient on an axis at |xs| = 1e5, 1e-9 apart)."""
    n = a.shape[0]
    na = 0.0
    nb_ = 0.0
    nd = 0.0
    ab = 0.0
    for j in range(n):
        p = np.float64(a[j])
        q = np.float64(b[j])
        na += p * p
        nb_ += q * q
        nd += (q - p) * (q - p)
        ab += p * q
    if na == 0.0:  # a at the origin: -b
        for j in range(n):
            out[j] = -w * np.float64(b[j])
        return
    ra = math.sqrt(na)
    eta = ab / ra
    use_b = nb_ < nd
    ad = 0.0
    for j in range(n):
        p = np.float64(a[j])
        q = np.float64(b[j])
        ad += p * (q if use_b else q - p)
    coef = ad / na  # a.base / |a|^2
    # the rounding of coef a leaves a part along a of size eps |base|, which adds to the radial
    # term (lean / a0) a_hat, itself |b - a| / (c a0^2): projected out once more
    ar = 0.0
    for j in range(n):
        p = np.float64(a[j])
        q = np.float64(b[j])
        ar += p * ((q if use_b else q - p) - coef * p)
    coef2 = ar / na
    bp2 = 0.0
    along = 0.0
    for j in range(n):
        p = np.float64(a[j])
        q = np.float64(b[j])
        v = ((q if use_b else q - p) - coef * p) - coef2 * p
        bp2 += v * v
        along += p * (q - p)
    along /= ra
    a0 = math.sqrt(1.0 / c + na)
    b0 = math.sqrt(1.0 / c + nb_)
    if eta > 0.0:
        lean = (along * (eta + ra) / c - na * bp2) / (a0 * eta + b0 * ra)
    else:
        lean = a0 * eta - b0 * ra
    k = lean / a0 / ra
    for j in range(n):
        p = np.float64(a[j])
        q = np.float64(b[j])
        out[j] = -w * (k * p + (((q if use_b else q - p) - coef * p) - coef2 * p))


@nb.njit(**_OPTS)
def _dist_grad_wide(i, xr, yr, g, c, s, gx, gy):
    """_dist_grad_row outside the plain range, from the polar form of kernels._s_wide: with
    s^2 = sinh^2(D/2) + t_x t_y sin^2(theta/2) (D = a_x - a_y, a = asinh(t), t = sqrt(c)|xs|),
        dd/dxs = [(sinh(D) rho_x / 2 + t_y sin^2(theta/2)) xs_hat - (sqrt(c)/2) ys_perp] / (s h),
    h = sqrt(1 + s^2), ys_perp the part of ys across xs (exact minors); likewise for ys. The
    closed form of _dist_grad_row, D - (D.S)/((x0 + y0) x0) xs, cancels there: for a radial
    pair 1e-9 apart at |xs| = 1e100 it is 1.5e-9 off. Below t = 2^-30 (flat): D_hat / h."""
    n = xr.shape[0]
    gx[i, 0] = 0.0
    gy[i, 0] = 0.0
    if s == 0.0 or s != s:
        w0 = 0.0 if s == 0.0 else s
        for j in range(1, n):
            gx[i, j] = w0
            gy[i, j] = w0
        return
    x = xr[1:]
    y = yr[1:]
    m = 0.0
    for j in range(n - 1):
        m = max(m, abs(np.float64(x[j])), abs(np.float64(y[j])))
    lam = _pow2_scale(m)
    ds = 0.0
    dd = 0.0
    for j in range(n - 1):
        a = np.float64(x[j]) * lam
        b = np.float64(y[j]) * lam
        ds += (a - b) * (a + b)
        dd += (a - b) * (a - b)
    sc = math.sqrt(c)
    _, mx = _row_stats(x, 1.0)
    _, my = _row_stats(y, 1.0)
    lx = _pow2_scale(mx) if mx > 0.0 else 1.0
    ly = _pow2_scale(my) if my > 0.0 else 1.0
    nx, _ = _row_stats(x, lx)
    ny, _ = _row_stats(y, ly)
    rx = math.sqrt(nx) / lx
    ry = math.sqrt(ny) / ly
    tx = sc * rx
    ty = sc * ry
    h = math.hypot(1.0, s)
    if max(tx, ty) < 2.0**-30:  # flat: d = |D| (1 + O(t^2))
        rd = math.sqrt(dd)
        for j in range(n - 1):
            v = g * ((np.float64(x[j]) - np.float64(y[j])) * lam / rd) / h
            gx[i, j + 1] = v
            gy[i, j + 1] = -v
        return
    rho_x, sig_x = _rho_sigma(tx)
    rho_y, sig_y = _rho_sigma(ty)
    if rx <= 2.0 * ry and ry <= 2.0 * rx:
        dt = (sc * (ds / (rx * lam + ry * lam))) / lam
    else:
        dt = tx - ty
    q = dt * ((sig_x * rho_y + sig_y * rho_x) / (sig_x + sig_y))
    if rx == 0.0 or ry == 0.0:
        half2 = 0.0
    else:
        xy = 0.0
        sm = 0.0
        df = 0.0
        for j in range(n - 1):
            a = np.float64(x[j]) * lx / math.sqrt(nx)
            b = np.float64(y[j]) * ly / math.sqrt(ny)
            xy += a * b
            sm += (a + b) * (a + b)
            df += (a - b) * (a - b)
        if xy >= 0.0:
            half = _perp_norm(x, y, lx, ly) / math.sqrt(ny) / math.sqrt(sm)
            half2 = half * half
        else:
            half2 = df / 4.0
    kx = ((q * rho_x / 2.0 + ty * half2) / s) / h * g
    ky = ((-q * rho_y / 2.0 + tx * half2) / s) / h * g
    w = sc / 2.0 / h * g
    px = np.empty(n - 1)
    py = np.empty(n - 1)
    _perp_vec(x, y, lx, ly, px)  # ys across xs (scaled by ly)
    _perp_vec(y, x, ly, lx, py)  # xs across ys (scaled by lx)
    for j in range(n - 1):
        xh = np.float64(x[j]) * lx / math.sqrt(nx) if rx > 0.0 else 0.0
        yh = np.float64(y[j]) * ly / math.sqrt(ny) if ry > 0.0 else 0.0
        gx[i, j + 1] = kx * xh - ((px[j] / ly) / s) * w
        gy[i, j + 1] = ky * yh - ((py[j] / lx) / s) * w


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
    """d = asinh(sqrt(c) r) / sqrt(c): dd/dxs = xs / (r sqrt(1 + c r^2)); 0 at the origin.
    Outside the range of r^2: (xs / r) / hypot(1, sqrt(c) r), r scaled."""
    r2 = _space_sq(x[i])
    gx[i, 0] = 0.0
    r = _space_norm(x[i]) if r2 == 0.0 else 1.0  # 0 also where every square underflowed
    if (r2 > 2.0**-960 and r2 <= 2.0**1000) or r == 0.0 or r2 != r2:
        w = 0.0 if r2 == 0.0 else np.float64(g[i]) / (math.sqrt(r2) * math.sqrt(1.0 + c * r2))
        for j in range(1, x.shape[1]):
            gx[i, j] = w * np.float64(x[i, j])
        return
    r = _space_norm(x[i])
    w = np.float64(g[i]) / math.hypot(1.0, math.sqrt(c) * r)
    for j in range(1, x.shape[1]):
        gx[i, j] = (np.float64(x[i, j]) / r) * w


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
    if t > T_BIG or r2 > 2.0**1000:
        _expmap0_grad_big(i, u, g, c, gu)
        return
    k = math.sinh(t) / t if t != 0.0 else 1.0
    gdot = 0.0
    for j in range(1, u.shape[1]):
        gdot += np.float64(g[i, j]) * np.float64(u[i, j])
    w = np.float64(g[i, 0]) * s * k + c * gdot * _expmap0_bend(t)
    gu[i, 0] = 0.0
    for j in range(1, u.shape[1]):
        gu[i, j] = k * np.float64(g[i, j]) + w * np.float64(u[i, j])


@nb.njit(**_OPTS)
def _expmap0_grad_big(i, u, g, c, gu):
    """t past T_BIG, where the forward pass is x = e^t / (2 sqrt(c)) (1, u_hat):
    gu = e^t [(gs + (gs.u_hat)(t - 1) u_hat) / (2t) + g0 u_hat / 2], formed as e^(t/2) (e^(t/2) .)
    so it overflows only where it must (e^-2t is below an ulp)."""
    r = _space_norm(u[i])
    t = math.sqrt(c) * r
    e = math.exp(t / 2.0)
    gdot = 0.0
    for j in range(1, u.shape[1]):
        gdot += np.float64(g[i, j]) * (np.float64(u[i, j]) / r)
    g0 = np.float64(g[i, 0])
    gu[i, 0] = 0.0
    for j in range(1, u.shape[1]):
        uh = np.float64(u[i, j]) / r
        b = (np.float64(g[i, j]) + gdot * (t - 1.0) * uh) / (2.0 * t) + g0 * uh / 2.0
        gu[i, j] = 0.0 if b == 0.0 else e * (e * b)


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
    if not (r2 > 2.0**-960 and r2 <= 2.0**200) and r2 != 0.0 and r2 == r2:
        _logmap0_grad_wide(i, y, g, c, gy)
        return
    t = math.sqrt(c) * math.sqrt(r2)
    h = math.asinh(t) / t if t != 0.0 else 1.0
    gdot = 0.0
    for j in range(1, y.shape[1]):
        gdot += np.float64(g[i, j]) * np.float64(y[i, j])
    w = c * gdot * _logmap0_bend(t)
    gy[i, 0] = 0.0
    for j in range(1, y.shape[1]):
        gy[i, j] = h * np.float64(g[i, j]) + w * np.float64(y[i, j])


@nb.njit(**_OPTS)
def _logmap0_grad_wide(i, y, g, c, gy):
    """Tiny or huge |ys|: gy = h gs + (gs.y_hat) (t^2 bend(t)) y_hat, t^2 bend(t) = (t /
    sqrt(1 + t^2) - asinh t) / t (the form with c (gs.ys) ys overflows with t^3), r scaled."""
    r = _space_norm(y[i])
    sc = math.sqrt(c)
    t = sc * r
    if t > 2.0**1020:
        h = _asinh_mul(sc, r) / sc / r
    else:
        h = math.asinh(t) / t if t != 0.0 else 1.0
    if t < SERIES_T:
        tb = t * t * _logmap0_bend(t)
    else:
        tb = (1.0 / math.hypot(1.0, 1.0 / t) - math.asinh(t)) / t if t <= 2.0**1020 else -h
    gdot = 0.0
    for j in range(1, y.shape[1]):
        gdot += np.float64(g[i, j]) * (np.float64(y[i, j]) / r)
    gy[i, 0] = 0.0
    for j in range(1, y.shape[1]):
        gy[i, j] = h * np.float64(g[i, j]) + (gdot * tb) * (np.float64(y[i, j]) / r)


@nb.njit(parallel=True, **_OPTS)
def logmap0_grad_rows(y, g, c, gy, serial):
    if serial:
        for i in range(y.shape[0]):
            _logmap0_grad_row(i, y, g, c, gy)
    else:
        for i in nb.prange(y.shape[0]):
            _logmap0_grad_row(i, y, g, c, gy)
