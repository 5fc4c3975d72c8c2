"""lorentz.geoopt.Lorentz: geoopt's optimisers on this library's maths."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
geoopt = pytest.importorskip("geoopt")  # installed by the test extra; CI never skips

import lorentz  # noqa: E402
from lorentz.geoopt import Lorentz  # noqa: E402

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
        opt = (geoopt.optim.RiemannianAdam([p], lr=0.1) if optim == "adam"
               else geoopt.optim.RiemannianSGD([p], lr=0.05))
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
    lorentz.check_point(final["ours"], atol=1e-12)
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
    lorentz.check_point(p.detach(), atol=1e-5)


def test_far_out_tangent_vectors_keep_their_norm_through_inner_proju_and_expmap():
    """At x0 ~ 8e8 a tangent vector of norm 0.5 has components ~ 4e8: the ambient inner product
    cancels to 0 (what RiemannianAdam's second moment would be built from), and the orthogonal
    projection turns one ulp of u0 into a step of 15.9. Found as a 2-D WordNet run gone NaN."""
    m = Lorentz(1.0)
    origin = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    x = lorentz.expmap0(torch.tensor([0.0, 20.0, -7.0], dtype=torch.float64))
    u = lorentz.transport(origin, x, torch.tensor([0.0, 0.3, 0.4], dtype=torch.float64))
    assert float(lorentz.inner(u, u)) == 0.0  # the ambient form: every digit lost
    # representing u in float64 moves its norm by ~ eps x0 (1.7e-8 measured)
    assert float(m.inner(x, u)) == pytest.approx(0.25, rel=1e-7)
    bumped = u.clone()
    bumped[0] = torch.nextafter(u[0], torch.tensor(float("inf"), dtype=torch.float64))
    assert float(lorentz.dist(x, m.expmap(x, bumped))) == pytest.approx(0.5, rel=1e-7)
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
    pairs = [(list(map(mpmath.mpf, a[1:].tolist())), list(map(mpmath.mpf, b[1:].tolist())))
             for a, b in zip(x, y)]

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
    torch.testing.assert_close(got, lorentz.transport(x, y, m.proju(x, v), c=0.7), rtol=1e-12, atol=1e-12)
    assert not torch.allclose(got, lorentz.transport(x, y, v, c=0.7), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(lorentz.inner(got, y), torch.zeros(len(y), dtype=torch.float64), rtol=0, atol=1e-10)
