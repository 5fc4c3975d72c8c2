"""Every operation at the ends of the representable range, against mpmath: space norms from 1e-300
up to the representable radius (sqrt(c)|xs| up to the largest float64, sqrt(c) r = 710.5), on every
backend and implementation; beyond it, inf where the true value overflows and never NaN or 0;
gradients there; the NaN policy among such rows; and the cases that failed before (the far
transport, mixed float16 inputs of the compiled kernels, numpy masked arrays)."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from mpmath import mp

import lorentz
import lorentz.meru
from lorentz.testing import mpref, to_numpy
from lorentz.testing._accuracy import BOUND
from lorentz.testing._backends import AVAILABLE, asarray, load_backend

MAX = float(np.finfo(np.float64).max)
# the mpmath reference's own cancellations (|us|^2 - u0^2 ~ t^2 for a tangent vector far out: 616
# digits at t = 1e308) need more than its 60 digits here
DIGITS = 1300


@pytest.fixture(autouse=True, scope="module")
def _digits():
    before = mpref.DIGITS
    mpref.DIGITS = DIGITS
    yield
    mpref.DIGITS = before


def point(space, c):
    """A point from its space part, x0 = sqrt(1/c + |xs|^2) rounded once (exact in mpmath)."""
    xs = np.asarray(space, dtype=np.float64)
    with mp.workdps(DIGITS):
        x0 = float(mp.sqrt(1 / mp.mpf(c) + mp.fsum(mp.mpf(float(t)) ** 2 for t in xs)))
    return np.concatenate([[x0], xs])


def tangent(x, c, size, radial):
    """A tangent vector at x (space part; the time part is derived by the library) of Lorentz norm
    about ``size``: ``radial`` of it along xs_hat (stretched by sqrt(c) x0), the rest across;
    None where that space part is not representable."""
    xs = x[1:]
    m = np.abs(xs).max()
    along = xs / m / np.linalg.norm(xs / m) if m else 0 * xs
    across = np.roll(along, 1) - along * (np.roll(along, 1) @ along) if m else np.roll(AXIS, 1)
    across = across / np.linalg.norm(across) if np.any(across) else across
    with np.errstate(over="ignore", invalid="ignore"):
        us = size * (radial * math.sqrt(c) * x[0] * along + math.sqrt(1 - radial**2) * across)
    return np.concatenate([[0.0], us]) if np.all(np.isfinite(us)) else None


GENERIC = np.array([0.6, -0.48, 0.64])
AXIS = np.array([1.0, 0.0, 0.0])
OTHER = np.array([-0.36, 0.8, 0.48])
# space norms: the squares overflow at 1.3e154 and the plain distance's terms at 1e77; half the
# largest number (just inside the radius for c = 1, at it for c = 4); tiny norms down to 1e-300
HUGE = [1e78, 1e155, 1e200, 1e300]
TINY = [1e-160, 1e-200, 1e-300]


def _cases():
    out = []
    for c in (1.0, 0.37, 4.5):
        edge = 0.5 * MAX / max(1.0, math.sqrt(c))
        for r in HUGE + [edge] + TINY:
            for name, d in (("generic", GENERIC), ("axis", AXIS)):
                x = point(r * d, c)
                ident = f"c={c}-r={r:.0e}-{name}"
                out.append(("dist0", (x,), c, ident))
                out.append(("logmap0", (x,), c, ident))
                out.append(("half_aperture", (x,), c, ident))
                out.append(("to_poincare", (x,), c, ident))
                pairs = {
                    "near": r * d * (1 + 1e-9),
                    "radial": 0.3 * r * d,
                    "opposite": -0.7 * r * OTHER,
                    "other": 0.8 * r * OTHER,
                }
                if name == "generic":  # a near pair off the ray, 1e-9 r apart
                    pairs["near"] = r * d + 1e-9 * r * OTHER
                for kind, ys in pairs.items():
                    y = point(ys, c)
                    pid = f"{ident}-{kind}"
                    out.append(("dist", (x, y), c, pid))
                    out.append(("logmap", (x, y), c, pid))
                    if kind != "near" or name == "generic":
                        out.append(("exterior_angle", (x, y), c, pid))
                    for radial in (0.0, 0.6, 1.0):
                        v = tangent(x, c, 2.0, radial)
                        if v is not None:
                            out.append(("transport", (x, y, v), c, f"{pid}-v{radial}"))
                for size, radial in (
                    (1e-3, 0.6),
                    (3.0, 1.0),
                    (3.0, -1.0),
                    (30.0, 0.6),
                    (30.0, -0.8),
                ):
                    if r < 1 and size > 1:
                        size = size * r  # a tangent step of the point's own size
                    u = tangent(x, c, size, radial)
                    if u is not None:
                        out.append(("expmap", (x, u), c, f"{ident}-u{size:g},{radial}"))
        for t in (356.0, 700.0, 709.5):  # expmap0 up to where sinh(t) would overflow
            for name, d in (("generic", GENERIC), ("axis", AXIS)):
                u = np.concatenate([[0.0], t / math.sqrt(c) * d])
                out.append(("expmap0", (u,), c, f"c={c}-t={t}-{name}"))
        for r in TINY:
            u = np.concatenate([[0.0], r * GENERIC])
            out.append(("expmap0", (u,), c, f"c={c}-r={r:.0e}"))
            p = r * GENERIC
            out.append(("from_poincare", (p,), c, f"c={c}-r={r:.0e}"))
    for r in HUGE + TINY + [MAX / 2]:
        v = np.array([r * 0.6, r * 0.8, -r * 0.48, r * 0.64])
        out.append(("norm", (v,), 1.0, f"r={r:.0e}"))
        out.append(("inner", (v, np.array([r * 0.3, r, 0.0, r * 0.2])), 1.0, f"r={r:.0e}"))
    return out


CASES = _cases()
OPS = {
    "dist": (lorentz.dist, mpref.dist, False),
    "dist0": (lorentz.dist0, mpref.dist0, False),
    "expmap0": (lorentz.expmap0, mpref.expmap0, False),
    "logmap0": (lorentz.logmap0, mpref.logmap0, False),
    "expmap": (lorentz.expmap, mpref.expmap, False),
    "logmap": (lorentz.logmap, mpref.logmap, False),
    "transport": (lorentz.transport, mpref.transport, False),
    "half_aperture": (lorentz.half_aperture, mpref.half_aperture, True),
    "exterior_angle": (lorentz.exterior_angle, mpref.exterior_angle, True),
    "to_poincare": (lorentz.to_poincare, mpref.to_poincare, False),
    "from_poincare": (lorentz.from_poincare, mpref.from_poincare, False),
    "norm": (lambda u, c=None, **kw: lorentz.norm(u, **kw), lambda u, c: mpref.norm(u), False),
    "inner": (
        lambda x, y, c=None, **kw: lorentz.inner(x, y, **kw),
        lambda x, y, c: mpref.inner(x, y),
        False,
    ),
}
IMPLEMENTATIONS = [None, "reference", "numba"]


def xla_reaches(args, c) -> bool:
    """Whether the case stays within XLA's range: jax (on CPU and GPU) flushes subnormal numbers
    to zero, and divides by way of a reciprocal, which past 2^1022 is subnormal. Cases with a
    component (or a difference of two points) below 2^-1000, or sqrt(c)|xs| above 2^1021, are
    beyond what jax can represent."""
    for a in args:
        a = np.abs(np.asarray(a[1:] if a.size > 3 else a, dtype=np.float64))
        if np.any((a > 0) & (a < 2.0**-1000)) or math.sqrt(c) * a.max() > 2.0**1021 / 2:
            return False
    if len(args) >= 2 and args[0].shape == args[1].shape:
        d = np.abs(args[0][1:] - args[1][1:])
        if np.any((d > 0) & (d < 2.0**-1000)):
            return False
    return True


def takes_implementation(f) -> bool:
    try:
        return "implementation" in inspect.signature(f).parameters
    except (TypeError, ValueError):
        return False


def runs(op, backend):
    """(implementation, call) for every implementation the operation has on this backend."""
    f = OPS[op][0]
    for impl in IMPLEMENTATIONS if takes_implementation(f) else [None]:
        kw = {} if impl is None and not takes_implementation(f) else {"implementation": impl}
        yield impl, lambda *args, c, kw=kw: f(*args, c=c, **kw)


def run(op, backend, impl_call, args, c):
    xp = load_backend(backend)
    try:
        return to_numpy(impl_call(*(asarray(xp, a) for a in args), c=c))
    except ValueError as e:
        if "cannot run here" in str(e):  # that implementation does not take this backend
            return None
        raise


def ulp(v):
    return float(np.spacing(abs(np.float64(v))))


def check(op, args, c, backends=AVAILABLE):
    ref_fn, angle = OPS[op][1], OPS[op][2]
    want = ref_fn(*args, c)
    wants = want if isinstance(want, list) else [want]
    if "jax" in backends and not xla_reaches(args, c):
        backends = [b for b in backends if b != "jax"]
    with mp.workdps(DIGITS):
        over = [abs(w) > MAX for w in wants]
        under = max(abs(w) for w in wants) < np.finfo(np.float64).tiny
    if under and not angle:  # the true value is below the normal range: it rounds to about 0
        for backend in backends:
            for impl, call in runs(op, backend):
                got = run(op, backend, call, args, c)
                if got is not None:
                    assert np.all(np.abs(got) <= np.finfo(np.float64).tiny), (op, backend, impl)
        return
    if any(over):  # the true value overflows: +-inf there, exact elsewhere
        for backend in backends:
            for impl, call in runs(op, backend):
                got = run(op, backend, call, args, c)
                if got is None:
                    continue
                got = np.atleast_1d(got)
                for g, w, o in zip(got, wants, over):
                    assert (
                        (g == math.copysign(math.inf, float(w)))
                        if o
                        else (
                            abs(g - float(w))
                            <= BOUND["float64"] * float(max(abs(v) for v in wants))
                            or not math.isfinite(float(max(abs(v) for v in wants)))
                        )
                    ), (op, backend, impl, got)
        return
    bound = None
    for backend in backends:
        for impl, call in runs(op, backend):
            got = run(op, backend, call, args, c)
            if got is None:
                continue
            assert not np.isnan(got).any(), (op, backend, impl, got)
            err = mpref.error(got.tolist() if got.ndim else float(got), want, absolute=angle)
            if err > BOUND["float64"] and bound is None:  # the answer's own sensitivity
                moved = mpref.movement(
                    lambda *a: ref_fn(*a, c),
                    args,
                    ulp,
                    absolute=angle,
                    ambient=op not in ("norm", "inner", "from_poincare"),
                )
                bound = max(BOUND["float64"], 4 * moved)
            assert err <= (bound or BOUND["float64"]), (
                f"{op} on {backend} ({impl}): error {err:.3g} > bound {bound or BOUND['float64']:.3g}"
            )


@pytest.mark.parametrize(
    "op,args,c", [pytest.param(*case[:3], id=f"{case[0]}-{case[3]}") for case in CASES]
)
def test_exact_to_the_radius(op, args, c):
    check(op, args, c)


# the reports, one each
def test_reported_cases():
    o = point([0.0, 0.0, 0.0], 1.0)
    x78, y78 = point(1e78 * GENERIC, 1.0), point(1e78 * OTHER, 1.0)
    assert abs(float(lorentz.dist(x78, y78)) - float(mpref.dist(x78, y78))) < 1e-12 * 360
    x155 = point(1e155 * GENERIC, 1.0)  # d = asinh(1e155) = 357.59
    want = float(mpref.dist0(x155))
    for impl in IMPLEMENTATIONS:
        assert float(lorentz.dist(o, x155, implementation=impl)) == pytest.approx(want, rel=1e-15)
        assert float(lorentz.dist0(x155, implementation=impl)) == pytest.approx(want, rel=1e-15)
        x0 = float(lorentz.expmap0(np.array([0.0, 356.0, 0.0]), implementation=impl)[0])
        assert math.isfinite(x0) and x0 == pytest.approx(math.cosh(356.0), rel=1e-12)
    tiny = point([1e-300, 0.0], 1.0)
    assert float(lorentz.dist0(tiny)) == pytest.approx(1e-300, rel=1e-15)
    assert float(lorentz.norm(np.array([0.0, 1e-300, 0.0]))) == pytest.approx(1e-300, rel=1e-15)


@st.composite
def far_or_tiny(draw):
    """(x, y, c): points at space norms log-uniform over the whole representable range."""
    c = draw(st.sampled_from([1.0, 0.37, 4.5]))
    top = math.log10(0.5 * MAX / max(1.0, math.sqrt(c)))

    def one():
        r = 10 ** draw(st.floats(-300, top))
        d = np.array(draw(st.lists(st.floats(-1, 1), min_size=3, max_size=3)))
        d = d / np.linalg.norm(d) if np.linalg.norm(d) > 1e-3 else AXIS
        return r * d

    xs = one()
    kind = draw(st.sampled_from(["free", "near", "ray"]))
    if kind == "free":
        ys = one()
    elif kind == "near":
        ys = xs * (1 + 10 ** draw(st.floats(-12, -1))) + np.abs(xs).max() * 10 ** draw(
            st.floats(-15, -2)
        ) * np.array(draw(st.lists(st.floats(-1, 1), min_size=3, max_size=3)))
    else:
        ys = xs * 10 ** draw(st.floats(-5, 0))
    return point(xs, c), point(ys, c), c


# found by the hunt: a common scale lost the nearer point's squares (numba: 2e-3 off), and
# transport formed (|xs| + eta) sqrt(c) and |ys| |v| as products
@given(case=far_or_tiny())
@example(case=(np.array([math.sqrt(2.0), 1.0, 0.0, 0.0]), np.array([1e162, 1e162, 0.0, 0.0]), 1.0))
@example(case=(np.array([math.sqrt(2.0), 1.0, 0.0, 0.0]), np.array([1e155, 1e155, 0.0, 0.0]), 1.0))
def test_hunt_far_and_tiny(case):
    """hypothesis hunting over the whole range on numpy (every implementation)."""
    x, y, c = case
    v, u = tangent(x, c, 1.0, 0.6), tangent(x, c, 2.0, -0.6)
    for op, args in (
        ("dist", (x, y)),
        ("logmap", (x, y)),
        ("dist0", (x,)),
        ("logmap0", (x,)),
        ("exterior_angle", (x, y)),
        ("transport", (x, y, v)),
        ("expmap", (x, u)),
    ):
        if (op == "exterior_angle" and not np.any(x[1:] != y[1:])) or any(a is None for a in args):
            continue
        try:
            check(op, args, c, backends=["numpy"])
        except ValueError as e:  # the reference angle is undefined (x at the origin)
            if "undefined" not in str(e):
                raise


# ---------------------------------------------------------------- beyond the radius


@pytest.mark.parametrize("backend", AVAILABLE)
def test_expmap0_overflows_to_inf_not_nan(backend):
    """Past the radius every component that overflows is +-inf with its sign, the others keep
    their value (a zero stays 0) and x0 is +inf: sinh(t)/t * us used to give inf * 0 = NaN, in
    every dtype."""
    xp = load_backend(backend)
    dtypes = (
        ["float32", "float64"]
        + (["float16"] if backend == "numpy" else [])
        + (["bfloat16"] if backend in ("torch", "jax") else [])
    )
    for dtype in dtypes:
        top = {"float16": 6e4, "bfloat16": 1e30}.get(dtype, 1e30 if dtype == "float32" else 1e300)
        for t in (711.0, 1e4, top):
            u = asarray(xp, np.array([[0.0, t, 0.0, -t * 1e-3]]), dtype)
            given = to_numpy(u).astype(np.float64)[0]
            want = np.array(mpref.expmap0(given, 1.0), dtype=object)
            finfo = np.finfo(np.float32 if dtype in ("float16", "bfloat16") else dtype)
            for impl in IMPLEMENTATIONS:
                try:
                    with np.errstate(over="ignore"):  # numpy warns where the cast overflows
                        got = to_numpy(lorentz.expmap0(u, implementation=impl)).astype(np.float64)
                except ValueError as e:
                    assert "cannot run here" in str(e)
                    continue
                assert not np.isnan(got).any(), (backend, dtype, impl, t, got)
                for g, w in zip(got[0], want):
                    if abs(w) > float(np.finfo(dtype if dtype != "bfloat16" else "float32").max):
                        assert g == math.copysign(math.inf, float(w)), (backend, dtype, impl, t)
                    else:  # e^t errs by t eps relative under one rounding of t
                        tol = (4 * t + 8) * finfo.eps
                        assert abs(g - float(w)) <= tol * abs(float(w)), (g, float(w))


@pytest.mark.parametrize("backend", AVAILABLE)
def test_expmap_overflows_to_inf_not_nan(backend):
    xp = load_backend(backend)
    for base in (1.0, 1e-200, 1e300):
        x = point(base * GENERIC, 1.0)
        for t in (720.0, 1e5, 1e300):
            for radial in (1.0, 0.6, 0.0, -0.6):
                u = tangent(x, 1.0, t, radial)
                if u is None:
                    continue
                got = to_numpy(lorentz.expmap(asarray(xp, x), asarray(xp, u)))
                assert not np.isnan(got).any(), (backend, base, t, radial, got)
                assert got[0] == np.inf


@pytest.mark.parametrize("backend", AVAILABLE)
def test_beyond_the_radius_no_nan_or_zero(backend):
    """c = 4 and |xs| = max / 1.5: sqrt(c)|xs| overflows (beyond the radius, x0 still finite).
    Distances from the origin and the origin maps stay exact (asinh by logs); the others are
    finite, or inf where the value overflows, never NaN or 0."""
    xp = load_backend(backend)
    c = 4.0
    x = point(MAX / 1.5 * AXIS, c)
    y = point(-MAX / 1.5 * AXIS, c)
    z = point(MAX / 1.5 * GENERIC, c)
    for _impl, call in runs("dist0", backend):
        got = run("dist0", backend, call, (x,), c)
        if got is not None:
            assert float(got) == pytest.approx(float(mpref.dist0(x, c)), rel=1e-13)
    for _impl, call in runs("logmap0", backend):
        got = run("logmap0", backend, call, (z,), c)
        if got is not None:
            assert mpref.error(got.tolist(), mpref.logmap0(z, c)) < 1e-13
    X, Y, Z = (asarray(xp, a) for a in (x, y, z))
    v = asarray(xp, np.array([0.0, 0.0, 1.0, 0.0]))
    for name, out in [
        ("dist", lorentz.dist(X, Y, c=c)),
        ("dist near", lorentz.dist(X, Z, c=c)),
        ("logmap", lorentz.logmap(X, Y, c=c)),
        ("transport", lorentz.transport(X, Y, v, c=c)),
        ("exterior_angle", lorentz.exterior_angle(X, Y, c=c)),
        ("to_poincare", lorentz.to_poincare(X, c=c)),
        ("half_aperture", lorentz.half_aperture(X, c=c)),
        ("inner", lorentz.inner(X, Y)),
        ("project", lorentz.project(X, c=c)),
    ]:
        got = to_numpy(out)
        assert not np.isnan(got).any(), (name, got)
        if name.startswith("dist"):
            assert float(got) > 0, name
    p = lorentz.to_poincare(X, c=c)
    assert float(to_numpy(p)[0]) == pytest.approx(0.5, rel=1e-15)


# ---------------------------------------------------------------- gradients, NaN


def _rows(c):
    xs = np.stack(
        [1e300 * GENERIC, 1e155 * AXIS, 1e100 * GENERIC, 1e-300 * OTHER, 1e-160 * GENERIC]
    )
    ys = np.stack(
        [
            0.3e300 * OTHER,
            1e155 * (1 + 1e-9) * AXIS,
            1e100 * GENERIC * (1 + 1e-9),
            2e-300 * GENERIC,
            -1e-160 * OTHER,
        ]
    )
    x = np.stack([point(r, c) for r in xs])
    y = np.stack([point(r, c) for r in ys])
    return x, y


def _mp_grad_dist(x, y, c):
    """d dist / d xs by central differences at DIGITS digits (exact for the rounded inputs)."""
    out = []
    with mp.workdps(DIGITS):
        for j in range(1, x.size):
            h = mp.mpf(float(np.abs(x[1:]).max())) * mp.mpf(10) ** -300
            moved = []
            for sgn in (1, -1):
                xx = [mp.mpf(float(t)) for t in x]
                xx[j] += sgn * h
                cc = mp.mpf(c)
                p = [mp.sqrt(1 / cc + mp.fsum(a * a for a in xx[1:]))] + xx[1:]
                q = [mp.sqrt(1 / cc + mp.fsum(mp.mpf(float(a)) ** 2 for a in y[1:]))] + [
                    mp.mpf(float(a)) for a in y[1:]
                ]
                moved.append(mpref._acosh1p(mpref._cosh_minus_one(p, q, cc)) / mp.sqrt(cc))
            out.append(float((moved[0] - moved[1]) / (2 * h)))
    return np.array(out)


@pytest.mark.parametrize("impl", ["reference", "numba"])
@pytest.mark.parametrize("c", [1.0, 0.37])
def test_dist_gradient_far_and_tiny(impl, c):
    """torch autograd (reference) and the compiled backward pass against mpmath: the closed form
    (b0/a0) a - b cancelled for a radial pair far out (1.5e-9 at |xs| = 1e100, 1e-9 apart)."""
    torch = pytest.importorskip("torch")
    x, y = _rows(c)
    xt = torch.tensor(x, requires_grad=True)
    out = lorentz.dist(xt, torch.tensor(y), c=c, implementation=impl)
    (g,) = torch.autograd.grad(out.sum(), [xt])
    g = g.numpy()
    assert np.all(g[:, 0] == 0)
    for i in range(x.shape[0]):
        want = _mp_grad_dist(x[i], y[i], c)
        assert np.linalg.norm(g[i, 1:] - want) <= 1e-12 * np.linalg.norm(want), (i, g[i], want)


@pytest.mark.parametrize(
    "op",
    [
        "dist",
        "dist0",
        "expmap0",
        "logmap0",
        "exterior_angle",
        "to_poincare",
        "expmap",
        "logmap",
        "transport",
    ],
)
def test_compiled_backward_matches_the_reference(op):
    """Every row far out or tiny: the kernels' own closed forms, or (exterior_angle, expmap,
    logmap) the reference's gradient for the rows they leave to it (those were zero once)."""
    torch = pytest.importorskip("torch")
    c = 0.37
    x, y = _rows(c)
    u = np.concatenate(
        [
            np.zeros((4, 1)),
            np.stack([1e-300 * GENERIC, 3.0 * AXIS, 300 * GENERIC, 705 / math.sqrt(c) * OTHER]),
        ],
        -1,
    )
    if op == "expmap":  # inward steps with representable results (on an axis far out: off
        x = x[[1, 3, 4]]  # the axes the rounding of us's radial part overflows exp, see below)
        y = np.stack([tangent(r, c, 1.0, -0.6) for r in x])
    if op == "transport":  # a tangent vector at x to y (at 1e300 the reference's gradient is not
        x, y = x[1:], y[1:]  # claimed: see test_gradients_finite_where_values_are)
        v = np.stack([tangent(r, c, 1.0, -0.6) for r in x])
    grads = {}
    for impl in ("numba", "reference"):
        args = [torch.tensor(u if op == "expmap0" else x, requires_grad=True)]
        if op in ("dist", "exterior_angle", "expmap", "logmap", "transport"):
            args.append(torch.tensor(y, requires_grad=True))
        if op == "transport":
            args.append(torch.tensor(v, requires_grad=True))
        out = getattr(lorentz, op)(*args, c=c, implementation=impl)
        w = torch.sin(torch.arange(out.numel(), dtype=out.dtype)).reshape(out.shape) + 1.5
        grads[impl] = [g.numpy() for g in torch.autograd.grad((out * w).sum(), args)]
    for g, r in zip(grads["numba"], grads["reference"]):
        assert np.isfinite(g).all() and np.isfinite(r).all()
        diff = np.abs(g - r).max(axis=-1)  # max norms: the 2-norm of e^705 overflows
        assert np.all(diff <= 1e-12 * np.abs(r).max(axis=-1)), (op, diff)


