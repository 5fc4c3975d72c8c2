"""Arbitrary-precision reference for every operation (mpmath, 60 digits by default).

Inputs are single vectors given as sequences of floats (numpy arrays, lists); they are
taken as exact binary values, so the reference is the exact answer for the *rounded*
inputs. As in the library, a point is its space part: x0 = sqrt(1/c + |xs|^2) is derived
exactly, and a tangent vector at x is its space part (u0 = xs.us / x0). With 60 digits the
textbook formulas are exact to far more than float64 needs: the worst cancellation in this
project's ranges (x0 y0 ~ 1e8 against u ~ 1e-20) costs under 30 digits.

Scalar results are ``mpf``; vector results are lists of ``mpf``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mpmath import mp, mpf

DIGITS = 60


def _v(a) -> list:
    return [mpf(float(t)) for t in a]


def _dot(a, b):
    return mp.fsum(p * q for p, q in zip(a, b))


def _time(xs, c):
    return mp.sqrt(1 / c + _dot(xs, xs))


def _point(x, c):
    xs = _v(x)[1:]
    return [_time(xs, c), *xs]


def _tangent(x, u, c):
    xs, us = _v(x)[1:], _v(u)[1:]
    return [_dot(xs, us) / _time(xs, c), *us]


def _lip(a, b):
    return -a[0] * b[0] + _dot(a[1:], b[1:])


def _c(c):
    return mpf(float(c))


def _cosh_minus_one(p, q, c):
    """-c<x,y>_L - 1 = cosh(sqrt(c) d) - 1 from non-negative terms only.

    Subtracting x0 y0 from xs.ys + 1/c would need more digits the closer the points are
    (two independently drawn points can agree to 1e-69); the identities below need none.
    The wedge |xs^ys|^2 is summed over coordinate pairs, where every term is exact.
    """
    xs, ys = p[1:], q[1:]
    xy = _dot(xs, ys)
    if xy >= 0:
        diff = _dot([a - b for a, b in zip(xs, ys)], [a - b for a, b in zip(xs, ys)])
        wedge = mp.fsum(
            (xs[i] * ys[j] - xs[j] * ys[i]) ** 2
            for i in range(len(xs))
            for j in range(i + 1, len(xs))
        )
        return (diff + c * wedge) / (p[0] * q[0] + 1 / c + xy)
    a = 1 / mp.sqrt(c)
    return c * (_dot(xs, xs) * q[0] / (p[0] + a) + a * _dot(ys, ys) / (q[0] + a) - xy)


def _acosh1p(u):
    """acosh(1 + u) without forming 1 + u, which rounds to 1 below u ~ 10**-DIGITS."""
    return 2 * mp.asinh(mp.sqrt(u / 2))


def inner(x, y):
    with mp.workdps(DIGITS):
        return _lip(_v(x), _v(y))


def norm(u):
    with mp.workdps(DIGITS):
        u = _v(u)
        return mp.sqrt(max(_lip(u, u), mpf(0)))


def dist(x, y, c=1.0):
    with mp.workdps(DIGITS):
        c = _c(c)
        return _acosh1p(_cosh_minus_one(_point(x, c), _point(y, c), c)) / mp.sqrt(c)


def dist0(x, c=1.0):
    with mp.workdps(DIGITS):
        c = _c(c)
        return mp.asinh(mp.sqrt(c) * mp.sqrt(_dot(_v(x)[1:], _v(x)[1:]))) / mp.sqrt(c)


def expmap(x, u, c=1.0):
    with mp.workdps(DIGITS):
        c = _c(c)
        p, v = _point(x, c), _tangent(x, u, c)
        t = mp.sqrt(c) * mp.sqrt(max(_lip(v, v), mpf(0)))
        k = mp.sinh(t) / t if t else mpf(1)
        return [mp.cosh(t) * a + k * b for a, b in zip(p, v)]


def expmap0(u, c=1.0):
    n = len(u)
    return expmap([0.0] * n, [0.0] + [float(t) for t in u[1:]], c)


def logmap(x, y, c=1.0):
    with mp.workdps(DIGITS):
        c = _c(c)
        p, q = _point(x, c), _point(y, c)
        u = _cosh_minus_one(p, q, c)
        if u == 0:
            return [mpf(0)] * len(p)
        # v = y + c<x,y>_L x = y - (1+u) x, |v|_L = sqrt(u (u+2) / c)
        v = [_time_difference(p, q)] + [b - a for a, b in zip(p[1:], q[1:])]
        v = [t - u * a for t, a in zip(v, p)]
        d = _acosh1p(u) / mp.sqrt(c)
        return [d * t / mp.sqrt(u * (u + 2) / c) for t in v]


def _time_difference(p, q):
    """y0 - x0 = (|ys|^2 - |xs|^2) / (x0 + y0), exact for near points."""
    return _dot([b - a for a, b in zip(p[1:], q[1:])], [a + b for a, b in zip(p[1:], q[1:])]) / (
        p[0] + q[0]
    )


def logmap0(y, c=1.0):
    return logmap([0.0] * len(y), y, c)


def transport(x, y, v, c=1.0):
    with mp.workdps(DIGITS):
        c = _c(c)
        p, q, w = _point(x, c), _point(y, c), _tangent(x, v, c)
        k = c * _lip(q, w) / (1 - c * _lip(p, q))
        return [a + k * (s + t) for a, s, t in zip(w, p, q)]


def half_aperture(x, c=1.0, min_radius=0.1):
    with mp.workdps(DIGITS):
        c = _c(c)
        n = mp.sqrt(c) * mp.sqrt(_dot(_v(x)[1:], _v(x)[1:]))
        ratio = 2 * mpf(float(min_radius)) / n if n else mpf(2)
        return mp.asin(min(mpf(1), ratio))


def exterior_angle(x, y, c=1.0):
    """MERU's oxy_angle, evaluated exactly: acos((y0 + c<x,y>x0) / (|xs| sqrt((c<x,y>)^2 - 1)))."""
    with mp.workdps(DIGITS):
        c = _c(c)
        p, q = _point(x, c), _point(y, c)
        nx = mp.sqrt(_dot(p[1:], p[1:]))
        u = _cosh_minus_one(p, q, c)
        if nx == 0 or u == 0:
            raise ValueError("exterior angle undefined at the origin or for y == x")
        # y0 + c<x,y>_L x0 = (y0 - x0) - u x0;  (c<x,y>_L)^2 - 1 = u (u + 2)
        cos = (_time_difference(p, q) - u * p[0]) / (nx * mp.sqrt(u * (u + 2)))
        return mp.acos(max(mpf(-1), min(mpf(1), cos)))


