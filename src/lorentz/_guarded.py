"""Guarded elementary helpers shared by the reference formulas.

Each one is finite, with a finite gradient, at its removable singularity. They use the
"double where": the unused branch gets a safe argument, so neither branch produces an inf or
NaN that autograd would multiply by zero (0 * inf = NaN).
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ._arguments import is_concrete
from ._dask import is_dask


def sq(v, *, xp):
    """|v|^2 over the last axis, kept as a length-1 axis."""
    return xp.sum(v * v, axis=-1, keepdims=True)


def dot(a, b, *, xp):
    """Euclidean a . b over the last axis, kept as a length-1 axis."""
    return xp.sum(a * b, axis=-1, keepdims=True)


def sqrt0(q, *, xp):
    """sqrt(max(q, 0)) whose gradient at 0 is the zero subgradient instead of inf; NaN stays
    NaN (a guard that mapped it to 0 would turn a NaN input into a finite answer)."""
    pos = q > 0
    return xp.where(pos, xp.sqrt(xp.where(pos, q, 1.0)), xp.where(q == q, 0.0, q))


def norm0(v, *, xp):
    """|v| over the last axis (kept), with gradient 0 at v = 0 (autograd of sqrt gives NaN).

    The plain sum of squares overflows once |v| > 1.3e154 (float64) and loses digits in
    subnormals below 1e-146, far inside the representable range: those rows (and only when
    there are any, see :func:`maybe`) are summed again scaled by a power of two, exactly."""
    q = sq(v, xp=xp)
    lim = limits(v, xp=xp)
    tiny = q < lim.sq_lo
    odd = refine(q > lim.max, [(tiny, [v])], xp=xp)
    if odd is None:
        return sqrt0(q, xp=xp)
    return xp.where(odd, norm_wide(v, xp=xp), sqrt0(xp.where(odd, 1.0, q), xp=xp))


def norm_wide(v, *, xp):
    """|v| over the last axis (kept) for every row, summed scaled by a power of two (exact)."""
    lam = pow2_scale(rowmax(v, xp=xp), xp=xp)
    return sqrt0(sq(v * lam, xp=xp), xp=xp) / lam


def div0(a, b, *, xp):
    """a / b, and 0 where b == 0."""
    nz = b != 0
    return xp.where(nz, a / xp.where(nz, b, 1.0), 0.0)


def sinh(t, *, xp):
    """sinh(t) = E (1 + 1/(1 + E)) / 2 with E = expm1(|t|), odd in t.

    Not xp.sinh: XLA's sinh and cosh are off by up to 17 ulp in float64 (measured on 5,000
    arguments in [0, 40] against mpmath), and expmap far from the origin multiplies that
    error by the cancellation between its two terms. This form is within 3.5 ulp on jax and
    1.8 on numpy, for every t, and overflows to inf, not NaN (1/(1 + inf) = 0)."""
    # odd extension by a where, not sign(t) * f(|t|): that has gradient 0 at t = 0, not 1
    pos = t >= 0
    e = xp.expm1(xp.where(pos, t, -t))
    s = 0.5 * e * (1.0 + 1.0 / (1.0 + e))
    return xp.where(pos, s, -s)


# below this |t|, sinh(t)/t = 1 + t^2/6 and asinh(t)/t = 1 - t^2/6 to far below an ulp (the next
# terms are t^4/120); autograd of the quotients there is 1/t - 1/t (noise, or inf - inf in jax,
# whose division rule squares t)
SERIES = 2.0**-26


def sinhc(t, *, xp):
    """sinh(t)/t, 1 at t = 0. The sinh above is accurate near 0; |t| < 2^-26 takes the series."""
    nz = xp.abs(t) >= SERIES
    safe = xp.where(nz, t, 1.0)
    small = xp.where(nz, 0.0, t)
    return xp.where(nz, sinh(safe, xp=xp) / safe, 1.0 + small * small / 6.0)


def asinh0(t, *, xp):
    """asinh(t) for t >= 0, as log(2) + log(t) past t = 2^26 (asinh(t) - log(2t) = 1/(4t^2) is
    below an ulp there): torch's and jax's gradient of asinh, 1/sqrt(1 + t^2), is 0 once t^2
    overflows (t > 1.3e154), the gradient of log is not."""
    big = t > 2.0**26
    return xp.where(
        big, math.log(2.0) + xp.log(xp.where(big, t, 1.0)), xp.asinh(xp.where(big, 0.0, t))
    )


def asinhc(t, *, xp):
    """asinh(t)/t, 1 at t = 0; |t| < 2^-26 takes the series."""
    nz = xp.abs(t) >= SERIES
    safe = xp.where(nz, t, 1.0)
    small = xp.where(nz, 0.0, t)
    return xp.where(nz, xp.asinh(safe) / safe, 1.0 - small * small / 6.0)


def asinhc0(t, *, xp):
    """asinhc for t >= 0 of any size (asinh0: a finite gradient past t = 1.3e154)."""
    nz = t >= SERIES
    safe = xp.where(nz, t, 1.0)
    small = xp.where(nz, 0.0, t)
    return xp.where(nz, asinh0(safe, xp=xp) / safe, 1.0 - small * small / 6.0)


def atan2_0(y, x, *, xp):
    """atan2(y, x), and 0 with zero gradient at (0, 0) where autograd of atan2 gives NaN."""
    origin = (y == 0) & (x == 0)
    return xp.atan2(xp.where(origin, 0.0, y), xp.where(origin, 1.0, x))


def atan2_scaled(y, x, *, xp):
    """atan2_0 with both arguments scaled by the same power of two first (pow2_scale): the
    gradient of atan2, x / (x^2 + y^2), is 0 (or NaN) once the squares overflow (or underflow)."""
    origin = (y == 0) & (x == 0)
    lam = pow2_scale(xp.maximum(xp.abs(y), xp.abs(x)), xp=xp)  # exact; no gradient through it
    return xp.atan2(xp.where(origin, 0.0, y) * lam, xp.where(origin, 1.0, x) * lam)


# ---------------------------------------------------------------- range
#
# The plain formulas square lengths: |xs|^2 overflows at |xs| = 1.3e154 in float64 and the
# products of the distance (c |xs|^2 |D|^2) at 1e77, far inside the representable radius
# (x0 finite up to |xs| = 1.8e308, sqrt(c) r = 710.5); below 1e-146 the squares fall into
# subnormals. Each operation keeps its plain formula for ordinary rows and evaluates the rows
# outside that range with a square-free form (lengths scaled by exact powers of two,
# dimensionless ratios, products as exp of sums); :func:`maybe` skips the second form when
# no row needs it and that can be known without waiting (values on the host, not traced).


class _Limits:
    def __init__(self, dtype_max: float, tiny: float, mant: int):
        self.max = dtype_max
        self.emax = math.frexp(dtype_max)[1]  # 1024 for float64, 128 for float32
        e = self.emax
        # squares in [sq_lo, max]: every square that matters is a normal number
        self.sq_lo = tiny * 2.0 ** (mant + 4)
        # |xs|^2 and c |xs|^2 here keep every product of the plain formulas (degree 4 at most)
        # finite and normal (see _reference.cosh_minus_one's callers)
        self.lo2 = 2.0 ** (-(e // 2))
        self.hi2 = 2.0 ** (e // 2)
        self.chi = 2.0 ** (e // 4)
        # c |b|^2 beyond this (t = sqrt(c)|b| > 2^20 in float64): the plain forms project onto a
        # direction rounded to eps, an error eps t relative once the radial part is stretched
        self.far2 = 2.0 ** (40 * mant // 53)
        # the plain forms of sinh, cosh and exp(t) overflow just past log(max): above this t
        # the exponential is factored out of the product it scales
        self.t_big = math.log(dtype_max) - 10.0
        # past this t, e^t times the least positive number overflows: every nonzero component of
        # e^t v is +-inf, whatever v's scaled form underflows to
        self.t_inf = math.log(dtype_max) - math.log(tiny * 2.0 ** -(mant - 1)) + 1.0
        self.step = e // 8  # binades per level of pow2_scale
        self.window = 7 * e // 16  # pow2_scale keeps rows below 2^window and above 2^-window
        self.split = 2.0 ** ((mant + 2) // 2) + 1.0  # Veltkamp's splitter: 2^27 + 1 in float64


_LIMITS: dict = {}


def limits(a, *, xp) -> _Limits:
    """The range constants of ``a``'s (compute) dtype."""
    key = str(a.dtype)
    lim = _LIMITS.get(key)
    if lim is None:
        fi = xp.finfo(a.dtype)
        lim = _LIMITS[key] = _Limits(
            float(fi.max), float(fi.smallest_normal), round(-math.log2(float(fi.eps)))
        )
    return lim