@pytest.mark.parametrize(
    "op",
    [
        "dist",
        "dist0",
        "expmap0",
        "logmap0",
        "expmap",
        "logmap",
        "transport",
        "half_aperture",
        "exterior_angle",
        "to_poincare",
    ],
)
def test_gradients_finite_where_values_are(op):
    torch = pytest.importorskip("torch")
    c = 0.37
    x, y = _rows(c)
    u = np.stack([tangent(r, c, 1.0, -0.6) for r in x])  # inward: exp_x(u) is representable
    args = {
        "dist": (x, y),
        "logmap": (x, y),
        "exterior_angle": (x, y),
        "transport": (x, y, u),
        "expmap": (x, u),
        "expmap0": (
            np.concatenate(
                [np.zeros((5, 1)), u[:, 1:] / np.abs(u[:, 1:]).max(-1, keepdims=True)], -1
            ),
        ),
    }.get(op, (x,))
    jax = pytest.importorskip("jax")
    # the reference (the compiled kernels' gradients: test_compiled_backward_matches_the_reference)
    impl = {"implementation": "reference"} if takes_implementation(getattr(lorentz, op)) else {}
    for backend in ("torch", "jax"):
        if backend == "torch":
            ts = [torch.tensor(a, requires_grad=True) for a in args]
            out = getattr(lorentz, op)(*ts, c=c, **impl)
            grads = [g.numpy() for g in torch.autograd.grad(out.sum(), ts)]
            value = out.detach().numpy()
        else:
            f = lambda *a: getattr(lorentz, op)(*a, c=c).sum()
            ja = [jax.numpy.asarray(a) for a in args]
            grads = [np.asarray(g) for g in jax.grad(f, argnums=tuple(range(len(ja))))(*ja)]
            value = np.asarray(getattr(lorentz, op)(*ja, c=c))
        # a tangent vector far out off the axes carries the rounding of its radial part, eps |us|,
        # across (1e283 at 1e300): its exp may overflow, and for transport at 1e300 the gradient
        # of the reference is not claimed (autograd's intermediate products overflow there)
        rows = np.isfinite(value.reshape(value.shape[0], -1)).all(-1)
        assert rows[[1, 3, 4]].all(), (op, backend, value)  # 1e155 on an axis, 1e-300, 1e-160
        rows[0] = rows[0] and op not in ("transport", "expmap")
        for g in grads:
            assert np.isfinite(g[rows]).all(), (op, backend, g)