def to_poincare(x, c=1.0):
    with mp.workdps(DIGITS):
        c = _c(c)
        p = _point(x, c)
        return [t / (1 + mp.sqrt(c) * p[0]) for t in p[1:]]


def from_poincare(p, c=1.0):
    with mp.workdps(DIGITS):
        c = _c(c)
        p = _v(p)
        den = 1 - c * _dot(p, p)
        xs = [2 * t / den for t in p]
        return [_time(xs, c), *xs]


def project(x, c=1.0):
    with mp.workdps(DIGITS):
        return _point(x, _c(c))


def project_tangent(x, u, c=1.0):
    with mp.workdps(DIGITS):
        c = _c(c)
        p, w = _point(x, c), _v(u)
        k = c * _lip(p, w)
        return [a + k * b for a, b in zip(w, p)]


# ---------------------------------------------------------------- error measures


def error(out, ref, *, absolute: bool = False) -> float:
    """max|out - ref| / max|ref| (relative) or max|out - ref| (absolute, for angles).

    A zero reference demands an exact zero (error 0 or inf)."""
    with mp.workdps(DIGITS):
        outs = [out] if not isinstance(ref, list) else list(out)
        refs = [ref] if not isinstance(ref, list) else ref
        if len(outs) != len(refs):
            raise ValueError(f"shape mismatch: {len(outs)} values against {len(refs)}")
        diff = max(abs(_mp(o) - r) for o, r in zip(outs, refs))
        if absolute:
            return float(diff)
        scale = max(abs(r) for r in refs)
        if scale == 0:
            return 0.0 if diff == 0 else float("inf")
        return float(diff / scale)


def _mp(v):
    return v if isinstance(v, mpf) else mpf(float(v))


def movement(
    f: Callable,
    args: Sequence,
    ulp: Callable[[float], float],
    *,
    absolute: bool = False,
    ambient: bool = True,
) -> float:
    """How far the exact answer moves when the inputs change by one rounding.

    Every space coordinate of every vector argument is moved by one ulp in turn (``ulp``
    gives the spacing of the input dtype at a value); the moves of the result add up, a
    first-order bound on the answer's own sensitivity to the rounding of its inputs.
    Measured as :func:`error` measures, so the two compare directly. With ``ambient`` the
    time coordinate (index 0) of each vector is not moved: it is derived, never read.
    """
    with mp.workdps(DIGITS):
        base = f(*args)
        total = 0.0
        for k, a in enumerate(args):
            if not hasattr(a, "__len__"):
                continue
            vec = [float(t) for t in a]
            start = 1 if ambient else 0
            for i in range(start, len(vec)):
                moved = list(vec)
                moved[i] = vec[i] + ulp(vec[i])
                new_args = list(args)
                new_args[k] = moved
                total += error(f(*new_args), base, absolute=True)
        if absolute:
            return total
        scale = float(max(abs(r) for r in base) if isinstance(base, list) else abs(base))
        return total / scale if scale else (0.0 if total == 0 else float("inf"))


