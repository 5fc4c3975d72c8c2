"""The reference formulas: one per operation, written once against the array API.

Every function takes arrays already validated and cast to the compute dtype, ``c`` as a
Python float or an array of shape ``(..., 1)``, and the namespace ``xp`` keyword-only.
Reductions keep the last axis (length 1); the public layer drops it.

Convention that makes the formulas exact: a point is determined by its space part ``xs``;
its time coordinate is re-derived as x0 = sqrt(1/c + |xs|^2) (a sum of positive terms,
accurate to an ulp), and a tangent vector at x by its space part ``us`` (u0 = xs.us / x0).
Reading a rounded x0 instead would put an error of eps * x0 * y0 into -c<x,y>_L - 1, which
is the whole failure of the textbook distance.
"""

from __future__ import annotations

import math

from ._series import asinhc, atan2_0, div0, dot, norm0, sinh, sinhc, sq, sqrt0

# ---------------------------------------------------------------- helpers


def _sqrt(c, *, xp):
    return math.sqrt(c) if isinstance(c, float) else xp.sqrt(c)


def time(xs, c, *, xp, nx=None):
    """x0 = sqrt(1/c + |xs|^2), the time coordinate of the point with space part xs; ``nx`` is
    |xs|^2 where the caller has it already (one reduction fewer, same bits)."""
    return xp.sqrt(1.0 / c + (sq(xs, xp=xp) if nx is None else nx))


def from_space(xs, c, *, xp):
    return xp.concat([time(xs, c, xp=xp), xs], axis=-1)


def _tangent(xs, x0, us, *, xp):
    """Tangent vector at x with space part us: u0 = xs.us / x0 makes <x,u>_L = 0."""
    return xp.concat([dot(xs, us, xp=xp) / x0, us], axis=-1)


def tangent_inner(xs, x0, a, b, c, *, xp):
    """<a,b>_L of two tangent vectors at x from their space parts, without cancellation.

    <a,b>_L = a.b - (xs.a)(xs.b)/x0^2 cancels for far points (x0 ~ |xs|). Multiplying by
    x0^2 = 1/c + |xs|^2 and using Binet-Cauchy, (xs^a).(xs^b) = |xs|^2 (a_perp . b_perp):
        <a,b>_L = (a.b / c + |xs|^2 a_perp . b_perp) / x0^2,
    with a_perp the part of a orthogonal to xs. For a = b every term is >= 0.
    """
    nx = sq(xs, xp=xp)
    a_perp = a - div0(dot(xs, a, xp=xp), nx, xp=xp) * xs
    b_perp = b - div0(dot(xs, b, xp=xp), nx, xp=xp) * xs
    return (dot(a, b, xp=xp) / c + nx * dot(a_perp, b_perp, xp=xp)) / (x0 * x0)


def cosh_minus_one(xs, ys, c, *, xp):
    """u = -c<x,y>_L - 1 = cosh(sqrt(c) d) - 1 >= 0 with every term non-negative.

    With x0 y0 - 1/c - xs.ys multiplied by its conjugate and Lagrange's identity:
      xs.ys >= 0:  u = (|xs-ys|^2 + c |xs^ys|^2) / (x0 y0 + 1/c + xs.ys)
      xs.ys <  0:  u = c (|xs|^2 y0/(x0+a) + a |ys|^2/(y0+a) - xs.ys),   a = 1/sqrt(c).
    |xs^ys|^2 = |b|^2 |D_perp|^2 with b the shorter point and D = xs - ys: the wedge of xs
    and ys directly cancels for near points far out; this way its error is eps |b| |D| |xs^ys|.
    """
    nx, ny, xy = sq(xs, xp=xp), sq(ys, xp=xp), dot(xs, ys, xp=xp)
    x0, y0 = time(xs, c, xp=xp, nx=nx), time(ys, c, xp=xp, nx=ny)
    diff = xs - ys
    shorter = nx <= ny
    b = xp.where(shorter, xs, ys)
    nb = xp.where(shorter, nx, ny)
    d_perp = diff - div0(dot(b, diff, xp=xp), nb, xp=xp) * b
    same_side = (sq(diff, xp=xp) + c * nb * sq(d_perp, xp=xp)) / (x0 * y0 + 1.0 / c + xy)
    a = 1.0 / _sqrt(c, xp=xp)
    opposite = c * (nx * y0 / (x0 + a) + a * ny / (y0 + a) - xy)
    return xp.where(xy >= 0, same_side, opposite)