def maybe(mask, *, xp) -> bool:
    """Whether any entry of ``mask`` may be True: False only when the values are concrete, so
    that the second form is computed only where some row needs it. Traced (jax.jit: see
    select_rows; torch.compile) or lazy (dask), both forms are computed and selected by
    ``where``. On a GPU the read waits for the queue, which costs less than the second form's
    dozens of kernel launches would."""
    t = type(mask)
    if t is np.ndarray:  # numpy (array-api-compat's namespace uses plain arrays)
        return bool(mask.any())
    if t.__module__ == "torch":
        import torch

        if torch.compiler.is_compiling() or mask.device.type == "meta":
            return True
        return bool(mask.any())
    if is_dask(xp) or not is_concrete(mask):
        return True
    return bool(xp.any(mask))


def refine(rest, tiny, *, xp):
    """The odd rows: ``rest``, or a row of ``tiny`` (pairs (mask, vectors): squared lengths in
    the subnormal range) whose vectors are not all exact zeros (their squares are exact); None
    where :func:`maybe` finds no odd row. The zero test runs only where some row is tiny."""
    odd = rest
    for mask, _ in tiny:
        odd = odd | mask
    if not maybe(odd, xp=xp):
        return None
    odd = rest
    for mask, vectors in tiny:
        if maybe(mask, xp=xp):
            nz = rowmax(vectors[0], xp=xp) > 0
            for v in vectors[1:]:
                nz = nz | (rowmax(v, xp=xp) > 0)
            odd = odd | (mask & nz)
    return odd if maybe(odd, xp=xp) else None


