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

import functools
import math

import array_api_compat.numpy as np_compat
import numpy as np

from ._guarded import (
    asinh0,
    asinh_prod,
    asinhc,
    asinhc0,
    atan2_0,
    atan2_scaled,
    div0,
    dot,
    hyp1,
    hypot0,
    limits,
    maybe,
    mul0,
    mulexp,
    norm0,
    norm_wide,
    perp_part,
    pow2_scale,
    refine,
    rho_sigma,
    rowmax,
    select_rows,
    sin_angle,
    sinh,
    sinhc,
    sq,
    sqrt0,
)

# ---------------------------------------------------------------- helpers


def _quiet(fn):
    """Run ``fn`` with numpy's floating-point warnings off (numpy and array-api-strict only):
    the plain sums of squares overflow on the rows that then take the scaled forms, and a
    result that overflows is +-inf by design; a warning for either would be noise. Other
    libraries do not warn and never enter the context (nothing for jax or torch.compile to
    trace)."""

    @functools.wraps(fn)
    def run(*args, xp, **kwargs):
        if xp is np_compat or getattr(xp, "__name__", "") == "array_api_strict":
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return fn(*args, xp=xp, **kwargs)
        return fn(*args, xp=xp, **kwargs)

    return run


def _sqrt(c, *, xp):
    return math.sqrt(c) if isinstance(c, float) else xp.sqrt(c)


def _zeros(odd, safe, arrays, *, xp):
    """The arrays, with the odd rows replaced by zeros (the origin) when ``safe``."""
    return [xp.where(odd, 0.0, a) for a in arrays] if safe else list(arrays)


def _time_plain(xs, c, *, xp, nx=None):
    return xp.sqrt(1.0 / c + (sq(xs, xp=xp) if nx is None else nx))


@_quiet
def time(xs, c, *, xp, nx=None):
    """x0 = sqrt(1/c + |xs|^2), the time coordinate of the point with space part xs; ``nx`` is
    |xs|^2 where the caller has it already (one reduction fewer, same bits). Where that sum
    overflows (|xs| > 1.3e154 in float64), x0 = hypot(1/sqrt(c), |xs|), finite up to |xs| = max."""
    x0 = _time_plain(xs, c, xp=xp, nx=nx)
    big = x0 == math.inf
    if not maybe(big, xp=xp):
        return x0
    r = norm_wide(xs, xp=xp)
    return xp.where(big, xp.hypot(xp.zeros_like(r) + 1.0 / _sqrt(c, xp=xp), r), x0)


def to_space(x, *, xp):
    """The space part: a view where the library has views, no arithmetic."""
    return x[..., 1:]


@_quiet
def from_space(xs, c, *, xp):
    return xp.concat([time(xs, c, xp=xp), xs], axis=-1)


def _tangent_plain(xs, x0, us, *, xp):
    """Tangent vector at x with space part us: u0 = xs.us / x0 makes <x,u>_L = 0."""
    return xp.concat([dot(xs, us, xp=xp) / x0, us], axis=-1)


def _tangent(xs, x0, us, *, xp):
    """_tangent_plain, with u0 = (xs / x0).us where xs.us overflows (far out)."""
    p = dot(xs, us, xp=xp)
    odd = ~xp.isfinite(p / x0)  # products overflowing to inf, or inf - inf
    if not maybe(odd, xp=xp):
        return xp.concat([p / x0, us], axis=-1)
    # both scaled by 2^-64 first: XLA divides by way of a reciprocal, which for x0 past 2^1022 is
    # subnormal and flushed to 0; the plain quotient on 0 in those rows (no inf for autograd)
    u0 = xp.where(
        odd, dot((xs * 2.0**-64) / (x0 * 2.0**-64), us, xp=xp), xp.where(odd, 0.0, p) / x0
    )
    return xp.concat([u0, us], axis=-1)


@_quiet
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


@_quiet
def cosh_minus_one(xs, ys, c, *, xp, nx=None, ny=None):
    return _cosh_minus_one(xs, ys, c, xp=xp, nx=nx, ny=ny)


def _cosh_minus_one(xs, ys, c, *, xp, nx=None, ny=None):
    """u = -c<x,y>_L - 1 = cosh(sqrt(c) d) - 1 >= 0 with every term non-negative.

    With x0 y0 - 1/c - xs.ys multiplied by its conjugate and Lagrange's identity:
      xs.ys >= 0:  u = (|xs-ys|^2 + c |xs^ys|^2) / (x0 y0 + 1/c + xs.ys)
      xs.ys <  0:  u = c (|xs|^2 y0/(x0+a) + a |ys|^2/(y0+a) - xs.ys),   a = 1/sqrt(c).
    |xs^ys|^2 = |b|^2 |D_perp|^2 with b the shorter point and D = xs - ys: the wedge of xs
    and ys directly cancels for near points far out; this way its error is eps |b| |D| |xs^ys|.
    The plain range (_odd_rows) is the caller's; sinh_half covers every representable pair.
    """
    nx = sq(xs, xp=xp) if nx is None else nx
    ny = sq(ys, xp=xp) if ny is None else ny
    xy = dot(xs, ys, xp=xp)
    x0, y0 = _time_plain(xs, c, xp=xp, nx=nx), _time_plain(ys, c, xp=xp, nx=ny)
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