@pytest.mark.parametrize("backend", AVAILABLE)
def test_nan_stays_on_its_row_among_far_and_tiny_rows(backend):
    """The rows outside the plain range take a second form selected by where: a NaN in one row
    still reaches exactly that row."""
    xp = load_backend(backend)
    c = 1.0
    x, y = _rows(c)
    dirty = x.copy()
    dirty[1, 2] = np.nan
    for f in (
        lambda a: lorentz.dist(a, asarray(xp, y)),
        lambda a: lorentz.dist0(a),
        lambda a: lorentz.logmap(a, asarray(xp, y)),
        lambda a: lorentz.logmap0(a)[..., 1:],
        lambda a: lorentz.exterior_angle(a, asarray(xp, y)),
        lambda a: lorentz.to_poincare(a),
    ):
        clean = to_numpy(f(asarray(xp, x)))
        got = to_numpy(f(asarray(xp, dirty)))
        assert np.all(np.isnan(got[1])), got[1]
        np.testing.assert_array_equal(np.delete(got, 1, 0), np.delete(clean, 1, 0))


# ---------------------------------------------------------------- issue 13's other cases


# float64 transport between points about 1e4 from the origin on one ray: <y,v>_L written as
# ys.vs - y0 (xs.vs) / x0 cancelled, 3.4e-8 relative where one rounding of the inputs moves the
# answer by 4.5e-16
FAR_RAY = (
    np.array([15170.778155834232, 15043.20108147893, -1963.3160916490895]),
    np.array([7739.687453772641, 7674.6013131333075, -1001.6264605820531]),
    np.array([367622.746218213, 364531.26277297694, -47575.65118170737]),
)