# ---------------------------------------------------------------- operations of issue 16
#
# Textbook forms at DIGITS digits: the cancellations they contain cost far fewer digits than
# that in this project's ranges (space norms up to 1e4, x0 y0 up to 1e8).


def _dist_mp(p, q, c):
    return _acosh1p(_cosh_minus_one(p, q, c)) / mp.sqrt(c)


def geodesic(x, y, t, c=1.0):
    """(sinh((1-t) delta) x + sinh(t delta) y) / sinh(delta), delta = sqrt(c) d(x, y)."""
    with mp.workdps(DIGITS):
        c, t = _c(c), mpf(float(t))
        p, q = _point(x, c), _point(y, c)
        delta = mp.sqrt(c) * _dist_mp(p, q, c)
        if delta == 0:
            return p
        a, b = mp.sinh((1 - t) * delta), mp.sinh(t * delta)
        return [(a * s + b * r) / mp.sinh(delta) for s, r in zip(p, q)]


def centroid(points, weights=None, c=1.0):
    """Lorentzian centroid of the rows of ``points``: a / sqrt(-c <a,a>_L), a = sum w_i x_i."""
    with mp.workdps(DIGITS):
        c = _c(c)
        ps = [_point(p, c) for p in points]
        ws = [mpf(1)] * len(ps) if weights is None else _v(weights)
        a = [mp.fsum(w * p[k] for w, p in zip(ws, ps)) for k in range(len(ps[0]))]
        return [t / mp.sqrt(-c * _lip(a, a)) for t in a]


def sqdist(x, y, c=1.0):
    """Squared Lorentzian distance -2/c - 2<x,y>_L = 2u/c."""
    with mp.workdps(DIGITS):
        c = _c(c)
        return 2 * _cosh_minus_one(_point(x, c), _point(y, c), c) / c


def busemann(x, v, c=1.0):
    """log(sqrt(c) (x0 - xs.v_hat)) / sqrt(c), v given as an ambient vector (space part read)."""
    with mp.workdps(DIGITS):
        c = _c(c)
        xs, vs = _v(x)[1:], _v(v)[1:]
        sc = mp.sqrt(c)
        # sqrt(c) x0 = sqrt(1 + c |xs|^2): exactly 1 at the origin, where B = 0
        return (
            mp.log(mp.sqrt(1 + c * _dot(xs, xs)) - sc * _dot(xs, vs) / mp.sqrt(_dot(vs, vs))) / sc
        )


def hyperplane_dist(x, w, c=1.0):
    """asinh(sqrt(c) <w,x>_L / |w|_L) / sqrt(c); every component of the normal w is read."""
    with mp.workdps(DIGITS):
        c = _c(c)
        p, w = _point(x, c), _v(w)
        sc = mp.sqrt(c)
        return mp.asinh(sc * _lip(w, p) / mp.sqrt(_lip(w, w))) / sc


def mlr_logits(x, a, z, c=1.0):
    """HyperbolicCV's LorentzMLR logits, |z_k| asinh(sqrt(c) alpha_k / |z_k|) / sqrt(c),
    alpha_k = cosh(sqrt(c) a_k) xs.z_k - sinh(sqrt(c) a_k) |z_k| x0, for one point x."""
    with mp.workdps(DIGITS):
        c = _c(c)
        p = _point(x, c)
        sc = mp.sqrt(c)
        out = []
        for ak, zk in zip(_v(a), [_v(r) for r in z]):
            zn = mp.sqrt(_dot(zk, zk))
            alpha = mp.cosh(sc * ak) * _dot(p[1:], zk) - mp.sinh(sc * ak) * zn * p[0]
            out.append(zn * mp.asinh(sc * alpha / zn) / sc)
        return out


def _log_mp(p, q, c):
    """log_p(q) for points given as mp lists (p, q on the hyperboloid)."""
    u = _cosh_minus_one(p, q, c)
    if u == 0:
        return [mpf(0)] * len(p)
    v = [_time_difference(p, q)] + [b - a for a, b in zip(p[1:], q[1:])]
    v = [t - u * a for t, a in zip(v, p)]
    d = _acosh1p(u) / mp.sqrt(c)
    return [d * t / mp.sqrt(u * (u + 2) / c) for t in v]


