"""Compiled exponential and logarithmic maps at any base point, forward and backward, for rows
in the plain range of lorentz._reference.expmap and .logmap (lengths whose squares are normal
numbers, x not far out, t below t_big). Rows outside it are marked ``odd`` and finished by the
host with the reference's square-free form (lorentz._numba.ops), so every row keeps the
reference's accuracy.

expmap
------
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

logmap
------
The forward pass is the reference's (lorentz._reference.logmap): u = cosh(delta) - 1 =
-c<x,y>_L - 1 without cancellation (kernels._u_s), vs = (ys - xs) - u xs, and with
s = sinh(delta) = sqrt(u) sqrt(u + 2) and f = delta / sinh(delta) = asinh(s) / s,
w = f vs is the space part of log_x(y) and w0 = xs.w / x0 its time part (tangency).

The backward pass is the vector-Jacobian product of (w, w0) as a function of (xs, ys) (neither
time component is read). With the upstream gradient (g0, gs), H = gs + (g0 / x0) xs (w0
depends on w), f'(u) = -bend(delta) f^3 (bend as for expmap0: (t cosh t - sinh t) / t^3, by its
series near 0, so f'(0) = -1/3 with no 0/0), the weight of du is
    k = f'(u) (H.vs) - f (H.xs) = -bend(delta) f^3 H.(ys - xs) - (1 + f) / (2 + u) (H.xs)
(vs = (ys - xs) - u xs and u bend f^3 - f = -(1 + f) / (2 + u); the first form cancels by a
factor of about delta for opposite points: 2.5e-14 of the gradient at |xs| = |ys| = 1e4), and
    du/dxs = c (y0/x0 xs - ys) = c (D - (D.S) / ((x0 + y0) x0) xs),
    du/dys = c (x0/y0 ys - xs) = c (-D + (D.S) / ((x0 + y0) y0) ys),   D = xs - ys, S = xs + ys,
    g_ys = f H + k du/dys,
    g_xs = -(1 + u) f H + k du/dxs + (g0 / x0) (w - (w0 / x0) xs).
du/dxs is formed as dist's backward forms it (backward._dist_grad_row): zero at x == y with no
cancellation for near pairs, and by backward._pull where its two terms cancel (a radial pair
far out). At x == y: u = 0, vs = 0, so g_xs = -H and g_ys = H.

transport
---------
The forward pass is the reference's (lorentz._reference.transport, _transport_plain): with
xh = xs / |xs|, beta = xh.vs, eta = xh.ys, v_perp and y_perp the parts of vs and ys across xh
(y_perp from the shorter of ys and ys - xs) and lean = x0 eta - y0 |xs| without cancellation,
L = <y,v>_L = beta lean / x0 + y_perp.v_perp, A = 2 + u (kernels._u_s), k = c L / A and
P_s = vs + k (xs + ys), or, where |k (xs + ys)| > |vs| / 2 (that sum would cancel), the terms
along xh collected first (_transport_far). P_0 = ys.P_s / y0 (tangent at y). The plain range
is logmap's, with |vs| neither huge nor tiny and sqrt(c)|xs| <= 2^10 (as the reference's).

The backward pass is the vector-Jacobian product of (P_0, P_s) as a function of (xs, ys, vs)
(no time component is read). With the upstream gradient (g0, gs), G = gs + (g0 / y0) ys (P_0
depends on P_s), m = G.(xs + ys), the weights k_L = c m / A of dL and k_A = -m k / A of du:
    dL/dvs = e_x,   dL/dxs = -(y0/x0) w_x,   dL/dys = w_x + (v0 / x0) e_y,
    du/dxs = -c e_x,   du/dys = -c e_y,
where v0 = xs.vs / x0, w_x = vs - (v0 / x0) xs = v_perp + beta / (c x0^2) xh (no cancellation
far out), e_x = ys - (y0/x0) xs = D - (D.S) / ((x0 + y0) x0) xs and e_y = xs - (x0/y0) ys
= -D + (D.S) / ((x0 + y0) y0) ys (D = ys - xs, S = xs + ys: zero at x == y, by backward._pull
where the two terms cancel, as for logmap), so that
    g_vs = G + k_L e_x,
    g_xs = k G - k_L (y0/x0) w_x - c k_A e_x,
    g_ys = k G + (g0 / y0) w_y + k_L w_x + (k_L v0 / x0 - c k_A) e_y,
with w_y = P_s - (P_0 / y0) ys = (P_s across yh) + (yh.P_s) / (c y0^2) yh the derivative of P_0
in ys. v_perp is projected across xh once more in w_x: the rounding of beta xh leaves a part
along xh of size eps |vs|, which for a long radial vs far out outweighed w_x itself (7e-12 of
the gradient at |xs| = 1e3). At the origin (xh = 0) the formulas hold as written: w_x = vs,
v0 = 0; the reference's autograd there takes xs/|xs| as a constant and finds dL/dxs = -vs in
place of -(y0/x0) vs (its gradient in x differs; finite differences agree with this one).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .backward import _expmap0_bend, _pull
from .cones import _tiny
from .kernels import _OPTS, FAR2, HI2, T_BIG, _odd, _space_sq, _u_s


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
    if y2 <= 2.0**1000:
        return math.sqrt(1.0 / c + y2)
    s = 0.0
    for j in range(1, x.shape[0]):
        y = _y_space(x, u, j, a, b, k, r) * 2.0**-600
        s += y * y
    return math.hypot(1.0 / math.sqrt(c), math.sqrt(s) * 2.0**600)


@nb.njit(inline="always", **_OPTS)
def _expmap_row(i, x, u, c, out, odd):
    xr, ur = x[i], u[i]
    nx = _space_sq(xr)
    odd[i] = _expmap_odd(xr, ur, c, nx, _space_sq(ur))
    if odd[i]:
        return
    a, b, _x0, _p2, _t, k, r = _expmap_parts(xr, ur, c, nx)
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
    a, b, x0, _p2, t, k, r = _expmap_parts(xr, ur, c, nx)
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


# ---------------------------------------------------------------- logmap


@nb.njit(inline="always", **_OPTS)
def _logmap_odd(x, y, c, nx, ny):
    """Whether a row leaves the plain range (lorentz._reference._odd_rows(c, xs, nx, ys, ny),
    conservatively). NaN rows are not odd: they stay NaN here."""
    return _odd(nx, ny, c, x[1:], y[1:]) or _tiny(nx, x) or _tiny(ny, y)


@nb.njit(inline="always", **_OPTS)
def _logmap_parts(x, y, c):
    """(u, s, f) of one plain row: u = cosh(delta) - 1, s = sinh(delta), f = delta / s. s from u
    as sqrt(u) sqrt(u + 2): u (u + 2) is subnormal for pairs 1e-154 apart."""
    u = _u_s(x[1:], y[1:], c)[0]
    s = math.sqrt(u) * math.sqrt(u + 2.0)
    f = math.asinh(s) / s if s != 0.0 else 1.0  # NaN stays NaN
    return u, s, f


@nb.njit(inline="always", **_OPTS)
def _logmap_row(i, x, y, c, out, odd):
    xr, yr = x[i], y[i]
    nx = _space_sq(xr)
    odd[i] = _logmap_odd(xr, yr, c, nx, _space_sq(yr))
    if odd[i]:
        return
    u, _s, f = _logmap_parts(xr, yr, c)
    p = 0.0
    for j in range(1, xr.shape[0]):
        a = np.float64(xr[j])
        w = f * ((np.float64(yr[j]) - a) - u * a)
        out[i, j] = w
        p += a * w
    out[i, 0] = p / math.sqrt(1.0 / c + nx)


@nb.njit(parallel=True, **_OPTS)
def logmap_rows(x, y, c, out, odd, serial):
    """out[i] = log_x[i](y[i]) (ambient rows); odd[i] marks rows left to the host."""
    if serial:
        for i in range(x.shape[0]):
            _logmap_row(i, x, y, c, out, odd)
    else:
        for i in nb.prange(x.shape[0]):
            _logmap_row(i, x, y, c, out, odd)


@nb.njit(inline="always", **_OPTS)
def _logmap_grad_row(i, x, y, g, c, gx, gy, odd):
    xr, yr, gr = x[i], y[i], g[i]
    n = xr.shape[0]
    nx = _space_sq(xr)
    ny = _space_sq(yr)
    odd[i] = _logmap_odd(xr, yr, c, nx, ny)
    gx[i, 0] = 0.0
    gy[i, 0] = 0.0
    if odd[i]:
        return
    u, s, f = _logmap_parts(xr, yr, c)
    x0 = math.sqrt(1.0 / c + nx)
    y0 = math.sqrt(1.0 / c + ny)
    g0 = np.float64(gr[0]) / x0
    hd = 0.0  # H.(ys - xs)
    hx = 0.0  # H.xs
    p = 0.0  # xs.vs
    ds = 0.0  # D.S
    nd = 0.0  # |D|^2
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        v = (b - a) - u * a
        h = np.float64(gr[j]) + g0 * a
        hd += h * (b - a)
        hx += h * a
        p += a * v
        ds += (a - b) * (a + b)
        nd += (a - b) * (a - b)
    cw = -c * (_expmap0_bend(math.asinh(s)) * f * f * f * hd + (1.0 + f) / (2.0 + u) * hx)  # c k
    lean = g0 * (f * p / x0) / x0  # (g0 / x0) (w0 / x0)
    kx = ds / ((x0 + y0) * x0)
    ky = ds / ((x0 + y0) * y0)
    rx = 0.0  # |du/dxs / c|^2 per side, against the squares of its terms
    ry = 0.0
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        vx = (a - b) - kx * a
        vy = (b - a) + ky * b
        rx += vx * vx
        ry += vy * vy
        h = f * (np.float64(gr[j]) + g0 * a)
        w = f * ((b - a) - u * a)
        gx[i, j] = (g0 * w - lean * a - (1.0 + u) * h) + cw * vx
        gy[i, j] = h + cw * vy
    pull_x = rx < 2.0**-20 * (nd + kx * kx * nx)
    pull_y = ry < 2.0**-20 * (nd + ky * ky * ny)
    if pull_x or pull_y:
        _logmap_grad_pulled(xr, yr, gr, c, u, f, g0, lean, cw, kx, ky, pull_x, pull_y, gx[i], gy[i])


@nb.njit(**_OPTS)  # not inlined: rarely taken (a radial pair far out)
def _logmap_grad_pulled(xr, yr, gr, c, u, f, g0, lean, cw, kx, ky, pull_x, pull_y, gxr, gyr):
    """_logmap_grad_row's result again, with c k du/dxs (pull_x) or c k du/dys (pull_y) formed
    by backward._pull, where the plain difference of its two terms cancelled; in float64 up to
    the one rounding of the sum (gxr, gyr may be float32)."""
    n = xr.shape[0]
    px = np.empty(n - 1)
    py = np.empty(n - 1)
    if pull_x:
        _pull(xr[1:], yr[1:], c, cw, px)
    if pull_y:
        _pull(yr[1:], xr[1:], c, cw, py)
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        h = f * (np.float64(gr[j]) + g0 * a)
        w = f * ((b - a) - u * a)
        du_x = px[j - 1] if pull_x else cw * ((a - b) - kx * a)
        du_y = py[j - 1] if pull_y else cw * ((b - a) + ky * b)
        gxr[j] = (g0 * w - lean * a - (1.0 + u) * h) + du_x
        gyr[j] = h + du_y


@nb.njit(parallel=True, **_OPTS)
def logmap_grad_rows(x, y, g, c, gx, gy, odd, serial):
    if serial:
        for i in range(x.shape[0]):
            _logmap_grad_row(i, x, y, g, c, gx, gy, odd)
    else:
        for i in nb.prange(x.shape[0]):
            _logmap_grad_row(i, x, y, g, c, gx, gy, odd)


# ---------------------------------------------------------------- transport


@nb.njit(inline="always", **_OPTS)
def _transport_odd(x, y, v, c, nx, ny, nv):
    """Whether a row leaves the plain range (lorentz._reference.transport's odd rows: those of
    logmap, v huge or tiny, x beyond sqrt(c)|xs| = 2^10). NaN rows are not odd."""
    if _logmap_odd(x, y, c, nx, ny) or nv > HI2 or c * nx > 2.0**20:
        return True
    return _tiny(nv, v)


@nb.njit(inline="always", **_OPTS)
def _space_sq3(x, y, v):
    """|xs|^2, |ys|^2, |vs|^2 of three ambient rows in one pass, accumulated in float64."""
    nx = 0.0
    ny = 0.0
    nv = 0.0
    for j in range(1, x.shape[0]):
        a = np.float64(x[j])
        b = np.float64(y[j])
        w = np.float64(v[j])
        nx += a * a
        ny += b * b
        nv += w * w
    return nx, ny, nv


@nb.njit(inline="always", **_OPTS)
def _transport_parts(x, y, v, c, nx, ny, nv):
    """(r, x0, y0, u, beta, ybx, lean, yvp, k, small) of one plain row (module docstring):
    r = |xs|, beta = xh.vs, ybx = xh.base (base = ys or ys - xs, whichever is shorter; its part
    across xh is y_perp), yvp = y_perp.v_perp, k = c <y,v>_L / (2 + u), small: |k (xs + ys)| is
    at most half of |vs|."""
    n = x.shape[0]
    r = math.sqrt(nx)
    rs = r if r > 0.0 else 1.0  # xh = xs / rs: 0 at the origin, no branch in the loops
    x0 = math.sqrt(1.0 / c + nx)
    y0 = math.sqrt(1.0 / c + ny)
    along = 0.0
    beta = 0.0
    eta = 0.0
    nd = 0.0
    for j in range(1, n):
        a = np.float64(x[j])
        b = np.float64(y[j])
        xh = a / rs
        along += xh * (b - a)
        beta += xh * np.float64(v[j])
        eta += xh * b
        nd += (b - a) * (b - a)
    use_y = ny < nd
    ybx = eta if use_y else along
    ypp = 0.0
    yvp = 0.0
    for j in range(1, n):
        a = np.float64(x[j])
        b = np.float64(y[j])
        xh = a / rs
        yp = (b if use_y else b - a) - ybx * xh
        ypp += yp * yp
        yvp += yp * (np.float64(v[j]) - beta * xh)
    if eta > 0.0:
        lean = (along * (eta + r) / c - nx * ypp) / (x0 * eta + y0 * r)
    else:
        lean = x0 * eta - y0 * r
    u = _u_s(x[1:], y[1:], c)[0]
    k = c * (beta * lean / x0 + yvp) / (2.0 + u)
    st = 0.0
    for j in range(1, n):
        s = k * (np.float64(x[j]) + np.float64(y[j]))
        st += s * s
    small = st <= 0.25 * nv
    radial = (beta * (x0 + y0 + c * eta * lean) + c * yvp * x0 * (r + eta)) / (x0 * (2.0 + u))
    return r, rs, x0, y0, u, beta, ybx, use_y, k, small, radial


@nb.njit(inline="always", **_OPTS)
def _transport_space(x, y, v, j, rs, beta, ybx, use_y, k, small, radial):
    """The j-th component of P(v)'s space part: vs + k (xs + ys), or where that difference of
    long vectors would cancel, radial xh + v_perp + k y_perp."""
    a = np.float64(x[j])
    b = np.float64(y[j])
    w = np.float64(v[j])
    if small:
        return w + k * (a + b)
    xh = a / rs
    return radial * xh + (w - beta * xh) + k * ((b if use_y else b - a) - ybx * xh)


@nb.njit(inline="always", **_OPTS)
def _transport_row(i, x, y, v, c, out, odd):
    xr, yr, vr = x[i], y[i], v[i]
    nx, ny, nv = _space_sq3(xr, yr, vr)
    odd[i] = _transport_odd(xr, yr, vr, c, nx, ny, nv)
    if odd[i]:
        return
    _r, rs, _x0, y0, _u, beta, ybx, use_y, k, small, radial = _transport_parts(
        xr, yr, vr, c, nx, ny, nv
    )
    p = 0.0
    for j in range(1, xr.shape[0]):
        s = _transport_space(xr, yr, vr, j, rs, beta, ybx, use_y, k, small, radial)
        out[i, j] = s
        p += np.float64(yr[j]) * s
    out[i, 0] = p / y0


@nb.njit(parallel=True, **_OPTS)
def transport_rows(x, y, v, c, out, odd, serial):
    """out[i] = P_{x[i] -> y[i]}(v[i]) (ambient rows); odd[i] marks rows left to the host."""
    if serial:
        for i in range(x.shape[0]):
            _transport_row(i, x, y, v, c, out, odd)
    else:
        for i in nb.prange(x.shape[0]):
            _transport_row(i, x, y, v, c, out, odd)


@nb.njit(inline="always", **_OPTS)
def _transport_grad_row(i, x, y, v, g, c, gx, gy, gv, odd):
    xr, yr, vr, gr = x[i], y[i], v[i], g[i]
    n = xr.shape[0]
    nx, ny, nv = _space_sq3(xr, yr, vr)
    odd[i] = _transport_odd(xr, yr, vr, c, nx, ny, nv)
    gx[i, 0] = 0.0
    gy[i, 0] = 0.0
    gv[i, 0] = 0.0
    if odd[i]:
        return
    r, rs, x0, y0, u, beta, ybx, use_y, k, small, radial = _transport_parts(
        xr, yr, vr, c, nx, ny, nv
    )
    ry = math.sqrt(ny)
    rys = ry if ry > 0.0 else 1.0
    f0 = np.float64(gr[0]) / y0
    m = 0.0  # G.S
    q = 0.0  # yh.ps
    ds = 0.0  # D.S, D = ys - xs
    nd = 0.0
    dv = 0.0  # xh.(vs - beta xh): the part along xh that the rounding of beta xh left
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        xh = a / rs
        dv += xh * (np.float64(vr[j]) - beta * xh)
        ps = _transport_space(xr, yr, vr, j, rs, beta, ybx, use_y, k, small, radial)
        m += (np.float64(gr[j]) + f0 * b) * (a + b)
        q += b / rys * ps
        ds += (b - a) * (a + b)
        nd += (b - a) * (b - a)
    a2 = 2.0 + u
    k_l = c * m / a2  # the weight of d<y,v>_L
    k_a = -m * k / a2  # the weight of du
    v0x = (beta * r / x0) / x0  # v0 / x0, v0 = xs.vs / x0
    cv, cx = k_l, -c * k_a  # the weights of e_x in g_vs and g_xs
    ey = k_l * v0x - c * k_a  # the weight of e_y in g_ys
    lean_x = beta / (c * x0 * x0)  # w_x = v_perp + lean_x xh
    lean_y = q / (c * y0 * y0)  # w_y = ps_perp + lean_y yh
    tx = k_l * (y0 / x0)
    kx = ds / ((x0 + y0) * x0)
    ky = ds / ((x0 + y0) * y0)
    rx = 0.0  # |e_x|^2, |e_y|^2, against the squares of their terms
    rr = 0.0
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        w = np.float64(vr[j])
        xh = a / rs
        yh = b / rys
        ps = _transport_space(xr, yr, vr, j, rs, beta, ybx, use_y, k, small, radial)
        big_g = np.float64(gr[j]) + f0 * b
        w_x = ((w - beta * xh) - dv * xh) + lean_x * xh
        w_y = (ps - q * yh) + lean_y * yh
        e_x = (b - a) - kx * a
        e_y = (a - b) + ky * b
        rx += e_x * e_x
        rr += e_y * e_y
        gv[i, j] = big_g + cv * e_x
        gx[i, j] = k * big_g - tx * w_x + cx * e_x
        gy[i, j] = k * big_g + f0 * w_y + k_l * w_x + ey * e_y
    pull_x = rx < 2.0**-20 * (nd + kx * kx * nx)
    pull_y = rr < 2.0**-20 * (nd + ky * ky * ny)
    if pull_x or pull_y:
        _transport_grad_pulled(
            xr,
            yr,
            vr,
            gr,
            c,
            rs,
            rys,
            beta,
            ybx,
            use_y,
            k,
            small,
            radial,
            f0,
            q,
            k_l,
            cv,
            cx,
            ey,
            tx,
            lean_x,
            lean_y,
            kx,
            ky,
            dv,
            pull_x,
            pull_y,
            gx[i],
            gy[i],
            gv[i],
        )


@nb.njit(**_OPTS)  # not inlined: rarely taken (a radial pair far out)
def _transport_grad_pulled(
    xr,
    yr,
    vr,
    gr,
    c,
    rs,
    rys,
    beta,
    ybx,
    use_y,
    k,
    small,
    radial,
    f0,
    q,
    k_l,
    cv,
    cx,
    ey,
    tx,
    lean_x,
    lean_y,
    kx,
    ky,
    dv,
    pull_x,
    pull_y,
    gxr,
    gyr,
    gvr,
):
    """_transport_grad_row's result again, with e_x = ys - (y0/x0) xs (pull_x) or e_y = xs -
    (x0/y0) ys (pull_y) formed by backward._pull where the plain difference of its two terms
    cancelled: _pull(xs, ys, c, -1) is e_x, _pull(ys, xs, c, -1) is e_y."""
    n = xr.shape[0]
    px = np.empty(n - 1)
    py = np.empty(n - 1)
    if pull_x:
        _pull(xr[1:], yr[1:], c, -1.0, px)
    if pull_y:
        _pull(yr[1:], xr[1:], c, -1.0, py)
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        w = np.float64(vr[j])
        xh = a / rs
        yh = b / rys
        ps = _transport_space(xr, yr, vr, j, rs, beta, ybx, use_y, k, small, radial)
        big_g = np.float64(gr[j]) + f0 * b
        w_x = ((w - beta * xh) - dv * xh) + lean_x * xh
        w_y = (ps - q * yh) + lean_y * yh
        e_x = px[j - 1] if pull_x else (b - a) - kx * a
        e_y = py[j - 1] if pull_y else (a - b) + ky * b
        gvr[j] = big_g + cv * e_x
        gxr[j] = k * big_g - tx * w_x + cx * e_x
        gyr[j] = k * big_g + f0 * w_y + k_l * w_x + ey * e_y


@nb.njit(parallel=True, **_OPTS)
def transport_grad_rows(x, y, v, g, c, gx, gy, gv, odd, serial):
    if serial:
        for i in range(x.shape[0]):
            _transport_grad_row(i, x, y, v, g, c, gx, gy, gv, odd)
    else:
        for i in nb.prange(x.shape[0]):
            _transport_grad_row(i, x, y, v, g, c, gx, gy, gv, odd)