def _odd_rows(c, a, na, b=None, nb=None, *, xp, extra=None, far=True, more_tiny=None):
    """Rows where a plain formula of degree 4 in the lengths of a (and b; squared: na, nb) leaves
    the normal range, or None where maybe() finds none: squared lengths beyond 2^(e/2) (|a| >
    1.3e77 in float64), c |a|^2 beyond 2^(e/4); a squared length below 2^(-e/2), or c max(|a|^2,
    |b|^2) below it (except exact zeros: the origin stays plain); with ``far``, rows where both
    are far out (sqrt(c) min(|a|, |b|) > 2^20 in float64), where the plain forms' projections
    onto a rounded direction err by eps t; and ``extra``. NaN rows are not odd. Ordinary rows
    pay a few comparisons of per-row numbers."""
    lim = limits(a, xp=xp)
    big2 = na if b is None else xp.maximum(na, nb)
    if isinstance(c, float):  # each pair of bounds folds into one comparison
        rest = big2 > min(lim.hi2, lim.chi / c)
        tiny_c = big2 < lim.lo2 / c
        if far and b is not None:
            rest = rest | (xp.minimum(na, nb) > lim.far2 / c)
    else:
        cb = c * big2
        rest = (big2 > lim.hi2) | (cb > lim.chi)
        tiny_c = cb < lim.lo2
        if far and b is not None:
            rest = rest | (c * xp.minimum(na, nb) > lim.far2)
    if extra is not None:
        rest = rest | extra
    tinies = [(na < lim.lo2, [a])]
    if b is not None:
        tinies.append((nb < lim.lo2, [b]))
    tinies.append((tiny_c, [a] if b is None else [a, b]))
    if more_tiny:
        tinies.append(more_tiny)
    return refine(rest, tinies, xp=xp)


def sqdist(x, y, c, *, xp):
    """Squared Lorentzian distance of points (only their space parts are read)."""
    return sqdist_space(x[..., 1:], y[..., 1:], c, xp=xp)


def sqdist_space(xs, ys, c, *, xp):
    """||x - y||_L^2 = -2/c - 2<x,y>_L = 2u/c = 4 s^2/c, s = sinh(sqrt(c) d / 2) from the
    library's cancellation-free form, which is finite for every representable pair (u and
    its terms overflow first)."""
    s = sinh_half(xs, ys, c, xp=xp)
    return 4.0 * (s * s) / c


def sinh_half(xs, ys, c, *, xp):
    """s = sinh(sqrt(c) d / 2) = sqrt(u / 2), u = cosh_minus_one(xs, ys, c), for every pair of
    representable points: sqrt(c) d = 2 asinh(s).

    u itself overflows once sqrt(c) d > 710 (two points 355 from the origin) and its terms
    (c |b|^2 |D_perp|^2) at |xs| = 1e77; s stays finite up to the representable radius. Rows
    outside the plain formula's range (:func:`_odd_rows`) take :func:`_sinh_half_wide`."""
    nx, ny = sq(xs, xp=xp), sq(ys, xp=xp)
    odd = _odd_rows(c, xs, nx, ys, ny, xp=xp)

    def plain(safe):
        a, b, na, nb = _zeros(odd, safe, (xs, ys, nx, ny), xp=xp)
        return sqrt0(_cosh_minus_one(a, b, c, xp=xp, nx=na, ny=nb) / 2.0, xp=xp)

    return select_rows(odd, plain, lambda: _sinh_half_wide(xs, ys, c, xp=xp), xp=xp)


def _sinh_half_wide(xs, ys, c, *, xp):
    """sinh_half with no square of a length (coordinates scaled by a power of two lam, exactly).

    With a = asinh(sqrt(c)|xs|) the distance of a point from the origin (times sqrt(c)) and theta
    the angle between xs and ys at the origin, -c<x,y>_L = cosh a_x cosh a_y - sinh a_x sinh a_y
    cos(theta), so
        s^2 = u / 2 = sinh^2((a_x - a_y) / 2) + t_x t_y sin^2(theta / 2),   t = sqrt(c)|xs|,
    two terms >= 0. sinh(a_x - a_y) = (t_x - t_y)(sigma_x rho_y + sigma_y rho_x) / (sigma_x +
    sigma_y) (rho = 1/sqrt(1 + t^2), sigma = t rho) with t_x - t_y = sqrt(c) (D.S) / (|xs| + |ys|),
    D = xs - ys exact and S = xs + ys: no cancellation, and a radial pair is exact at any radius
    (the Lagrange form's projection error eps |D| grows with t). Far out the angle matters far
    below eps (t_x t_y theta^2 with t = 1e299): on one side sin(theta / 2) = sin(theta) / |xs_hat
    + ys_hat| with sin(theta) from exact minors (sin_angle); on opposite sides |xs_hat - ys_hat| / 2
    (no cancellation there). Below t = 2^-30 the space is flat to far below an ulp:
    s = sqrt(c)|D| / 2 (1 + O(t^2)), exactly."""
    sc = _sqrt(c, xp=xp)
    lam = pow2_scale(xp.maximum(rowmax(xs, xp=xp), rowmax(ys, xp=xp)), xp=xp)
    X, Y = xs * lam, ys * lam  # one scale: their difference is the scaled difference
    D = X - Y
    flat_s = (sc * sqrt0(sq(D, xp=xp), xp=xp)) / lam / 2.0
    rx, ry = norm_wide(xs, xp=xp), norm_wide(ys, xp=xp)  # each its own scale
    flat = xp.maximum(sc * rx, sc * ry) < 2.0**-30
    # the polar form on a fixed far pair in the flat rows: its quotients of tiny numbers would
    # give autograd inf (jax squares a divisor) to multiply by 0
    xs, ys = xp.where(flat, 1.0, xs), xp.where(flat, -1.0, ys)
    X, Y = xp.where(flat, 1.0, X), xp.where(flat, -1.0, Y)
    rx, ry = xp.where(flat, 1.0, rx), xp.where(flat, 1.0, ry)
    tx, ty = sc * rx, sc * ry
    rho_x, sig_x = rho_sigma(tx, xp=xp)
    rho_y, sig_y = rho_sigma(ty, xp=xp)
    # t_x - t_y: from D.S on one scale where the two norms are within a factor 2 (cancellation),
    # from the norms themselves elsewhere (the smaller one may not survive the common scale)
    close = (rx <= 2.0 * ry) & (ry <= 2.0 * rx)
    dt = xp.where(
        close,
        (
            sc
            * div0(
                dot(D, X + Y, xp=xp), sqrt0(sq(X, xp=xp), xp=xp) + sqrt0(sq(Y, xp=xp), xp=xp), xp=xp
            )
        )
        / lam,
        tx - ty,
    )
    q = dt * div0(sig_x * rho_y + sig_y * rho_x, sig_x + sig_y, xp=xp)  # sinh(a_x - a_y)
    radial = q / (math.sqrt(2.0) * xp.sqrt(hyp1(q, xp=xp) + 1.0))  # sinh((a_x - a_y) / 2)
    xh, yh = _unit(xs, xp=xp), _unit(ys, xp=xp)
    same = dot(xh, yh, xp=xp) >= 0
    # sin_angle is invariant to the scale of either argument: each on its own
    sa = sin_angle(
        xs * pow2_scale(rowmax(xs, xp=xp), xp=xp), ys * pow2_scale(rowmax(ys, xp=xp), xp=xp), xp=xp
    )
    half = xp.where(
        same, div0(sa, norm0(xh + yh, xp=xp), xp=xp), norm0(xh - yh, xp=xp) / 2.0
    )  # sin(theta / 2)
    s = hypot0(xp.abs(radial), sqrt0(tx, xp=xp) * sqrt0(ty, xp=xp) * half, xp=xp)
    return xp.where(flat, flat_s, s)