def test_transport_on_a_far_ray():
    check("transport", FAR_RAY, 1.0)


def test_mixed_float16_inputs_take_the_compiled_kernels():
    x = lorentz.from_space(np.array([[0.3, 0.4], [1.5, -2.0]])).astype(np.float16)
    y = lorentz.from_space(np.array([[0.1, -0.2], [0.7, 0.7]])).astype(np.float32)
    for f in (
        lambda impl: lorentz.dist(x, y, implementation=impl),
        lambda impl: lorentz.pairwise_dist(x, y, implementation=impl),
        lambda impl: lorentz.knn(x, y, 1, implementation=impl)[0],
    ):
        got, want = f("numba"), f("reference")
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=4e-6)
        np.testing.assert_array_equal(f(None), got)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_masked_arrays_refused_by_name(impl):
    x = lorentz.from_space(np.array([[0.3, 0.4], [1.5, -2.0]]))
    masked = np.ma.masked_array(x, mask=np.zeros_like(x, dtype=bool))
    calls = {
        "dist": lambda: lorentz.dist(x, masked, implementation=impl),
        "pairwise_dist": lambda: lorentz.pairwise_dist(masked, x, implementation=impl),
        "knn": lambda: lorentz.knn(x, masked, 1, implementation=impl),
        "dist0": lambda: lorentz.dist0(masked, implementation=impl),
        "expmap0": lambda: lorentz.expmap0(masked, implementation=impl),
        "logmap0": lambda: lorentz.logmap0(masked, implementation=impl),
        "expmap": lambda: lorentz.expmap(x, masked),
        "c": lambda: lorentz.dist(x, x, c=np.ma.masked_array(np.float64(1.0))),
    }
    for name, call in calls.items():
        arg = {"dist": "y", "knn": "keys", "expmap": "u", "c": "c"}.get(name, "x")
        arg = {"expmap0": "u", "logmap0": "y", "pairwise_dist": "x"}.get(name, arg)
        with pytest.raises(TypeError, match=rf"^{arg} is a numpy masked array"):
            call()