def _scaled_dist(u, *, xp):
    """sqrt(c) d = acosh(1 + u) = 2 asinh(sqrt(u/2)); the latter has no cancellation at u ~ 0."""
    return 2.0 * xp.asinh(sqrt0(u / 2.0, xp=xp))


# ---------------------------------------------------------------- operations


def inner(x, y, *, xp):
    prod = x * y
    return xp.sum(prod[..., 1:], axis=-1, keepdims=True) - prod[..., :1]


def norm(u, *, xp):
    return sqrt0(sq(u[..., 1:], xp=xp) - u[..., :1] * u[..., :1], xp=xp)


def project(x, c, *, xp):
    return from_space(x[..., 1:], c, xp=xp)


def project_tangent(x, u, c, *, xp):
    """Lorentz-orthogonal projection u + c<x,u>_L x; the time part is then re-derived from
    tangency, which holds it to rounding even where <x,u>_L itself cancels."""
    xs = x[..., 1:]
    x0 = time(xs, c, xp=xp)
    xu = dot(xs, u[..., 1:], xp=xp) - x0 * u[..., :1]
    return _tangent(xs, x0, u[..., 1:] + c * xu * xs, xp=xp)


def expmap0(u, c, *, xp):
    us = u[..., 1:]
    t = _sqrt(c, xp=xp) * norm0(us, xp=xp)
    return from_space(sinhc(t, xp=xp) * us, c, xp=xp)


def logmap0(y, c, *, xp):
    ys = y[..., 1:]
    us = asinhc(_sqrt(c, xp=xp) * norm0(ys, xp=xp), xp=xp) * ys
    return xp.concat([xp.zeros_like(ys[..., :1]), us], axis=-1)


def dist0(x, c, *, xp):
    s = _sqrt(c, xp=xp)
    return xp.asinh(s * norm0(x[..., 1:], xp=xp)) / s


def dist(x, y, c, *, xp):
    u = cosh_minus_one(x[..., 1:], y[..., 1:], c, xp=xp)
    return _scaled_dist(u, xp=xp) / _sqrt(c, xp=xp)


def expmap(x, u, c, *, xp):
    """exp_x(u) = cosh(t) x + sinh(t)/t u, t = sqrt(c)|u|_L, formed along xh = xs/|xs| and across.

    With a = |xs|, b = us.xh and us_perp = us - b xh, the space part is
        A xh + sinhc(t) us_perp,   A = a cosh(t) + sinhc(t) b,   t^2 = c |us_perp|^2 + (b/x0)^2.
    Outward (b >= 0) A is a + (2 sinh(t/2)^2 a + sinhc(t) b), so small steps are added to a once.
    Inward its two terms cancel up to e^(2 sqrt(c) dist0(x))-fold: a step back past the origin
    is the difference of two numbers of size e^t (1.6e-12 in float64 on jax, found by the
    hypothesis hunt). With g = sqrt(c) dist0(x) (cosh g = s x0, s = sqrt(c)) and theta the
    angle between u and the way to the origin, the same A is
        s A = sinh(g - t) + sinh(t) cosh(g) (1 - cos theta),
        1 - cos theta = sin^2 theta / (1 + cos theta) = c |us_perp|^2 x0 / (t (t x0 - b)),
    so A = sinh(g - t) / s + sinhc(t) c |us_perp|^2 x0^2 / (t x0 - b): every term of one sign,
    the radial distance g - t formed as a difference of distances.
    """
    xs, us = x[..., 1:], u[..., 1:]
    s = _sqrt(c, xp=xp)
    a = norm0(xs, xp=xp)
    xh = div0(xs, a, xp=xp)
    b = dot(us, xh, xp=xp)
    perp = us - b * xh
    p2 = sq(perp, xp=xp)
    x0 = time(xs, c, xp=xp)
    t = sqrt0(c * p2 + (b / x0) ** 2, xp=xp)
    k = sinhc(t, xp=xp)
    half = sinh(t / 2.0, xp=xp)
    outward = a + (2.0 * half * half * a + k * b)
    inward = b < 0
    # the inward branch only where it is taken (t x0 - b > 0 there), so no 0/0 reaches a gradient
    ti = xp.where(inward, t, 0.0)
    den = xp.where(inward, ti * x0 - b, 1.0)
    g = xp.asinh(s * a)
    radial = xp.where(inward, sinh(g - ti, xp=xp) / s + k * c * p2 * x0 * x0 / den, outward)
    return from_space(radial * xh + k * perp, c, xp=xp)