# ---------------------------------------------------------------- operations


@_quiet
def inner(x, y, *, xp):
    """The bilinear form of the components as given; where the products overflow (inf - inf
    would be NaN) the rows are scaled by powers of two first, so the result is exact or +-inf."""
    prod = x * y
    out = xp.sum(prod[..., 1:], axis=-1, keepdims=True) - prod[..., :1]
    odd = ~xp.isfinite(out)  # inf, or NaN (from inf - inf, or from a NaN input)
    if not maybe(odd, xp=xp):
        return out
    lx, ly = pow2_scale(rowmax(x, xp=xp), xp=xp), pow2_scale(rowmax(y, xp=xp), xp=xp)
    p = (x * lx) * (y * ly)
    scaled = (xp.sum(p[..., 1:], axis=-1, keepdims=True) - p[..., :1]) / lx / ly
    return xp.where(odd, scaled, out)


@_quiet
def norm(u, *, xp):
    """sqrt(max(<u,u>_L, 0)) of the components as given, scaled by a power of two where the
    squares leave the normal range."""
    us, u0 = u[..., 1:], u[..., :1]
    q1, q0 = sq(us, xp=xp), u0 * u0
    lim = limits(u, xp=xp)
    both = q1 + q0  # inf where either square overflows, tiny where both are
    odd = refine(both > lim.max, [(both < lim.sq_lo, [u])], xp=xp)

    def plain(safe):
        return sqrt0(xp.where(odd, 0.0, q1 - q0) if safe else q1 - q0, xp=xp)

    def wide():
        lam = pow2_scale(rowmax(u, xp=xp), xp=xp)
        v = u * lam
        return sqrt0(sq(v[..., 1:], xp=xp) - v[..., :1] * v[..., :1], xp=xp) / lam

    return select_rows(odd, plain, wide, xp=xp)


@_quiet
def project(x, c, *, xp):
    return from_space(x[..., 1:], c, xp=xp)


@_quiet
def project_tangent(x, u, c, *, xp):
    """Lorentz-orthogonal projection u + c<x,u>_L x; the time part is then re-derived from
    tangency, which holds it to rounding even where <x,u>_L itself cancels."""
    xs = x[..., 1:]
    x0 = time(xs, c, xp=xp)  # far out (|xs| > 1.3e154) |xs|^2 overflows, x0 does not
    xu = dot(xs, u[..., 1:], xp=xp) - x0 * u[..., :1]
    return _tangent(xs, x0, u[..., 1:] + c * xu * xs, xp=xp)


def _infinity(v, *, xp):
    """+-inf by the sign of v, 0 where v is 0 (NaN stays NaN)."""
    inf = xp.ones_like(v) * math.inf
    return xp.where(v == 0, 0.0, xp.where(v > 0, inf, xp.where(v < 0, -inf, v)))


def _unit(v, *, xp):
    """v / |v| (0 for v = 0), also where |v| overflows: formed on v scaled by a power of two."""
    w = v * pow2_scale(rowmax(v, xp=xp), xp=xp)
    return div0(w, sqrt0(sq(w, xp=xp), xp=xp), xp=xp)


@_quiet
def expmap0(u, c, *, xp):
    """xs = sinh(t)/t us, t = sqrt(c)|us|. Past t_big (699.8 in float64) sinh(t) is about to
    overflow although xs may not (c > 1, or small components): there xs = e^t / (2 sqrt(c)) u_hat
    (e^-2t is below an ulp), formed by mulexp, so a component overflows to +-inf alone and a zero
    component stays 0 (sinh(t)/t * us gave inf * 0 = NaN). x0 follows from xs (time)."""
    us = u[..., 1:]
    sc = _sqrt(c, xp=xp)
    q = sq(us, xp=xp)
    lim = limits(us, xp=xp)
    odd = refine(c * q > lim.t_big**2, [(q < lim.sq_lo, [us])], xp=xp)

    def plain(safe):
        v, qq = _zeros(odd, safe, (us, q), xp=xp)
        return sinhc(sc * sqrt0(qq, xp=xp), xp=xp) * v

    def wide():
        t = sc * norm_wide(us, xp=xp)
        big = t > lim.t_big
        tb = xp.where(big, t, 0.0)
        large = mulexp(tb, _unit(us, xp=xp) / (2.0 * sc), xp=xp)
        # past t_inf every nonzero component is +-inf (u_hat's may underflow where e^t u_hat
        # would still overflow)
        large = xp.where(tb > lim.t_inf, _infinity(us, xp=xp), large)
        return xp.where(big, large, sinhc(xp.where(big, 0.0, t), xp=xp) * us)

    return from_space(select_rows(odd, plain, wide, xp=xp), c, xp=xp)