# ---------------------------------------------------------------- all pairs, projections


def _pair_rows(c):
    xs = [
        point(1e300 * GENERIC, c),
        point(1e155 * AXIS, c),
        point(1e-300 * OTHER, c),
        point(0.3 * GENERIC, c),
    ]
    ys = [
        point(1e300 * GENERIC * (1 + 1e-9), c),
        point(0.7 * OTHER, c),
        point(2e-300 * GENERIC, c),
        point(-1e155 * AXIS, c),
    ]
    return np.stack(xs), np.stack(ys)


@pytest.mark.parametrize("backend", AVAILABLE)
def test_pairwise_dist_to_the_radius(backend):
    """All pairs at matrix-multiply speed, exact far out and next to the origin: the GEMM's u
    overflows (or its bound is NaN) for rows past |xs| = 1e154, and those pairs are recomputed
    by the square-free distance (pairwise_dist gave inf at |xs| = 1e300 on every library's
    reference path; MERU's pairwise distance and inner product followed it)."""
    xp = load_backend(backend)
    c = 0.5
    x, y = _pair_rows(c)
    rows = slice(None) if backend != "jax" else [0, 1, 3]  # XLA flushes the subnormal rows
    x = x[rows]
    want = np.array([[float(mpref.dist(a, b, c)) for b in y] for a in x])
    impls = ["reference", "numba", None] if backend == "numpy" else ["reference", None]
    for impl in impls:
        got = to_numpy(
            lorentz.pairwise_dist(asarray(xp, x), asarray(xp, y), c=c, implementation=impl)
        )
        assert np.all(np.abs(got - want) <= BOUND["float64"] * want), (impl, got, want)
    got = to_numpy(lorentz.meru.pairwise_dist(asarray(xp, x[:, 1:]), asarray(xp, y[:, 1:]), curv=c))
    assert np.all(np.abs(got - want) <= BOUND["float64"] * want), ("meru", got, want)
    inner = to_numpy(
        lorentz.meru.pairwise_inner(asarray(xp, x[:, 1:]), asarray(xp, y[:, 1:]), curv=c)
    )
    with mp.workdps(DIGITS):  # time parts from the space parts, as MERU's functions take them

        def time(a):
            return mp.sqrt(1 / mp.mpf(c) + mp.fsum(mp.mpf(float(t)) ** 2 for t in a[1:]))

        exact = [
            [
                float(
                    mp.fsum(mp.mpf(float(s)) * mp.mpf(float(t)) for s, t in zip(a[1:], b[1:]))
                    - time(a) * time(b)
                )
                for b in y
            ]
            for a in x
        ]
    assert np.allclose(inner, exact, rtol=1e-12, atol=0), (inner, exact)