def wrapped_normal_sample(mean, scale, noise, c=1.0):
    """exp_mu(PT_{o -> mu}((0, scale * noise))), Nagano et al. 2019."""
    with mp.workdps(DIGITS):
        c = _c(c)
        sc = mp.sqrt(c)
        p = _point(mean, c)
        vs = [s * e for s, e in zip(_v(scale), _v(noise))]
        # P(v) = v + c<mu,v>_L / (1 + sqrt(c) mu0) (o + mu), o = (1/sqrt(c), 0, ...)
        k = c * _dot(p[1:], vs) / (1 + sc * p[0])
        w = [k * (1 / sc + p[0])] + [a + k * b for a, b in zip(vs, p[1:])]
        t = sc * mp.sqrt(_dot(vs, vs))
        f = mp.sinh(t) / t if t else mpf(1)
        return [mp.cosh(t) * a + f * b for a, b in zip(p, w)]


def wrapped_normal_log_prob(z, mean, scale, c=1.0):
    """log N(v; 0, diag(scale^2)) - (n - 1) log(sinh(t) / t), v = PT_{mu -> o}(log_mu z)."""
    with mp.workdps(DIGITS):
        c = _c(c)
        sc = mp.sqrt(c)
        p, q = _point(mean, c), _point(z, c)
        u = _log_mp(p, q, c)
        # P(u) = u - sqrt(c) u0 / (1 + sqrt(c) mu0) (mu + o): its time part is 0
        k = sc * u[0] / (1 + sc * p[0])
        vs = [a - k * b for a, b in zip(u[1:], p[1:])]
        s = _v(scale)
        n = len(vs)
        t = sc * _dist_mp(p, q, c)
        logdet = mp.log(mp.sinh(t) / t) if t else mpf(0)
        gauss = (
            -mpf(n) / 2 * mp.log(2 * mp.pi)
            - mp.fsum(mp.log(a) for a in s)
            - mp.fsum((a / b) ** 2 for a, b in zip(vs, s)) / 2
        )
        return gauss - (n - 1) * logdet


def _boost_mp(X, B, sign):
    """Lorentz boost along B (unit hyperboloid space parts): sign +1 takes o to B, -1 B to o."""
    x0 = mp.sqrt(1 + _dot(X, X))
    b0 = mp.sqrt(1 + _dot(B, B))
    k = x0 + sign * _dot(B, X) / (b0 + 1)
    return [a + sign * k * b for a, b in zip(X, B)]


def frechet_mean(points, weights=None, c=1.0, tol=None):
    """argmin_y sum_i w_i d^2(y, x_i), by Newton's method at DIGITS digits from the
    centroid, to a step below 10**-(DIGITS - 15)."""
    with mp.workdps(DIGITS):
        c = _c(c)
        sc = mp.sqrt(c)
        X = [[sc * t for t in _v(p)[1:]] for p in points]
        ws = [mpf(1)] * len(X) if weights is None else _v(weights)
        W = mp.fsum(ws)
        n = len(X[0])
        start = centroid(points, weights, float(c))
        M = [sc * t for t in start[1:]]
        tol = mpf(10) ** -(DIGITS - 15) if tol is None else tol
        for _ in range(200):
            g = [mpf(0)] * n
            H = mp.zeros(n, n)
            for w, P in zip(ws, X):
                Q = _boost_mp(P, M, -1)
                r = mp.sqrt(_dot(Q, Q))
                d = mp.asinh(r)
                lg = [d / r * t for t in Q] if r else [mpf(0)] * n
                f1 = d / mp.tanh(d) if d else mpf(1)
                f2 = (1 - f1) / d**2 if d else mpf(-1) / 3
                for i in range(n):
                    g[i] += w * lg[i] / W
                    H[i, i] += w * f1 / W
                    for j in range(n):
                        H[i, j] += w * f2 * lg[i] * lg[j] / W
            step = mp.lu_solve(H, mp.matrix(g))
            s = [step[i] for i in range(n)]
            sn = mp.sqrt(_dot(s, s))
            Y = [(mp.sinh(sn) / sn if sn else 1) * t for t in s]
            M = _boost_mp(Y, M, 1)
            if sn < tol:
                break
        ms = [t / sc for t in M]
        return [_time(ms, c), *ms]


def frechet_gradient(mean, points, weights=None, c=1.0):
    """sum_i w_i log_mean(x_i) / sum_i w_i (ambient, at the rounded ``mean``): minus half the
    Riemannian gradient of the weighted mean squared distance."""
    with mp.workdps(DIGITS):
        c = _c(c)
        p = _point(mean, c)
        ws = [mpf(1)] * len(points) if weights is None else _v(weights)
        logs = [_log_mp(p, _point(q, c), c) for q in points]
        W = mp.fsum(ws)
        return [mp.fsum(w * lg[k] for w, lg in zip(ws, logs)) / W for k in range(len(p))]