@_quiet
def logmap0(y, c, *, xp):
    """us = asinh(t)/t ys, t = sqrt(c)|ys|; as (asinh(t)/sqrt(c)) ys/|ys| where t overflows."""
    ys = y[..., 1:]
    sc = _sqrt(c, xp=xp)
    q = sq(ys, xp=xp)
    odd = _odd_rows(c, ys, q, xp=xp)

    def plain(safe):
        v, qq = _zeros(odd, safe, (ys, q), xp=xp)
        return asinhc(sc * sqrt0(qq, xp=xp), xp=xp) * v

    def wide():
        # past t = 1: (asinh(t) / sqrt(c)) ys_hat, whose autograd has no tiny derivative to meet
        # a huge factor (d(asinh(t)/t)/dt underflows once t > 1e154, times |ys| it is not small)
        r = norm_wide(ys, xp=xp)
        far = sc * r > 1.0
        rb = xp.where(far, r, 1.0)
        small = xp.where(far, 0.0, sc * r)
        return xp.where(
            far, (asinh_prod(sc, rb, xp=xp) / sc) * _unit(ys, xp=xp), asinhc0(small, xp=xp) * ys
        )

    us = select_rows(odd, plain, wide, xp=xp)
    return xp.concat([xp.zeros_like(ys[..., :1]), us], axis=-1)


@_quiet
def dist0(x, c, *, xp):
    xs = x[..., 1:]
    s = _sqrt(c, xp=xp)
    q = sq(xs, xp=xp)
    odd = _odd_rows(c, xs, q, xp=xp)

    def plain(safe):
        return xp.asinh(s * sqrt0(xp.where(odd, 0.0, q) if safe else q, xp=xp))

    return select_rows(odd, plain, lambda: asinh_prod(s, norm_wide(xs, xp=xp), xp=xp), xp=xp) / s


@_quiet
def dist(x, y, c, *, xp):
    return scaled_distance(x[..., 1:], y[..., 1:], c, xp=xp) / _sqrt(c, xp=xp)


def scaled_distance(xs, ys, c, *, xp):
    """sqrt(c) d from space parts (kept last axis): acosh(1 + u) in the plain range, 2 asinh of
    sinh(sqrt(c) d / 2) outside it (u overflows far out where d does not)."""
    nx, ny = sq(xs, xp=xp), sq(ys, xp=xp)
    odd = _odd_rows(c, xs, nx, ys, ny, xp=xp)

    def plain(safe):
        a, b, na, nb = _zeros(odd, safe, (xs, ys, nx, ny), xp=xp)
        return _scaled_dist(_cosh_minus_one(a, b, c, xp=xp, nx=na, ny=nb), xp=xp)

    def wide():
        return 2.0 * asinh0(_sinh_half_wide(xs, ys, c, xp=xp), xp=xp)

    return select_rows(odd, plain, wide, xp=xp)