@pytest.mark.parametrize("backend", AVAILABLE)
def test_project_tangent_far_out(backend):
    """u + c<x,u>_L x at |xs| = 1e200: x0 from the scaled norm (|xs|^2 overflows) and the time
    part from xs / x0 where xs.us overflows; NaN there before."""
    xp = load_backend(backend)
    c = 1.0
    x = point(1e200 * GENERIC, c)
    u = np.array([0.0, 0.3, -0.2, 0.5])
    got = to_numpy(lorentz.project_tangent(asarray(xp, x), asarray(xp, u), c=c))
    assert not np.isnan(got).any(), got
    with mp.workdps(DIGITS):
        xm = [mp.mpf(float(t)) for t in x]
        xu = -xm[0] * 0 + mp.fsum(a * mp.mpf(float(b)) for a, b in zip(xm[1:], u[1:]))
        want = [mp.mpf(float(b)) + c * xu * a for a, b in zip(xm[1:], u[1:])]
    finite = [abs(w) < MAX for w in want]
    for g, w, f in zip(got[1:], want, finite):
        assert (
            (abs(g - float(w)) <= 1e-12 * abs(float(w))) if f else g == math.copysign(math.inf, w)
        )


def test_meru_loss_refuses_a_curvature_whose_reciprocal_overflows():
    """curv = 1e-310 (subnormal): 1/curv overflows, so every point's x0 would be inf; refused
    under MERU's name (it failed later, naming the library's c)."""
    image = np.array([[0.1, 0.2], [0.3, -0.1]])
    for curv in (1e-310, np.float64(1e-310), np.array([1e-310])):
        with pytest.raises(ValueError, match="curv"):
            lorentz.meru.meru_loss(image, image, curv=curv, logit_scale=10.0)


