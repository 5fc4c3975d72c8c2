"""Compiled entailment-cone quantities of MERU (half-aperture, exterior angle), forward and
backward: the formulas of lorentz._reference transcribed to rows, accumulated in float64, with
closed-form vector-Jacobian products with respect to the space parts (time components are
never read, so their gradient is 0). Where the reference's value has a kink (the origin, y on
the ray through x, x == y, the rim of the cone) the gradient is the zero subgradient the
reference's guards give."""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .kernels import _OPTS, FAR2, LO2, _cosh_minus_one, _odd, _space_sq


@nb.njit(inline="always", **_OPTS)
def _sqrt0(q):
    """sqrt(max(q, 0)); NaN stays NaN."""
    if q > 0.0:
        return math.sqrt(q)
    return 0.0 if q == q else q


# ---------------------------------------------------------------- half-aperture


@nb.njit(inline="always", **_OPTS)
def _half_aperture_row(i, x, c, k2, out):
    """asin(min(1, k2 / n)) as atan2(k2, sqrt((n - k2)(n + k2))), n = sqrt(c)|xs|, k2 = 2K."""
    n = math.sqrt(c) * math.sqrt(_space_sq(x[i]))
    out[i] = math.atan2(k2, _sqrt0((n - k2) * (n + k2)))


@nb.njit(parallel=True, **_OPTS)
def half_aperture_rows(x, c, k2, out, serial):
    if serial:
        for i in range(x.shape[0]):
            _half_aperture_row(i, x, c, k2, out)
    else:
        for i in nb.prange(x.shape[0]):
            _half_aperture_row(i, x, c, k2, out)


@nb.njit(inline="always", **_OPTS)
def _half_aperture_grad_row(i, x, g, c, k2, gx):
    """d/dxs atan2(k2, sqrt(q)), q = c |xs|^2 - k2^2: -k2 xs / (|xs|^2 sqrt(q)) outside the
    radius; 0 inside it (the aperture is pi/2 there) and on it (the zero subgradient)."""
    r2 = _space_sq(x[i])
    n = math.sqrt(c) * math.sqrt(r2)
    q = (n - k2) * (n + k2)
    if q > 0.0:
        w = -np.float64(g[i]) * k2 / (r2 * math.sqrt(q))
    else:
        w = 0.0 if q == q else q
    gx[i, 0] = 0.0
    for j in range(1, x.shape[1]):
        gx[i, j] = w * np.float64(x[i, j])


@nb.njit(parallel=True, **_OPTS)
def half_aperture_grad_rows(x, g, c, k2, gx, serial):
    if serial:
        for i in range(x.shape[0]):
            _half_aperture_grad_row(i, x, g, c, k2, gx)
    else:
        for i in nb.prange(x.shape[0]):
            _half_aperture_grad_row(i, x, g, c, k2, gx)


# ---------------------------------------------------------------- exterior angle


@nb.njit(inline="always", **_OPTS)
def _hat(a, norm):
    """A component of xs / |xs|, 0 at the origin: a division, as the reference's div0, so that
    in one dimension it is exactly +-1 and the part of D across the ray exactly 0."""
    return np.float64(a) / norm if norm > 0.0 else 0.0


@nb.njit(inline="always", **_OPTS)
def _angle_parts(x, y, c):
    """(S, C, u, |xs|, along, |P|, use_y, lean) of the angle atan2(S, C) at x between the
    geodesic to y and the ray through x: D = ys - xs, xhat = xs/|xs|, along = xhat.D,
    P = D - along xhat = B - lean xhat with B the shorter of D and ys (use_y) and lean = xhat.B,
    S = sqrt(c) x0 |P|, C = along - u |xs| (lorentz._reference.exterior_angle)."""
    n = x.shape[0]
    r2 = _space_sq(x)
    nx = math.sqrt(r2)
    along = 0.0
    for j in range(1, n):
        along += _hat(x[j], nx) * (np.float64(y[j]) - np.float64(x[j]))
    # P = D - along xhat = ys - (xhat.ys) xhat, from the shorter of D and ys (the reference's
    # choice: from D alone it cancels when y is near the origin behind x)
    yy = 0.0
    dd = 0.0
    for j in range(1, n):
        b = np.float64(y[j])
        d = b - np.float64(x[j])
        yy += b * b
        dd += d * d
    use_y = yy < dd
    lean = 0.0
    for j in range(1, n):
        b = np.float64(y[j])
        lean += _hat(x[j], nx) * (b if use_y else b - np.float64(x[j]))
    p2 = 0.0
    for j in range(1, n):
        b = np.float64(y[j])
        p = (b if use_y else b - np.float64(x[j])) - lean * _hat(x[j], nx)
        p2 += p * p
    u = _cosh_minus_one(x[1:], y[1:], c)
    pn = math.sqrt(p2)
    return (
        math.sqrt(c) * math.sqrt(1.0 / c + r2) * pn,
        along - u * nx,
        u,
        nx,
        along,
        pn,
        use_y,
        lean,
    )