@_quiet
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

    Rows outside the plain range (huge or tiny lengths, x far out, t beyond t_big) take
    _expmap_wide.
    """
    xs, us = x[..., 1:], u[..., 1:]
    nx, nu = sq(xs, xp=xp), sq(us, xp=xp)
    lim = limits(us, xp=xp)
    # x at the origin too: the split along xs_hat has no direction there, and its guards gave
    # the zero gradient in x where d exp_x(u) / dxs = cosh(t) (the wide form's flat rows)
    odd = _odd_rows(
        c,
        xs,
        nx,
        us,
        nu,
        xp=xp,
        far=False,
        extra=(c * nu > lim.t_big**2) | (c * nx > lim.far2) | (nx == 0.0),
    )

    def plain(safe):
        a, b, na = _zeros(odd, safe, (xs, us, nx), xp=xp)
        return _expmap_plain(a, b, c, na, xp=xp)

    return from_space(
        select_rows(odd, plain, lambda: _expmap_wide(xs, us, c, xp=xp), xp=xp), c, xp=xp
    )


def _expmap_plain(xs, us, c, nx, *, xp):
    s = _sqrt(c, xp=xp)
    a = sqrt0(nx, xp=xp)
    xh = div0(xs, a, xp=xp)
    b = dot(us, xh, xp=xp)
    perp = us - b * xh
    p2 = sq(perp, xp=xp)
    x0 = _time_plain(xs, c, xp=xp, nx=nx)
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
    return radial * xh + k * perp


def _expmap_wide(xs, us, c, *, xp):
    """The space part of expmap with no square of a length, for every representable input.

    us_perp comes from exact minors (perp_part): far out the radial part of a tangent vector is
    stretched by sqrt(c) x0 and us - (us.xh) xh errs by eps |us|, more than us_perp itself.
    t = hypot(sqrt(c)|us_perp|, b / x0), and the inward term sinhc(t) c |us_perp|^2 x0^2 /
    (t x0 - b) = sinhc(t) (sqrt(c)|us_perp|) rho' x0 with rho' = sqrt(c)|us_perp| / (t - b/x0)
    <= 1. Past t_big the result is e^t Q with Q formed first and multiplied once (mulexp):
    outward Q = (a + b/t) xh / 2 + us_perp / (2t) (cosh t a + sinhc(t) b, e^-2t below an ulp);
    inward the radial part sinh(g - t) / s becomes -e^-t sinh(t - g) / s (or -e^-g / (2s) once
    t - g > t_big), so an overflowing component is +-inf and never inf - inf. Below
    sqrt(c)|xs| = 2^-30, x is the origin but for cosh(t) xs, and cosh(t) xs + sinhc(t) us (t from
    us alone, u0^2 below an ulp of |us|^2) has no cancellation; the forms above would divide by
    |xs| on the way (a gradient of 1/|xs| = 1e300 that cancels only on paper).
    """
    lim = limits(us, xp=xp)
    s = _sqrt(c, xp=xp)
    flat = s * norm0(xs, xp=xp) < 2.0**-30
    # flat rows: t from us alone, every product e^t-scaled past t_big (on zeros elsewhere)
    xf, uf = xp.where(flat, xs, 0.0), xp.where(flat, us, 0.0)
    tf = s * norm0(uf, xp=xp)
    bigf = tf > lim.t_big
    tfm = xp.where(bigf, 0.0, tf)
    tfb = xp.where(bigf, tf, 1.0)
    cosh_m = 1.0 + 2.0 * sinh(tfm / 2.0, xp=xp) ** 2
    at_origin = xp.where(
        bigf,
        mulexp(tfb, xf / 2.0 + _unit(uf, xp=xp) / (2.0 * s), xp=xp),
        cosh_m * xf + sinhc(tfm, xp=xp) * uf,
    )
    xs = xp.where(flat, 1.0, xs)  # the general form on a fixed point there (no 1/|xs| gradient)
    a = norm0(xs, xp=xp)
    xh = div0(xs, a, xp=xp)
    b = dot(us, xh, xp=xp)  # may overflow (|us| near the largest number): then so does A
    mu = pow2_scale(rowmax(us, xp=xp), xp=xp)
    perp = perp_part(xs * pow2_scale(rowmax(xs, xp=xp), xp=xp), us * mu, xp=xp) / mu
    pn = norm0(perp, xp=xp)
    x0 = time(xs, c, xp=xp)
    bx0 = dot(us * mu, xh, xp=xp) / (x0 * mu)  # b / x0, formed scaled
    sp = s * pn
    t = hypot0(sp, xp.abs(bx0), xp=xp)
    g = asinh_prod(s, a, xp=xp)
    inward = b < 0
    big = t > lim.t_big
    # moderate t
    tm = xp.where(big, 0.0, t)
    k = sinhc(tm, xp=xp)
    half = sinh(tm / 2.0, xp=xp)
    outward = a + (2.0 * half * half * a + k * b)
    den = xp.where(inward, t - bx0, 1.0)  # >= t >= sqrt(c)|us_perp| where taken
    rho = xp.where(inward, div0(sp, den, xp=xp), 0.0)
    ti = xp.where(inward, tm, 0.0)
    radial = xp.where(inward, sinh(g - ti, xp=xp) / s + ((k * sp) * rho) * x0, outward)
    moderate = mul0(radial, xh, xp=xp) + k * perp
    # t past t_big
    tb = xp.where(big, t, 1.0)
    far_back = (tb - g) > lim.t_big
    gi = xp.where(far_back, 0.0, g)
    e = xp.exp(-tb / 2.0)
    q_in = xp.where(
        far_back,
        -xp.exp(-g) / (2.0 * s),
        -(e * (e * sinh(xp.where(far_back, 0.0, tb - gi), xp=xp))) / s,
    )
    # t = inf (|us| overflows): the result is +-inf or 0 by components, and only the signs of
    # b / t (|b / t| <= x0) and sp / t (<= 1) are left to keep, not inf / inf = NaN
    at_inf = tb == math.inf
    q_in = q_in + ((xp.where(at_inf, 1.0, sp / tb)) * rho) * x0 / 2.0
    q = xp.where(inward, q_in, (a + xp.where(at_inf, x0, bx0 * (x0 / tb))) / 2.0)
    large = mulexp(tb, mul0(q, xh, xp=xp) + perp / (2.0 * tb), xp=xp)
    # past t_inf every nonzero component is +-inf: its sign from the unscaled sum, in which
    # perp / (2t) may underflow where e^t times it still overflows
    sign = mul0(q, xh, xp=xp) * (2.0 * tb) + perp  # q xh first: q 2t alone may overflow
    # where xs_j = 0, us_perp_j = us_j exactly, also where its scaled form underflowed
    sign = xp.where((sign == 0) & (xh == 0), us, sign)
    large = xp.where(tb > lim.t_inf, _infinity(sign, xp=xp), large)
    return xp.where(flat, at_origin, xp.where(big, large, moderate))


def _diff(xs, ys, *, xp):
    """(D, f) with ys - xs = f D: f = 2 in the rows where ys - xs overflows (points near the
    largest number on opposite sides, inside the radius for c <= 1), whose halves are exact
    there; f = 1 elsewhere."""
    d = ys - xs
    over = xp.any(xp.abs(d) == math.inf, axis=-1, keepdims=True)
    if not maybe(over, xp=xp):
        return d, 1.0
    return xp.where(over, ys / 2.0 - xs / 2.0, d), xp.where(over, 2.0, xp.ones_like(d[..., :1]))


def _log_direction(xs, ys, c, *, xp, nx=None, ny=None):
    """(u, vs): u = cosh(sqrt(c) d) - 1 and the space part of v = y + c<x,y>_L x = y - (1+u) x,
    the tangent at x toward y with |v|_L = sinh(sqrt(c) d)/sqrt(c). vs = (ys - xs) - u xs."""
    u = _cosh_minus_one(xs, ys, c, xp=xp, nx=nx, ny=ny)
    return u, (ys - xs) - u * xs


@_quiet
def logmap(x, y, c, *, xp):
    """log_x(y) = d v / |v|_L = (sqrt(c) d) / sinh(sqrt(c) d) v (_log_direction); outside the
    plain range, _logmap_wide."""
    xs, ys = x[..., 1:], y[..., 1:]
    nx, ny = sq(xs, xp=xp), sq(ys, xp=xp)
    odd = _odd_rows(c, xs, nx, ys, ny, xp=xp)

    def plain(safe):
        a, b, na, nb = _zeros(odd, safe, (xs, ys, nx, ny), xp=xp)
        u, vs = _log_direction(a, b, c, xp=xp, nx=na, ny=nb)
        scale = 1.0 / sinhc(_scaled_dist(u, xp=xp), xp=xp)
        return _tangent_plain(a, _time_plain(a, c, xp=xp, nx=na), scale * vs, xp=xp)

    return select_rows(odd, plain, lambda: _logmap_wide(xs, ys, c, xp=xp), xp=xp)


def _logmap_wide(xs, ys, c, *, xp):
    """log_x(y)_s = (delta / sinh delta) (D - u xs), delta = sqrt(c) d, D = ys - xs, without u or
    sinh(delta), which overflow for far pairs whose logarithm is representable (|log_x(y)_s| <=
    delta sqrt(c) x0): with s = sinh(delta/2) (sinh_half) and h = cosh(delta/2) = sqrt(1 + s^2),
    delta / sinh(delta) = asinhc(s) / h and u delta / sinh(delta) = delta s / h, so
        log_x(y)_s = asinhc(s) D / h - delta (s / h) xs."""
    s = sinh_half(xs, ys, c, xp=xp)
    h = hyp1(s, xp=xp)
    delta = 2.0 * asinh0(s, xp=xp)
    diff, f = _diff(xs, ys, xp=xp)
    # asinhc(s) D / h as (asinh(s) (D / h)) / s past s = 2^26: s h overflows past 1e154 while the
    # term, up to |D| / s ~ |ys| / s^2, is as large as the other when x is near the origin; for
    # s = inf (beyond the radius) it is 0, not inf / inf
    big = s > 2.0**26
    sb = xp.where(big, s, 1.0)
    first = xp.where(
        big,
        (asinh0(sb, xp=xp) * (diff / h)) / sb,
        (asinhc0(xp.where(big, 0.0, s), xp=xp) / h) * diff,
    )
    first = xp.where(s == math.inf, 0.0, first)
    us = f * first - mul0(delta * rho_sigma(s, xp=xp)[1], xs, xp=xp)
    return _tangent(xs, time(xs, c, xp=xp), us, xp=xp)


@_quiet
def transport(x, y, v, c, *, xp):
    """P(v) = v + k (x + y), k = c<y,v>_L / (2 + u), u = -c<x,y>_L - 1.

    <y,v>_L is formed from the parts of vs and ys along xs_hat and across it (_radial_split):
    writing it as ys.vs - y0 (xs.vs) / x0 cancels for points far out on one ray (3.4e-8 at
    |xs| = 1.5e4 in float64 where one rounding of the inputs moves P(v) by 4.5e-16), and as the
    tangent inner product of w = y + c<x,y>_L x with v it costs eps u |xs| when w is long.
    As written, the sum vs + k (xs + ys) is exact while the correction is at most half of vs;
    a vector moved from far out (|xs| = R) toward the origin instead comes out as the
    difference of two O(R) vectors, error eps R (1.8e-12 at R = 9e3 in float64, found by the
    hypothesis hunt). There the terms along xs_hat are collected first (_transport_far).
    Rows outside the plain range take _transport_wide, and so do rows with x beyond
    sqrt(c)|xs| = 2^10: there the part of vs across xs_hat, formed as vs - (xs_hat.vs) xs_hat on
    a direction rounded to eps, errs by eps |vs| ~ eps sqrt(c) x0 |v|_L (2.2e-12 at |xs| = 1.2e4
    with y near the origin, against a sensitivity of 3e-13).
    """
    xs, ys, vs = x[..., 1:], y[..., 1:], v[..., 1:]
    nx, ny, nv = sq(xs, xp=xp), sq(ys, xp=xp), sq(vs, xp=xp)
    lim = limits(vs, xp=xp)
    odd = _odd_rows(
        c,
        xs,
        nx,
        ys,
        ny,
        xp=xp,
        extra=(nv > lim.hi2) | (c * nx > 2.0**20),
        more_tiny=(nv < lim.lo2, [vs]),
    )

    def plain(safe):
        a, b, w, na, nb = _zeros(odd, safe, (xs, ys, vs, nx, ny), xp=xp)
        return _transport_plain(a, b, w, c, na, nb, xp=xp)

    return select_rows(odd, plain, lambda: _transport_wide(xs, ys, vs, c, xp=xp), xp=xp)


def _transport_plain(xs, ys, vs, c, nx, ny, *, xp):
    x0, y0 = _time_plain(xs, c, xp=xp, nx=nx), _time_plain(ys, c, xp=xp, nx=ny)
    u = _cosh_minus_one(xs, ys, c, xp=xp, nx=nx, ny=ny)
    split = _radial_split(xs, ys, vs, x0, y0, c, nx, xp=xp)
    r, _xhat, _along, beta, _eta, v_perp, y_perp, lean = split
    # at the origin xs_hat has no direction, and autograd through the split misses
    # d<y,v>_L/dxs = -(y0/x0) vs (it found -vs); there the plain forms, equal in value (xs = 0
    # exactly, nothing to cancel), carry the gradient
    origin = r == 0
    yv = xp.where(
        origin,
        dot(ys, vs, xp=xp) - y0 * dot(xs, vs, xp=xp) / x0,
        beta * lean / x0 + dot(y_perp, v_perp, xp=xp),
    )
    k = c * yv / (2.0 + u)
    step = k * (xs + ys)
    small = (sq(step, xp=xp) <= 0.25 * sq(vs, xp=xp)) | origin
    ps = xp.where(small, vs + step, _transport_far(split, x0, y0, u, k, c, xp=xp))
    return _tangent_plain(ys, y0, ps, xp=xp)


def _radial_split(xs, ys, vs, x0, y0, c, nx, *, xp):
    """The parts of vs and ys along xs_hat (beta, eta) and across it (v_perp, y_perp), with
    along = xs_hat.(ys - xs) and lean = x0 eta - y0 |xs| formed without cancellation:
        <y,v>_L = beta lean / x0 + y_perp.v_perp.
    y_perp is taken from the shorter of ys and D = ys - xs (both have it as their part across
    xs_hat), so its error is eps min(|ys|, |D|); for eta > 0, lean = (x0^2 eta^2 - y0^2 |xs|^2)
    / (x0 eta + y0 |xs|) = (along (eta + |xs|) / c - |xs|^2 |y_perp|^2) / (x0 eta + y0 |xs|)."""
    r = sqrt0(nx, xp=xp)
    xhat = div0(xs, r, xp=xp)
    diff = ys - xs
    along = dot(xhat, diff, xp=xp)  # eta - |xs|, exact for near points
    beta, eta = dot(xhat, vs, xp=xp), dot(xhat, ys, xp=xp)
    v_perp = vs - beta * xhat
    base = xp.where(sq(ys, xp=xp) < sq(diff, xp=xp), ys, diff)
    y_perp = base - dot(xhat, base, xp=xp) * xhat
    same = eta > 0
    den = xp.where(same, x0 * eta + y0 * r, 1.0)
    lean = xp.where(
        same,
        (along * (eta + r) / c - nx * sq(y_perp, xp=xp)) / den,
        x0 * eta - y0 * r,
    )
    return r, xhat, along, beta, eta, v_perp, y_perp, lean


def _transport_wide(xs, ys, vs, c, *, xp):
    """transport's _transport_far form with no square or product of two large lengths: v scaled
    by a power of two mu (P is linear in v, so P(v) = P(mu v) / mu exactly), the lengths of x
    and y kept as they are (each representable) and met only in ratios or as sqrt(c) l / h,
    2 + u = 2 h^2 with h = cosh(sqrt(c) d / 2) from sinh_half, the parts across xs_hat from
    exact minors (perp_part), sigma = |xs| / x0. With r = (eta + |xs|) / (eta + y0 sigma) and,
    for eta > 0, c lean / x0 = (along / x0) r / x0 - c (sigma |y_perp|)^2 / (eta + y0 sigma)
    (else c (eta - y0 sigma)):
        P_s = [beta F + c (y_perp.v_perp)(|xs| + eta) / (2h^2)] xs_hat + v_perp + k y_perp,
        F = (1 + y0/x0 + c eta lean / x0) / (2h^2),   k = c (beta lean / x0 + y_perp.v_perp) / (2h^2).
    Below sqrt(c)|xs| = 2^-30, x is the origin to far below an ulp of its effect: there the
    plain P_s = vs + c (ys.vs - y0 (xs.vs) / x0) (xs + ys) / (2h^2) (no cancellation from the
    origin), where the form above would divide by |xs| on the way (a gradient of 1e300 at
    |xs| = 1e-300)."""
    sc = _sqrt(c, xp=xp)
    mu = pow2_scale(rowmax(vs, xp=xp), xp=xp)
    V = vs * mu
    h = hyp1(sinh_half(xs, ys, c, xp=xp), xp=xp)
    rh = xp.sqrt(h)

    def sh(v):  # sqrt(c) v / h, h split so that nothing over- or underflows (h >= 1)
        return ((v / rh) * sc) / rh

    nx, ny = norm_wide(xs, xp=xp), norm_wide(ys, xp=xp)
    x0, y0 = time(xs, c, xp=xp), time(ys, c, xp=xp)
    yhat = _unit(ys, xp=xp)
    flat = sc * nx < 2.0**-30
    # flat rows (zeros elsewhere): <y,v>_L sqrt(c) / h = sqrt(c)|ys|/h (yhat.v) - sqrt(c) y0/h v0
    xf, yf, vf = (xp.where(flat, w, 0.0) for w in (xs, ys, V))
    yv_f = (sc * xp.where(flat, ny, 0.0) / h) * dot(xp.where(flat, yhat, 0.0), vf, xp=xp) - (
        (sc * xp.where(flat, y0, 0.0) / h) * (dot(xf, vf, xp=xp) / xp.where(flat, x0, 1.0))
    )
    at_origin = vf + ((xf / 2.0 + yf / 2.0) * (sc / h)) * yv_f
    # the general form, on a fixed point in the flat rows (no 1/|xs| gradient there)
    xs = xp.where(flat, 1.0, xs)
    nx, x0 = xp.where(flat, 1.0, nx), xp.where(flat, 1.0, x0)
    xhat = _unit(xs, xp=xp)
    xn = xs * pow2_scale(rowmax(xs, xp=xp), xp=xp)  # its direction, for perp_part
    ly = pow2_scale(rowmax(ys, xp=xp), xp=xp)
    diff, fd = _diff(xs, ys, xp=xp)  # ys - xs = fd diff
    along_x0 = dot(xhat, diff, xp=xp) * (fd / x0)  # along / x0
    beta, eta = dot(xhat, V, xp=xp), dot(xhat, ys, xp=xp)
    v_perp = perp_part(xn, V, xp=xp)
    y_perp = perp_part(xn, ys * ly, xp=xp) / ly
    nyp = norm_wide(y_perp, xp=xp)
    _, sig = rho_sigma(sc * nx, xp=xp)
    same = eta > 0
    den = xp.where(same, eta / 2.0 + (y0 / 2.0) * sig, 1.0)  # (eta + y0 sigma) / 2
    r = (eta / 2.0 + nx / 2.0) / den
    yp_h2 = sh(sig * nyp) ** 2  # c (sigma |y_perp|)^2 / h^2
    behind = xp.where(same, 0.0, eta / 2.0 - (y0 / 2.0) * sig)  # (eta - y0 sigma) / 2: no -inf
    # c eta lean / x0 / (2h^2), and c lean / x0 / (2h^2) y_perp
    # (eta / x0)(along / x0) r / (2h^2), the large factor r with a small one first: in the other
    # order a subnormal intermediate lost 2e-11 (|xs| = 1e157, y near the origin)
    ax_h = along_x0 / h
    f_lean = xp.where(
        same, ((eta / x0) * r) * (ax_h / h) / 2.0 - yp_h2 * (eta / den) / 4.0, sh(eta) * sh(behind)
    )
    k_lean = xp.where(
        same,
        ((ax_h * r) / h) * (y_perp / x0) / 2.0 - yp_h2 * (y_perp / den) / 4.0,
        sh(behind) * (y_perp * (sc / h)),
    )
    # y_perp.v_perp = |y_perp| (y_perp_hat.v_perp): the dimensionless factors are multiplied
    # first, then the part of v (scaled by mu, possibly far below its radial part, 1e-193 for a
    # tangent vector at 1e290): in the other order a product underflowed
    vdot = dot(_unit(y_perp, xp=xp), v_perp, xp=xp)
    f = (1.0 / h + (y0 / h) / x0) / (2.0 * h) + f_lean
    # halves: sqrt(c)(|xs| + eta) reaches 2 max at the rim
    g = (sh(nx / 2.0 + eta / 2.0) * sh(nyp)) * vdot
    ps = (
        (beta * f + g) * xhat
        + v_perp
        + beta * k_lean
        + (y_perp * ((sc / h) * sh(nyp) / 2.0)) * vdot
    )
    return _tangent(ys, y0, xp.where(flat, at_origin, ps) / mu, xp=xp)


def _transport_far(split, x0, y0, u, k, c, *, xp):
    """Space part of P(v) split along xs_hat and orthogonal to it (_radial_split). Collecting
    the xs_hat terms gives the radial coefficient
        [beta (x0 + y0 + c eta lean) + c x0 (y_perp.v_perp)(|xs| + eta)] / (x0 (2 + u));
    the rest is v_perp + k y_perp.
    """
    nx, xhat, _along, beta, eta, v_perp, y_perp, lean = split
    yv = c * dot(y_perp, v_perp, xp=xp)
    radial = (beta * (x0 + y0 + c * eta * lean) + yv * x0 * (nx + eta)) / (x0 * (2.0 + u))
    return radial * xhat + v_perp + k * y_perp


@_quiet
def half_aperture(x, c, min_radius, *, xp):
    """asin(min(1, 2K / (sqrt(c)|xs|))) as atan2(2K, sqrt((n - 2K)(n + 2K))), n = sqrt(c)|xs|:
    no asin near 1 (which loses half the digits), pi/2 inside the radius, finite gradient."""
    n = _sqrt(c, xp=xp) * norm0(x[..., 1:], xp=xp)
    k2 = 2.0 * min_radius
    return xp.atan2(xp.full_like(n, k2), sqrt0((n - k2) * (n + k2), xp=xp))


@_quiet
def exterior_angle(x, y, c, *, xp):
    """Angle at x between the geodesic x -> y and the ray from the origin through x.

    In T_x, the outward radial direction has space part along xs and Lorentz length
    (xs.vs)/(|xs| sqrt(c) x0) per unit of v's component; the orthogonal complement is the
    space directions orthogonal to xs, with Euclidean length. With v = log direction, vs =
    D - u xs (D = ys - xs):  angle = atan2(sqrt(c) x0 |D_perp|, xs_hat.D - u |xs|),
    D_perp the part of D orthogonal to xs. atan2 keeps small angles to full precision where
    acos would lose half the digits. At the origin (no ray) the angle is pi/2; for y == x, 0.
    Rows outside the plain range, and rows with x far out (sqrt(c)|xs| > 2^20 in float64), take
    _exterior_angle_wide.
    """
    xs, ys = x[..., 1:], y[..., 1:]
    nx, ny = sq(xs, xp=xp), sq(ys, xp=xp)
    odd = _odd_rows(c, xs, nx, ys, ny, xp=xp, extra=c * nx > limits(xs, xp=xp).far2)

    def plain(safe):
        a, b, na, nb = _zeros(odd, safe, (xs, ys, nx, ny), xp=xp)
        diff = b - a
        r = sqrt0(na, xp=xp)
        xhat = div0(a, r, xp=xp)
        along = dot(xhat, diff, xp=xp)
        u = _cosh_minus_one(a, b, c, xp=xp, nx=na, ny=nb)
        # D_perp = ys_perp: taken from the shorter of D and ys, its error is eps min(|D|, |ys|);
        # from D alone it cancels when y is near the origin behind x (|D| ~ |xs| >> |D_perp|),
        # which turned the gradient's direction by 1e-8 at |ys| = 3e-8, |xs| = 1.3
        base = xp.where(nb < sq(diff, xp=xp), b, diff)
        perp = base - dot(xhat, base, xp=xp) * xhat
        sine = _sqrt(c, xp=xp) * _time_plain(a, c, xp=xp, nx=na) * sqrt0(sq(perp, xp=xp), xp=xp)
        return atan2_0(sine, along - u * r, xp=xp)

    return select_rows(odd, plain, lambda: _exterior_angle_wide(xs, ys, c, xp=xp), xp=xp)


def _exterior_angle_wide(xs, ys, c, *, xp):
    """exterior_angle for every representable pair. Both arguments are divided by sqrt(c) x0
    max(1, s), s = sinh(sqrt(c) d / 2) (u = 2 s^2), which leaves the angle as it is and keeps
    every term finite far out:
        angle = atan2(|D_perp| / H, (along rho - 2 s (s sigma / sqrt(c))) / H),   H = max(1, s),
    rho = 1 / (sqrt(c) x0), sigma = |xs| / x0; D_perp from exact minors (perp_part): far out its
    plain form errs by eps |base|, which the radial stretch sqrt(c) x0 turns into an angle."""
    diff, f = _diff(xs, ys, xp=xp)  # ys - xs = f diff; both arguments are divided by f below
    nx = norm0(xs, xp=xp)
    xhat = _unit(xs, xp=xp)  # from scaled coordinates: jax's gradient of xs / |xs| squares |xs|
    along = dot(xhat, diff, xp=xp)
    sc = _sqrt(c, xp=xp)
    s = sinh_half(xs, ys, c, xp=xp)
    rho, sigma = rho_sigma(sc * nx, xp=xp)
    h = xp.where(s > 1.0, s, 1.0)
    s_h = xp.where(s > 1.0, 1.0, s)  # s / h, also for s = inf (beyond the radius)
    ly = pow2_scale(rowmax(ys, xp=xp), xp=xp)
    perp = perp_part(xs * pow2_scale(rowmax(xs, xp=xp), xp=xp), ys * ly, xp=xp) / ly / f
    return atan2_scaled(
        norm0(perp, xp=xp) / h, (along * rho) / h - 2.0 * s_h * ((s * sigma) / sc) / f, xp=xp
    )


@_quiet
def to_poincare(x, c, *, xp):
    """xs / (1 + sqrt(c) x0); as (xs / x0) / (sqrt(c) + 1/x0) where sqrt(c) x0 overflows."""
    xs = x[..., 1:]
    sc = _sqrt(c, xp=xp)
    den = 1.0 + sc * _time_plain(xs, c, xp=xp)
    odd = ~(den < math.inf)  # also NaN rows, which stay NaN in either form
    if not maybe(odd, xp=xp):
        return xs / den
    x0 = time(xs, c, xp=xp) * 2.0**-64  # scaled: XLA's reciprocal of x0 > 2^1022 is flushed to 0
    return xp.where(
        odd, ((xs * 2.0**-64) / x0) / (sc + 2.0**-64 / x0), xs / xp.where(odd, 1.0, den)
    )


@_quiet
def from_poincare(p, c, *, xp):
    return from_space(2.0 * p / (1.0 - c * sq(p, xp=xp)), c, xp=xp)