@pytest.mark.parametrize("backend", AVAILABLE)
def test_knn_to_the_radius(backend):
    """knn ranks by u = cosh(sqrt(c) d) - 1, which overflows for pairs far out: the numba
    kernel's u -> d gave inf for u past 1e154, and the reference ranked every key at u = inf
    alike (the three farthest for the nearest). Blocks whose u may overflow rank by d."""
    xp = load_backend(backend)
    c = 0.5
    q = np.stack([point(1e300 * GENERIC, c), point(0.3 * OTHER, c)])
    keys = np.stack(
        [
            point(0.2 * GENERIC, c),
            point(1e300 * GENERIC * (1 + 1e-12), c),
            point(-0.4 * AXIS, c),
            point(1.5e300 * GENERIC, c),
            point(-1e300 * GENERIC, c),
        ]
    )
    want = np.array([[float(mpref.dist(a, b, c)) for b in keys] for a in q])
    order = np.argsort(want, axis=1, kind="stable")[:, :3]
    impls = ["reference", "numba", None] if backend == "numpy" else ["reference", None]
    for impl in impls:
        d, i = lorentz.knn(asarray(xp, q), asarray(xp, keys), 3, c=c, implementation=impl)
        np.testing.assert_array_equal(to_numpy(i), order, err_msg=str(impl))
        got = to_numpy(d)
        assert np.all(np.abs(got - np.take_along_axis(want, order, 1)) <= BOUND["float64"] * got), (
            impl
        )


@pytest.mark.parametrize("impl", ["reference", "numba"])
def test_float32_distances_past_89(impl):
    """float32 results of the all-pairs GEMM path: 1 + w overflowed float32 once d > 89 (points
    at |xs| = 1e20), giving inf where the distance is about 93."""
    c = 1.0
    gen = np.random.default_rng(5)
    x = np.stack([point(r, c) for r in 1e20 * gen.normal(size=(2, 3))]).astype(np.float32)
    y = np.stack([point(r, c) for r in 1e20 * gen.normal(size=(3, 3))]).astype(np.float32)
    got = np.asarray(lorentz.pairwise_dist(x, y, c=c, implementation=impl))
    want = np.array(
        [[float(mpref.dist(a.astype(np.float64), b.astype(np.float64), c)) for b in y] for a in x]
    )
    assert np.all(np.abs(got - want) <= BOUND["float32"] * want), (got, want)