def _log_direction(xs, ys, c, *, xp):
    """(u, vs): u = cosh(sqrt(c) d) - 1 and the space part of v = y + c<x,y>_L x = y - (1+u) x,
    the tangent at x toward y with |v|_L = sinh(sqrt(c) d)/sqrt(c). vs = (ys - xs) - u xs."""
    u = cosh_minus_one(xs, ys, c, xp=xp)
    return u, (ys - xs) - u * xs


def logmap(x, y, c, *, xp):
    xs = x[..., 1:]
    u, vs = _log_direction(xs, y[..., 1:], c, xp=xp)
    # log_x(y) = d v / |v|_L = (sqrt(c) d) / sinh(sqrt(c) d) * v
    scale = 1.0 / sinhc(_scaled_dist(u, xp=xp), xp=xp)
    return _tangent(xs, time(xs, c, xp=xp), scale * vs, xp=xp)


def transport(x, y, v, c, *, xp):
    """P(v) = v + k (x + y), k = c<y,v>_L / (2 + u), u = -c<x,y>_L - 1.

    Since <x,v>_L = 0, <y,v>_L = <w,v>_L with w = y + c<x,y>_L x tangent at x, which
    tangent_inner evaluates without cancellation when w is short. As written, the sum vs + k (xs + ys) is
    exact while the correction is at most half of vs; a vector moved from far out
    (|xs| = R) toward the origin instead comes out as the difference of two O(R) vectors,
    error eps R (1.8e-12 at R = 9e3 in float64, found by the hypothesis hunt). There the
    terms along xs_hat are collected first (_transport_far).
    """
    xs, ys, vs = x[..., 1:], y[..., 1:], v[..., 1:]
    x0, y0 = time(xs, c, xp=xp), time(ys, c, xp=xp)
    u, ws = _log_direction(xs, ys, c, xp=xp)
    # <y,v>_L = <y - lam x, v>_L for any lam: lam = 1 + u (w) is short for near points, lam = 0
    # (y itself) for far ones, where |ws| ~ u |xs| would cost eps u |xs| (3.7e-13 measured at
    # u = 7e4, |xs| = 135); take the shorter
    direct = dot(ys, vs, xp=xp) - y0 * dot(xs, vs, xp=xp) / x0
    near = sq(ws, xp=xp) <= sq(ys, xp=xp)
    yv = xp.where(near, tangent_inner(xs, x0, ws, vs, c, xp=xp), direct)
    k = c * yv / (2.0 + u)
    step = k * (xs + ys)
    small = sq(step, xp=xp) <= 0.25 * sq(vs, xp=xp)
    ps = xp.where(small, vs + step, _transport_far(xs, ys, vs, x0, y0, u, c, xp=xp))
    return _tangent(ys, y0, ps, xp=xp)