def _jax_traced(a) -> bool:
    if "jax" not in sys.modules:
        return False
    import jax

    return isinstance(a, jax.core.Tracer)


def select_rows(odd, plain, wide, *, xp):
    """plain(False) where no row is odd (odd is None); else where(odd, wide(), plain(True)),
    plain(True) being the plain form on the origin in the odd rows (no inf there for autograd
    to multiply by 0). Traced by jax, lax.cond computes wide() only when some row needs it."""
    if odd is None:
        return plain(False)
    if _jax_traced(odd):
        import jax

        return jax.lax.cond(
            xp.any(odd),
            jax.checkpoint(lambda: xp.where(odd, wide(), plain(True))),
            lambda: plain(False),
        )
    return xp.where(odd, wide(), plain(True))


def rowmax(v, *, xp):
    """max |v_i| over the last axis (kept)."""
    return xp.max(xp.abs(v), axis=-1, keepdims=True)


def pow2_scale(m, *, xp):
    """A power of two lam per row (m: a row's largest magnitude) whose products are exact, so that
    differences of scaled coordinates are the scaled differences; 1 for ordinary rows and NaN.
    Large rows come down to at most 2^(7e/16) (2^448 in float64: squares and products of two stay
    finite) and no further, small rows go up to about 1 (2^-e/16 .. 2^e/16): autograd multiplies
    the gradients of scaled quantities by 1 / lam, which normalising large rows to 1 overflowed
    where the true gradient is finite, and jax's division rule squares a divisor, which small
    scaled numbers underflowed. From constants by ``where`` (array-API ``pow`` is not exact on
    every backend)."""
    lim = limits(m, xp=xp)
    st, win = lim.step, lim.window
    lam = xp.ones_like(m)
    for k in range(1, 8):
        if win + (k - 1) * st < lim.emax:
            lam = xp.where(m > 2.0 ** (win + (k - 1) * st), 2.0 ** (-k * st), lam)
        if k * st < lim.emax:
            lam = xp.where(m < 2.0 ** (st // 2 - k * st), 2.0 ** (k * st), lam)
    return lam


def hyp1(t, *, xp):
    """sqrt(1 + t^2) without overflow."""
    return xp.hypot(xp.ones_like(t), t)


def hypot0(a, b, *, xp):
    """sqrt(a^2 + b^2) without overflow, with gradient 0 at (0, 0) (autograd of hypot gives
    NaN there); NaN stays NaN."""
    nz = (a != 0) | (b != 0)
    h = xp.hypot(xp.where(nz, a, 1.0), xp.where(nz, b, 0.0))
    return xp.where(nz, h, 0.0)


def rho_sigma(t, *, xp):
    """(1 / sqrt(1 + t^2), t / sqrt(1 + t^2)) for t = sqrt(c)|xs| >= 0: a/x0 and |xs|/x0 of a
    point, a = 1/sqrt(c); neither overflows (t / hypot(1, t) would be inf/inf at t = inf)."""
    rho = 1.0 / hyp1(t, xp=xp)
    big = t > 1.0
    tb = xp.where(big, t, 1.0)
    ts = xp.where(big, 0.0, t)
    sigma = xp.where(big, 1.0 / hyp1(1.0 / tb, xp=xp), ts / hyp1(ts, xp=xp))
    return rho, sigma


def asinh_prod(s, r, *, xp):
    """asinh(s r) for s > 0 (a float or an array) and r >= 0, also where s r overflows
    (asinh(t) = log(2t) to far below an ulp there)."""
    t = s * r
    big = t > 2.0 ** (limits(r, xp=xp).emax - 4)
    if not maybe(big, xp=xp):
        return asinh0(t, xp=xp)
    rb = xp.where(big, r, 1.0)
    ls = math.log(s) if isinstance(s, float) else xp.log(s)
    return xp.where(big, (math.log(2.0) + ls) + xp.log(rb), asinh0(xp.where(big, 1.0, t), xp=xp))


def mul0(a, v, *, xp):
    """a * v, and 0 where v == 0 (also where a is infinite: inf * 0 would be NaN)."""
    return xp.where(v == 0, 0.0, a * v)


def mulexp(t, v, *, xp):
    """e^t v for t >= 0: exact where the product is representable, +-inf where it overflows,
    0 where v == 0 (e^(t/2) (e^(t/2) v) reaches t = 1419 before e^(t/2) itself overflows)."""
    e = xp.exp(t / 2.0)
    return xp.where(v == 0, 0.0, e * (e * v))


def two_prod(a, b, *, xp):
    """(p, e) with p + e = a b exactly (Dekker's product by Veltkamp's splitting: the array API
    has no fused multiply-add); |a|, |b| below 2^(7e/16) (the scaled coordinates are)."""
    p = a * b
    ah, al = _split(a, xp=xp)
    bh, bl = _split(b, xp=xp)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _split(a, *, xp):
    t = a * limits(a, xp=xp).split
    hi = t - (t - a)
    return hi, a - hi


def perp_part(a, b, *, xp):
    """The part of b across a (rows scaled by pow2_scale), each row to a few ulps of its
    own length however small, and exactly 0 only for exactly parallel rows; 0 where a = 0 gives
    b itself. b - (a_hat.b) a_hat instead errs by eps |b| in every direction, which far out (a
    tangent vector's radial part is stretched by sqrt(c) x0) is larger than the part itself.

    With k the largest component of a, w = b - (b_k / a_k) a has w_k = 0 and the same part across
    a; its components are the 2x2 minors (a_k b_i - a_i b_k) / a_k, each formed exactly
    (two_prod) and rounded once, so no cancellation reaches them. w makes an angle of at least
    acos(sqrt(1 - 1/n)) with a, so w - (a.w / |a|^2) a is formed without cancellation too."""
    n = a.shape[-1]
    k = xp.argmax(xp.abs(a), axis=-1, keepdims=True)
    pivot = xp.arange(n, device=_device(a)) == k
    ak = xp.sum(xp.where(pivot, a, 0.0), axis=-1, keepdims=True)
    bk = xp.sum(xp.where(pivot, b, 0.0), axis=-1, keepdims=True)
    p1, e1 = two_prod(ak, b, xp=xp)
    p2, e2 = two_prod(a, bk, xp=xp)
    nz = ak != 0
    w = xp.where(nz, ((p1 - p2) + (e1 - e2)) / xp.where(nz, ak, 1.0), b)
    return w - div0(dot(a, w, xp=xp), sq(a, xp=xp), xp=xp) * a


def sin_angle(a, b, *, xp):
    """sin of the angle between rows a and b (see perp_part): relative accuracy however small."""
    return div0(norm0(perp_part(a, b, xp=xp), xp=xp), norm0(b, xp=xp), xp=xp)


def _device(a):
    from array_api_compat import device

    return device(a)