@nb.njit(inline="always", **_OPTS)
def _angle_odd(x, y, c):
    """Whether a pair leaves the plain formula's range (lorentz._reference.exterior_angle's odd
    rows: squares that overflow or underflow, or x so far out, sqrt(c)|xs| > 2^20, that the
    projection across xs_hat errs by eps sqrt(c)|xs|). Those rows are the host's to finish
    with the reference's square-free form; NaN rows are not odd and stay NaN here."""
    nx = _space_sq(x)
    ny = _space_sq(y)
    if _odd(nx, ny, c, x[1:], y[1:]) or c * nx > FAR2:
        return True
    return _tiny(nx, x) or _tiny(ny, y)  # one short row: its direction from subnormal squares


@nb.njit(inline="always", **_OPTS)
def _tiny(n2, x):
    """Whether an ambient row's squared space length n2 lost digits to subnormals (NaN: no)."""
    if not n2 < LO2:
        return False
    for j in range(1, x.shape[0]):
        if x[j] != 0.0:
            return True
    return False


@nb.njit(inline="always", **_OPTS)
def _exterior_angle_row(i, x, y, c, out, odd):
    odd[i] = _angle_odd(x[i], y[i], c)
    if odd[i]:
        out[i] = math.nan
        return
    s, cos, _u, _nx, _along, _pn, _use_y, _lean = _angle_parts(x[i], y[i], c)
    # atan2(0, 0) is 0 (x == y), as the reference's atan2_0
    out[i] = math.atan2(s, cos) if (s != 0.0 or cos != 0.0) else 0.0


@nb.njit(parallel=True, **_OPTS)
def exterior_angle_rows(x, y, c, out, odd, serial):
    """out[i] = the exterior angle of (x[i], y[i]); odd[i] marks rows left to the host."""
    if serial:
        for i in range(x.shape[0]):
            _exterior_angle_row(i, x, y, c, out, odd)
    else:
        for i in nb.prange(x.shape[0]):
            _exterior_angle_row(i, x, y, c, out, odd)


@nb.njit(inline="always", **_OPTS)
def _exterior_angle_grad_row(i, x, y, g, c, gx, gy, odd):
    """d atan2(S, C) = (C dS - S dC) / (S^2 + C^2), with
        dS/dys = sqrt(c) x0 P/|P|,   dS/dxs = sqrt(c) (|P| xs / x0 - x0 (xs.ys / |xs|^2) P/|P|),
        dC/dys = xhat - |xs| du/dys, dC/dxs = P/|xs| - xhat - |xs| du/dxs - u xhat,
    du/dxs = c (Dxy - Dxy.S / ((x0 + y0) x0) xs), du/dys = c (-Dxy + Dxy.S / ((x0 + y0) y0) ys),
    Dxy = xs - ys, S = xs + ys (no cancellation for near pairs, as in dist's backward)."""
    xr, yr = x[i], y[i]
    n = xr.shape[0]
    odd[i] = _angle_odd(xr, yr, c)
    if odd[i]:
        return
    sine, cos, u, nx, _along, pn, use_y, lean_p = _angle_parts(xr, yr, c)
    r = sine * sine + cos * cos
    gx[i, 0] = 0.0
    gy[i, 0] = 0.0
    if r == 0.0:  # x == y: the zero subgradient (NaN compares False, so it goes on below)
        for j in range(1, n):
            gx[i, j] = 0.0
            gy[i, j] = 0.0
        return
    s = math.sqrt(c)
    x0 = math.sqrt(1.0 / c + _space_sq(xr))
    y0 = math.sqrt(1.0 / c + _space_sq(yr))
    ds = 0.0
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        ds += (a - b) * (a + b)
    kx = ds / ((x0 + y0) * x0)
    ky = ds / ((x0 + y0) * y0)
    w = np.float64(g[i]) / r
    inv = 1.0 / nx if nx > 0.0 else 0.0  # at the origin xhat is 0 (the reference's div0)
    pinv = 1.0 / pn if pn > 0.0 else 0.0  # on the ray through x, the zero subgradient of |P|
    # 1 + along/|xs| = xs.ys / |xs|^2, formed directly: as 1 + along/|xs| it cancels when y is
    # near the origin behind x (1e-8 relative at |ys| = 3e-8, |xs| = 1.3)
    xy = 0.0
    for j in range(1, n):
        xy += np.float64(xr[j]) * np.float64(yr[j])
    lean = xy * inv * inv
    for j in range(1, n):
        a = np.float64(xr[j])
        b = np.float64(yr[j])
        xhat = _hat(a, nx)
        p_unit = ((b if use_y else b - a) - lean_p * xhat) * pinv
        du_dx = c * ((a - b) - kx * a)
        du_dy = c * ((b - a) + ky * b)
        ds_dy = s * x0 * p_unit
        ds_dx = s * (pn * a / x0 - x0 * lean * p_unit)
        dc_dy = xhat - nx * du_dy
        dc_dx = p_unit * pn * inv - xhat - nx * du_dx - u * xhat
        gx[i, j] = w * (cos * ds_dx - sine * dc_dx)
        gy[i, j] = w * (cos * ds_dy - sine * dc_dy)


@nb.njit(parallel=True, **_OPTS)
def exterior_angle_grad_rows(x, y, g, c, gx, gy, odd, serial):
    if serial:
        for i in range(x.shape[0]):
            _exterior_angle_grad_row(i, x, y, g, c, gx, gy, odd)
    else:
        for i in nb.prange(x.shape[0]):
            _exterior_angle_grad_row(i, x, y, g, c, gx, gy, odd)
