"""lorentz.geoopt.Lorentz: geoopt's optimisers on this library's maths."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
geoopt = pytest.importorskip("geoopt")  # installed by the test extra; CI never skips

import lorentz
from lorentz.geoopt import Lorentz

gen = torch.Generator().manual_seed(0)


def _points(m, n=6, dim=3, scale=0.8, dtype=torch.float64):
    u = torch.zeros(n, dim + 1, dtype=dtype)
    u[:, 1:] = scale * torch.randn(n, dim, generator=gen, dtype=dtype)
    return m.expmap0(u)


# geoopt keeps k = 1/c in float32 and takes sqrt(k) there: at c = 0.5 its distances are off by
# 1.7e-8 (measured against mpmath); k = 1, 4 and 1/4 keep it exact
@pytest.mark.parametrize("c", [1.0, 0.25, 4.0])
def test_agrees_with_geoopt_where_geoopt_is_accurate(c):
    ours, theirs = Lorentz(c), geoopt.Lorentz(k=1 / c)
    x, y = _points(ours), _points(ours)
    v = ours.proju(x, torch.randn(x.shape, generator=gen, dtype=torch.float64))
    g = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    close = dict(rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(ours.dist(x, y), theirs.dist(x, y), **close)
    torch.testing.assert_close(ours.expmap(x, v), theirs.expmap(x, v), **close)
    torch.testing.assert_close(ours.logmap(x, y), theirs.logmap(x, y), **close)
    torch.testing.assert_close(ours.transp(x, y, v), theirs.transp(x, y, v), **close)
    torch.testing.assert_close(ours.proju(x, g), theirs.proju(x, g), **close)
    torch.testing.assert_close(ours.egrad2rgrad(x, g), theirs.egrad2rgrad(x, g.clone()), **close)


def test_egrad2rgrad_leaves_the_gradient_alone():
    m = Lorentz(1.0)
    x = _points(m)
    g = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    before = g.clone()
    m.egrad2rgrad(x, g)
    assert torch.equal(g, before)
    geoopt.Lorentz().egrad2rgrad(x, g)  # geoopt's own flips the time sign in place
    assert not torch.equal(g, before)


@pytest.mark.parametrize("optim", ["adam", "sgd"])
def test_optimisers_match_geoopt_in_float64(optim):
    """The same problem on both manifolds: the iterates agree step by step. (SGD without
    momentum: geoopt's SGD starts its momentum buffer from the Euclidean gradient, which our
    transp projects onto the tangent space first and geoopt's transports as it is.)"""
    targets = _points(Lorentz(1.0), n=5)
    start = _points(Lorentz(1.0), n=5)
    results, losses = [], []
    for manifold in (Lorentz(1.0), geoopt.Lorentz()):
        p = geoopt.ManifoldParameter(start.clone(), manifold=manifold)
        opt = (
            geoopt.optim.RiemannianAdam([p], lr=0.1)
            if optim == "adam"
            else geoopt.optim.RiemannianSGD([p], lr=0.05)
        )
        for _ in range(25):
            opt.zero_grad()
            loss = (manifold.dist(p, targets) ** 2).sum()
            loss.backward()
            losses.append(float(loss.detach()))
            opt.step()
        results.append(p.detach().clone())
    torch.testing.assert_close(results[0], results[1], rtol=1e-8, atol=1e-10)
    assert losses[24] < 0.5 * losses[0]  # it did descend


def test_sgd_with_momentum_converges_where_geoopt_diverges():
    targets = _points(Lorentz(1.0), n=5)
    start = _points(Lorentz(1.0), n=5)
    final = {}
    for name, manifold in (("ours", Lorentz(1.0)), ("geoopt", geoopt.Lorentz())):
        p = geoopt.ManifoldParameter(start.clone(), manifold=manifold)
        opt = geoopt.optim.RiemannianSGD([p], lr=0.1, momentum=0.9)
        for _ in range(40):
            opt.zero_grad()
            (manifold.dist(p, targets) ** 2).sum().backward()
            opt.step()
        final[name] = p.detach()
    before = float((lorentz.dist(start, targets) ** 2).sum())
    assert float((lorentz.dist(final["ours"], targets) ** 2).sum()) < 0.25 * before
    lorentz.check_point(final["ours"], rtol=1e-12)
    assert not torch.isfinite(final["geoopt"]).all()  # measured: NaN from step 5 on


def test_finite_and_on_the_manifold_where_geoopt_is_not():
    """float32, points 9 from the origin, a target 1e-3 away: geoopt's distance is wrong
    (the textbook acosh); ours is exact, and optimising from x == y stays finite and on the
    hyperboloid."""
    ours = Lorentz(1.0)
    far = torch.zeros(1, 3)
    far[0, 1] = 9.0
    x = ours.expmap0(far)
    step = ours.proju(x, torch.tensor([[0.0, 0.0, 1e-3]]))
    y = ours.expmap(x, step)
    exact = float(lorentz.dist(x.double(), y.double()))
    assert abs(float(ours.dist(x, y)) - exact) <= 2e-6 * exact
    assert abs(float(geoopt.Lorentz().dist(x, y)) - exact) > 0.1 * exact
    p = geoopt.ManifoldParameter(x.clone(), manifold=ours)
    opt = geoopt.optim.RiemannianAdam([p], lr=1e-3)
    for _ in range(10):
        opt.zero_grad()
        ours.dist(p, x).sum().backward()
        assert torch.isfinite(p.grad).all()
        opt.step()
    lorentz.check_point(p.detach(), rtol=1e-5)


def test_far_out_tangent_vectors_keep_their_norm_through_inner_proju_and_expmap():
    """At x0 ~ 8e8 a tangent vector of norm 0.5 has components ~ 4e8: the ambient inner product
    cancels to 0 (what RiemannianAdam's second moment would be built from), and the orthogonal
    projection turns one ulp of u0 into a step of 15.9. Found as a 2-D WordNet run gone NaN."""
    m = Lorentz(1.0)
    origin = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    x = lorentz.expmap0(torch.tensor([0.0, 20.0, -7.0], dtype=torch.float64))
    u = lorentz.transport(origin, x, torch.tensor([0.0, 0.3, 0.4], dtype=torch.float64))
    assert float(lorentz.inner(u, u)) == 0.0  # the ambient form: every digit lost
    # representing x and u in float64 moves u's norm by ~ eps x0 = 1.8e-7 relative here (1.7e-8
    # and 2.5e-8 measured, depending on how x's last bit was rounded), and a step along it by
    # as much (1.3e-7 measured): the bound is the conditioning, the orthogonal projection's
    # error below is 8 orders above it
    budget = 2 * torch.finfo(torch.float64).eps * float(x[0])
    assert float(m.inner(x, u)) == pytest.approx(0.25, rel=budget)
    bumped = u.clone()
    bumped[0] = torch.nextafter(u[0], torch.tensor(float("inf"), dtype=torch.float64))
    assert float(lorentz.dist(x, m.expmap(x, bumped))) == pytest.approx(0.5, rel=budget)
    orthogonal = lorentz.expmap(x, lorentz.project_tangent(x, bumped))
    assert float(lorentz.dist(x, orthogonal)) > 10  # what the orthogonal projection does
    # a vector that is not tangent at all is still projected orthogonally
    v = torch.tensor([3.0, 1.0, 2.0], dtype=torch.float64)
    assert torch.equal(m.proju(x, v), lorentz.project_tangent(x, v))


def test_learnable_curvature_gradient_and_step_match_the_closed_form():
    """A learnable c (stored as geoopt's k = 1/c) through a geoopt optimiser step: the gradient
    of a sum of distances with respect to k, and the step, against the closed form
    d(k) = acosh(1 + u) sqrt(k), u = (x0 y0 - xs.ys) / k - 1, x0 = sqrt(k + |xs|^2),
    differentiated by mpmath."""
    import mpmath

    mpmath.mp.dps = 30
    m = Lorentz(0.5, learnable=True)
    x, y = _points(Lorentz(0.5), n=4), _points(Lorentz(0.5), n=4)
    lr = 0.01
    opt = geoopt.optim.RiemannianSGD([m.k], lr=lr)
    loss = m.dist(x, y).sum()
    loss.backward()
    k0 = float(m.k.detach())
    pairs = [
        (list(map(mpmath.mpf, a[1:].tolist())), list(map(mpmath.mpf, b[1:].tolist())))
        for a, b in zip(x, y)
    ]

    def total(k):
        out = 0
        for xs, ys in pairs:
            x0 = mpmath.sqrt(k + sum(v * v for v in xs))
            y0 = mpmath.sqrt(k + sum(v * v for v in ys))
            u = (x0 * y0 - sum(a * b for a, b in zip(xs, ys))) / k - 1
            out += mpmath.acosh(1 + u) * mpmath.sqrt(k)
        return out

    want = float(mpmath.diff(total, mpmath.mpf(k0)))
    # geoopt keeps k in float32: its gradient and step are float32 values
    assert float(m.k.grad) == pytest.approx(want, rel=1e-6)
    opt.step()
    assert float(m.k.detach()) == pytest.approx(k0 - lr * want, rel=1e-7)


def test_transp_projects_onto_the_tangent_space_first():
    m = Lorentz(0.7)
    x, y = _points(m), _points(m)
    v = torch.randn(x.shape, generator=gen, dtype=torch.float64)  # not tangent at x
    got = m.transp(x, y, v)
    torch.testing.assert_close(
        got, lorentz.transport(x, y, m.proju(x, v), c=0.7), rtol=1e-12, atol=1e-12
    )
    assert not torch.allclose(got, lorentz.transport(x, y, v, c=0.7), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        lorentz.inner(got, y), torch.zeros(len(y), dtype=torch.float64), rtol=0, atol=1e-10
    )


# -- geoopt's conventions, the zero-point operations and cdist -------------------------------------
def _mp(t):
    import mpmath

    return [mpmath.mpf(v) for v in t.tolist()]


def _minkowski(a, b):
    import mpmath

    return -a[0] * b[0] + mpmath.fsum(x * y for x, y in zip(a[1:], b[1:]))


@pytest.mark.parametrize("c", [1.0, 0.3, 4.0])
def test_inner_follows_geoopt_where_x_is_none_or_not_a_base_point(c):
    """geoopt's inner ignores x: public code calls inner(None, u, v), geoopt's own tests
    inner(v, u) (meaning <u,u>_L), and inner(x, x) of a point is -1/c. Values against the
    ambient form in mpmath; tangent vectors at x keep the cancellation-free formula."""
    import mpmath

    mpmath.mp.dps = 40
    m = Lorentz(c)
    x = _points(m, n=3)
    u = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    want = torch.tensor(
        [float(_minkowski(_mp(a), _mp(b))) for a, b in zip(u, v)], dtype=torch.float64
    )
    torch.testing.assert_close(m.inner(None, u, v), want, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(m.inner(None, u), m.inner(None, u, u), rtol=0, atol=0)
    torch.testing.assert_close(m.inner(x, u, v), want, rtol=1e-14, atol=1e-15)  # not tangent at x
    # a point's ambient form is -1/c up to the rounding of its terms, eps (x0^2 + |xs|^2)
    terms = (x * x).sum(-1)
    assert bool(((m.inner(x, x) + 1 / c).abs() <= 4 * torch.finfo(torch.float64).eps * terms).all())
    torch.testing.assert_close(m.inner(v, u), m.inner(None, u), rtol=0, atol=0)  # v is no point
    assert m.inner(None, u, v, keepdim=True).shape == (3, 1)
    # geoopt's own values where its float32 k is exact (k = 1/c = 1, 0.25)
    if c in (1.0, 4.0):
        theirs = geoopt.Lorentz(k=1 / c)
        torch.testing.assert_close(
            m.inner(None, u, v), theirs.inner(None, u, v), rtol=1e-14, atol=1e-15
        )
        torch.testing.assert_close(
            m.inner(x, x),
            theirs.inner(x, x),
            rtol=0,
            atol=4 * torch.finfo(torch.float64).eps * float(terms.max()),
        )
    # tangent vectors at x: the same number, from the space parts
    tu, tv = m.proju(x, u), m.proju(x, v)
    exact = []
    for a, p, q in zip(x, tu, tv):
        xs, ps, qs = _mp(a[1:]), _mp(p[1:]), _mp(q[1:])
        x0 = mpmath.sqrt(1 / mpmath.mpf(c) + mpmath.fsum(t * t for t in xs))
        p0 = mpmath.fsum(s * t for s, t in zip(xs, ps)) / x0
        q0 = mpmath.fsum(s * t for s, t in zip(xs, qs)) / x0
        exact.append(float(_minkowski([p0, *ps], [q0, *qs])))
    torch.testing.assert_close(
        m.inner(x, tu, tv), torch.tensor(exact, dtype=torch.float64), rtol=1e-13, atol=1e-15
    )


@pytest.mark.parametrize("c", [1.0, 0.25, 4.0])
def test_zero_point_operations_are_exact_far_out(c):
    """transp0, transp0back and logmap0back at distance 15 from the origin (float64), against
    mpmath: parallel transport v + <y,v>_L / (1/c - <x,y>_L) (x + y) and the logarithmic map
    d w / |w|_L, w = y + c<x,y>_L x, on the inputs as stored (time parts re-derived from the
    space parts, the library's convention). geoopt's own formulas are off by 1e-4 to 1e3."""
    import mpmath

    mpmath.mp.dps = 60
    cm = mpmath.mpf(c)
    m, theirs = Lorentz(c), geoopt.Lorentz(k=torch.tensor(1 / c, dtype=torch.float64))
    d = torch.randn(3, generator=gen, dtype=torch.float64)
    v = torch.zeros(4, dtype=torch.float64)
    v[1:] = 15 * d / d.norm() / c**0.5
    y = m.expmap0(v)
    assert float(m.dist0(y)) == pytest.approx(15 / c**0.5, rel=1e-14)
    o = m.origin(4, dtype=torch.float64)

    def point(xs):
        xs = _mp(xs)
        return [mpmath.sqrt(1 / cm + mpmath.fsum(t * t for t in xs)), *xs]

    def tangent(x, vs):
        vs = _mp(vs)
        return [mpmath.fsum(a * b for a, b in zip(x[1:], vs)) / x[0], *vs]

    def transport(x, z, w):
        f = _minkowski(z, w) / (1 / cm - _minkowski(x, z))
        return [wi + f * (xi + zi) for wi, xi, zi in zip(w, x, z)]

    def err(got, want):
        return float(max(abs(mpmath.mpf(g) - w) for g, w in zip(got.tolist(), want)))

    Y, Origin = point(y[1:]), point(o[1:])
    u0 = m.proju(o, torch.randn(4, generator=gen, dtype=torch.float64))
    want = transport(Origin, Y, tangent(Origin, u0[1:]))
    scale = float(max(abs(w) for w in want))
    eps = torch.finfo(torch.float64).eps
    assert err(m.transp0(y, u0), want) <= 8 * eps * scale
    assert err(theirs.transp0(y, u0), want) > 1e-5 * scale  # measured 1.7e-4 to 5.6e-4
    uy = m.proju(y, torch.randn(4, generator=gen, dtype=torch.float64))
    want = transport(Y, Origin, tangent(Y, uy[1:]))
    # the input's components are ~ sinh(15) = 1.6e6: its rounding alone moves the result by
    # eps |uy|, the bound
    assert err(m.transp0back(y, uy), want) <= 8 * eps * float(uy.abs().max())
    assert err(theirs.transp0back(y, uy), want) > 1.0  # measured 9e2 to 2.5e3
    cxy = cm * _minkowski(Y, Origin)
    w = [oi + cxy * yi for yi, oi in zip(Y, Origin)]
    n = mpmath.sqrt(_minkowski(w, w))
    want = [mpmath.acosh(-cxy) / mpmath.sqrt(cm) * wi / n for wi in w]
    scale = float(max(abs(t) for t in want))
    assert err(m.logmap0back(y), want) <= 8 * eps * scale
    assert err(theirs.logmap0back(y), want) > 1e-5 * scale  # measured 1.7e-4 to 5.6e-4


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cdist_is_exact_and_never_negative(dtype):
    """All pairs, far and near (1e-4 apart at distance 6), against mpmath's acosh of the
    exact inner product of the stored points."""
    import mpmath

    mpmath.mp.dps = 50
    c = 0.5
    m = Lorentz(c)
    x = _points(m, n=5, scale=2.0)
    near = m.expmap(x, m.proju(x, 1e-4 * torch.randn(x.shape, generator=gen, dtype=torch.float64)))
    y = torch.cat([near, _points(m, n=3, scale=2.0)])
    x, y = x.to(dtype), y.to(dtype)
    got = m.cdist(x, y)
    assert got.shape == (5, 8) and got.dtype == dtype and bool((got >= 0).all())
    cm = mpmath.mpf(c)

    def point(a):
        xs = _mp(a[1:].double())
        return [mpmath.sqrt(1 / cm + mpmath.fsum(t * t for t in xs)), *xs]

    want = torch.tensor(
        [
            [float(mpmath.acosh(-cm * _minkowski(point(a), point(b))) / mpmath.sqrt(cm)) for b in y]
            for a in x
        ],
        dtype=torch.float64,
    )
    tol = 1e-13 if dtype == torch.float64 else 4e-7
    torch.testing.assert_close(got.double(), want, rtol=tol, atol=0)
    torch.testing.assert_close(m.cdist(x[None], y[None])[0], got, rtol=0, atol=0)  # batched


@pytest.mark.parametrize("x_shape,u_shape", [((4, 5), (5,)), ((4, 5), (1, 5)), ((4, 1, 5), (3, 5))])
def test_arguments_broadcast(x_shape, u_shape):
    """proju and everything built on it take a point and a vector that broadcast, as geoopt's
    do: each result equals the one from the arguments broadcast by hand."""
    m = Lorentz(0.8)
    n = x_shape[-1]
    x = m.expmap0(
        torch.cat(
            [
                torch.zeros(*x_shape[:-1], 1, dtype=torch.float64),
                0.7 * torch.randn(*x_shape[:-1], n - 1, generator=gen, dtype=torch.float64),
            ],
            -1,
        )
    )
    u = 0.3 * torch.randn(u_shape, generator=gen, dtype=torch.float64)
    v = 0.3 * torch.randn(u_shape, generator=gen, dtype=torch.float64)
    X, U, V = torch.broadcast_tensors(x, u, v)
    X, U, V = X.contiguous(), U.contiguous(), V.contiguous()
    same = {"rtol": 0, "atol": 0}
    torch.testing.assert_close(m.proju(x, u), m.proju(X, U), **same)
    torch.testing.assert_close(m.expmap(x, u), m.expmap(X, U), **same)
    torch.testing.assert_close(m.retr(x, u), m.retr(X, U), **same)
    y = m.expmap(X, m.proju(X, U))
    torch.testing.assert_close(m.transp(x, y, v), m.transp(X, y, V), **same)
    torch.testing.assert_close(
        m.transp_follow_expmap(x, u, v), m.transp_follow_expmap(X, U, V), **same
    )
    torch.testing.assert_close(m.transp_follow_retr(x, u, v), m.transp_follow_retr(X, U, V), **same)
    for a, b in zip(m.retr_transp(x, u, v), m.retr_transp(X, U, V)):
        torch.testing.assert_close(a, b, **same)
    torch.testing.assert_close(m.egrad2rgrad(x, u), m.egrad2rgrad(X, U), **same)
    torch.testing.assert_close(m.inner(x, u, v), m.inner(X, U, V), **same)