def _transport_far(xs, ys, vs, x0, y0, u, c, *, xp):
    """Space part of P(v) split along xs_hat and orthogonal to it (beta, eta: the components
    of vs, ys along xs_hat). Collecting the xs_hat terms gives the radial coefficient
        [beta (x0 + y0 + c eta (x0 eta - y0 |xs|)) + c x0 (ys_perp.vs_perp)(|xs| + eta)]
        / (x0 (2 + u)),
    with x0 eta - y0 |xs| formed without cancellation; the rest is vs_perp + k ys_perp,
    k = (beta gamma / x0^2 + c ys_perp.vs_perp) / (2 + u), gamma = eta - (1 + u)|xs|.
    """
    nx = norm0(xs, xp=xp)
    xhat = div0(xs, nx, xp=xp)
    along = dot(xhat, ys - xs, xp=xp)  # eta - |xs|, exact for near points
    beta, eta = dot(xhat, vs, xp=xp), dot(xhat, ys, xp=xp)
    v_perp, y_perp = vs - beta * xhat, ys - eta * xhat
    # x0 eta - y0 |xs|: for eta > 0 via (x0^2 eta^2 - y0^2 |xs|^2) / (x0 eta + y0 |xs|)
    same = eta > 0
    den = xp.where(same, x0 * eta + y0 * nx, 1.0)
    lean = xp.where(
        same,
        (along * (eta + nx) / c - nx * nx * sq(y_perp, xp=xp)) / den,
        x0 * eta - y0 * nx,
    )
    two_u = 2.0 + u
    yv = c * dot(y_perp, v_perp, xp=xp)
    radial = (beta * (x0 + y0 + c * eta * lean) + yv * x0 * (nx + eta)) / (x0 * two_u)
    k = (beta * (along - u * nx) / (x0 * x0) + yv) / two_u
    return radial * xhat + v_perp + k * y_perp


def half_aperture(x, c, min_radius, *, xp):
    """asin(min(1, 2K / (sqrt(c)|xs|))) as atan2(2K, sqrt((n - 2K)(n + 2K))), n = sqrt(c)|xs|:
    no asin near 1 (which loses half the digits), pi/2 inside the radius, finite gradient."""
    n = _sqrt(c, xp=xp) * norm0(x[..., 1:], xp=xp)
    k2 = 2.0 * min_radius
    return xp.atan2(xp.full_like(n, k2), sqrt0((n - k2) * (n + k2), xp=xp))


def exterior_angle(x, y, c, *, xp):
    """Angle at x between the geodesic x -> y and the ray from the origin through x.

    In T_x, the outward radial direction has space part along xs and Lorentz length
    (xs.vs)/(|xs| sqrt(c) x0) per unit of v's component; the orthogonal complement is the
    space directions orthogonal to xs, with Euclidean length. With v = log direction, vs =
    D - u xs (D = ys - xs):  angle = atan2(sqrt(c) x0 |D_perp|, xs_hat.D - u |xs|),
    D_perp the part of D orthogonal to xs. atan2 keeps small angles to full precision where
    acos would lose half the digits. At the origin (no ray) the angle is pi/2; for y == x, 0.
    """
    xs, ys = x[..., 1:], y[..., 1:]
    diff = ys - xs
    nx = norm0(xs, xp=xp)
    xhat = div0(xs, nx, xp=xp)
    along = dot(xhat, diff, xp=xp)
    u = cosh_minus_one(xs, ys, c, xp=xp)
    # D_perp = ys_perp: taken from the shorter of D and ys, its error is eps min(|D|, |ys|);
    # from D alone it cancels when y is near the origin behind x (|D| ~ |xs| >> |D_perp|), which
    # turned the gradient's direction by 1e-8 at |ys| = 3e-8, |xs| = 1.3
    base = xp.where(sq(ys, xp=xp) < sq(diff, xp=xp), ys, diff)
    perp = base - dot(xhat, base, xp=xp) * xhat
    sine = _sqrt(c, xp=xp) * time(xs, c, xp=xp) * norm0(perp, xp=xp)
    return atan2_0(sine, along - u * nx, xp=xp)


def to_poincare(x, c, *, xp):
    xs = x[..., 1:]
    return xs / (1.0 + _sqrt(c, xp=xp) * time(xs, c, xp=xp))


def from_poincare(p, c, *, xp):
    return from_space(2.0 * p / (1.0 - c * sq(p, xp=xp)), c, xp=xp)
