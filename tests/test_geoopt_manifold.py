"""The properties geoopt's own test suite checks, on lorentz.geoopt.Lorentz at c = 1/k.

Written afresh from the list of properties in geoopt/geoopt at
07598cdbf8751770c4dcd78d509cd678a67ce85b: tests/test_lorentz_math.py (points and tangent
vectors, the origin, random_normal's mean, expmap/logmap and expmap0/logmap0 inverses, the
unit-speed geodesic, transport from the origin preserving inner products, transport there and
back, zero-point operations, transport between two points preserving inner products; k from 1
to 10, float32 and float64) and tests/test_manifold_basic.py (projection identity, projections
landing on the manifold and the tangent space, broadcasting of projx / proju / retr /
transp_follow_retr, reversibility of retr_transp, logmap inverting expmap and logmap(x, x) = 0,
dist equal to the norm of the tangent vector). Points are drawn as geoopt draws them: a random
direction scaled to a norm sqrt(U k), U uniform on [0, 1). geoopt's tolerances are kept for
float32; float64 is held to ~1e-12 (geoopt asks for numpy's default 1e-7).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("geoopt")  # installed by the test extra

from lorentz.geoopt import Lorentz

KS = [1, 2, 5, 10]  # geoopt's k (its c is 1/k); non-square k exercise the exact c
DTYPES = [torch.float64, torch.float32]
TOL = {torch.float64: {"rtol": 1e-12, "atol": 1e-12}, torch.float32: {"rtol": 1e-5, "atol": 1e-5}}


@pytest.fixture(params=KS, ids=lambda k: f"k={k}")
def k(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=lambda d: str(d)[6:])
def dtype(request):
    return request.param


@pytest.fixture
def man(k):
    return Lorentz(c=1 / k)


def _gen(k, dtype, salt):
    return torch.Generator().manual_seed(1000 * k + 10 * salt + (dtype == torch.float32))


def _point_batch(man, k, dtype, salt, n=100, dim=10):
    """geoopt's fixture: a random direction in the space part, of norm sqrt(U k)."""
    g = _gen(k, dtype, salt)
    s = torch.randn(n, dim - 1, generator=g, dtype=torch.float64)
    s = (
        s
        / s.norm(dim=-1, keepdim=True)
        * (torch.rand(n, 1, generator=g, dtype=torch.float64) * k) ** 0.5
    )
    a = torch.cat([torch.zeros(n, 1, dtype=torch.float64), s], dim=-1)
    return man.projx(a.to(dtype))


@pytest.fixture
def a(man, k, dtype):
    return _point_batch(man, k, dtype, 1)


@pytest.fixture
def b(man, k, dtype):
    return _point_batch(man, k, dtype, 2)


def _zero(a, k):
    z = torch.zeros_like(a)
    z[..., 0] = k**0.5
    return z


def _close(got, want, dtype, **kw):
    torch.testing.assert_close(got, want, **{**TOL[dtype], **kw})


# -- tests/test_lorentz_math.py ------------------------------------------------------------------
def test_points_and_tangent_vectors(man, a, b):
    ok, reason = man._check_point_on_manifold(man.projx(a))
    assert ok, reason
    ok, reason = man._check_vector_on_tangent(a, man.proju(a, b))
    assert ok, reason


def test_origin(man, k, dtype):
    o = man.origin(10, 10, dtype=dtype)
    _close(o, man.projx(torch.zeros(10, 10, dtype=dtype)), dtype, rtol=0, atol=0)
    assert float(o[0, 0]) == pytest.approx(k**0.5, rel=torch.finfo(dtype).eps)
    assert man.origin(3, 4).dtype == man.k.dtype  # geoopt's default: the dtype of k


def test_random_normal_mean(man):
    torch.manual_seed(0)
    a = man.random_normal((10, 500), mean=0).data
    mean = man.logmap0(a).mean(dim=-1)
    torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-1, rtol=1e-1)


def test_expmap_logmap(man, a, b, dtype):
    _close(man.expmap(a, man.logmap(a, b), project=False), b, dtype)


def test_geodesic_unit_speed(man, a, b, dtype):
    u = man.proju(a, b)
    u = u / man.norm(u, keepdim=True)
    t = torch.linspace(0, 1, 13, dtype=dtype).view(13, 1, 1)
    gamma = man.geodesic_unit(t, a, u)
    travelled = man.dist(gamma[:1], gamma, keepdim=True)
    _close(
        travelled[1:],
        t.expand_as(travelled)[1:],
        dtype,
        **({"atol": 1e-4, "rtol": 1e-5} if dtype == torch.float32 else {}),
    )


def test_expmap0_logmap0(man, a, dtype):
    v = man.logmap0(a)
    _close(man.expmap0(v), a, dtype)
    _close(man.norm(v, keepdim=True), man.dist0(a, keepdim=True), dtype)


def _rand_like(a, salt):
    g = torch.Generator().manual_seed(salt)
    return torch.rand(a.shape, generator=g, dtype=a.dtype) + 1e-5


def test_transp0_preserves_inner_products(man, a, k, dtype):
    zero = _zero(a, k)
    v0, u0 = man.proju(zero, _rand_like(a, 1)), man.proju(zero, _rand_like(a, 2))
    va, ua = man.transp0(a, v0), man.transp0(a, u0)
    # the inner products themselves, at the two base points
    _close(man.inner(a, va, ua), man.inner(zero, v0, u0), dtype)
    # geoopt's own call inner(v, u): x ignored, <u,u>_L
    _close(man.inner(va, ua, keepdim=True), man.inner(v0, u0, keepdim=True), dtype)


def test_transp0_there_and_back(man, a, b, k, dtype):
    zero = _zero(a, k)
    v = man.proju(a, _rand_like(a, 3))
    via_helpers = man.transp0(b, man.transp0back(a, v))
    via_transp = man.transp(zero, b, man.transp(a, zero, v))
    _close(via_helpers, via_transp, dtype)
    _close(man.transp0back(b, man.transp0(b, man.transp0back(a, v))), man.transp0back(a, v), dtype)


def test_transp0_is_transp_from_the_origin(man, a, k, dtype):
    v = _rand_like(a, 4)  # not tangent: both project it onto T_o first
    _close(man.transp0(a, v), man.transp(_zero(a, k), a, v), dtype)


def test_zero_point_ops(man, a, k, dtype):
    zero = _zero(a, k)
    _close(man.inner0(a), man.inner(None, a, zero), dtype)
    _close(man.logmap0back(a), man.logmap(a, zero), dtype)


def test_transp_preserves_inner_products(man, a, b, dtype):
    v0, u0 = man.proju(a, _rand_like(a, 5)), man.proju(a, _rand_like(a, 6))
    v1, u1 = man.transp(a, b, v0), man.transp(a, b, u0)
    _close(man.inner(b, v1, u1), man.inner(a, v0, u0), dtype)
    _close(man.inner(v1, u1, keepdim=True), man.inner(v0, u0, keepdim=True), dtype)


# -- tests/test_manifold_basic.py ----------------------------------------------------------------
@pytest.fixture
def case(man, k, dtype):
    """One point x, its off-manifold version ex (time part perturbed), a tangent vector v and
    a non-tangent ev whose projection is v (v plus a multiple of x)."""
    g = _gen(k, dtype, 7)
    s = torch.randn(3, generator=g, dtype=torch.float64)
    x = man.projx(torch.cat([torch.zeros(1, dtype=torch.float64), s]).to(dtype))
    ex = x.clone()
    ex[0] = ex[0] + 0.5
    v = man.proju(x, torch.randn(4, generator=g, dtype=torch.float64).to(dtype))
    ev = v + 0.7 * x
    return x, ex, v, ev


def test_projection_identity(man, case, dtype):
    x, ex, _, _ = case
    _close(man.projx(x), x, dtype, rtol=0, atol=1e-6)
    px = man.projx(ex)
    man.assert_check_point_on_manifold(px)
    _close(px, x, dtype, rtol=0, atol=1e-6)


def test_vector_projection(man, case, dtype):
    x, _, v, ev = case
    pv = man.proju(x, ev)
    man.assert_check_vector_on_tangent(x, pv)
    _close(pv, v, dtype, rtol=0, atol=1e-6 if dtype == torch.float64 else 1e-5)


def test_broadcast_projx_proju_retr_transp(man, case, dtype):
    x, ex, v, _ = case
    ex4 = torch.stack([ex] * 4)
    px4 = man.projx(ex4)
    man.assert_check_point_on_manifold(px4)
    for row in px4:
        _close(row, man.projx(ex), dtype, rtol=0, atol=0)
    x4, v4 = torch.stack([x] * 4), torch.stack([v] * 4)
    pu4 = man.proju(x4, v4)
    man.assert_check_vector_on_tangent(x4, pu4)
    for px, pu in zip(x4, pu4):
        _close(pu, man.proju(px, v), dtype, rtol=0, atol=0)
    y4 = man.retr(x4, pu4)
    man.assert_check_point_on_manifold(y4)
    for pu, y in zip(pu4, y4):
        _close(y, man.retr(x, pu), dtype, rtol=0, atol=0)
    g = _gen(1, dtype, 8)
    w4 = man.proju(x4, torch.randn(4, 4, generator=g, dtype=torch.float64).to(dtype))
    q4 = man.transp_follow_retr(x4, pu4, w4)
    man.assert_check_vector_on_tangent(y4, q4)
    for pu, w, q in zip(pu4, w4, q4):
        _close(q, man.transp_follow_retr(x, pu, w), dtype, rtol=0, atol=0)


def test_reversibility(man, case, dtype):
    x, _, _, _ = case
    x4 = torch.stack([x] * 4)
    g = _gen(2, dtype, 9)
    u = man.proju(x4, (torch.randn(4, 4, generator=g, dtype=torch.float64) / 3).to(dtype))
    z, q = man.retr_transp(x4, u, u)
    x1, u1 = man.retr_transp(z, -q, q)
    _close(x1, x4, dtype)
    _close(u1, u, dtype)


def test_logmap(man, case, dtype):
    x, _, _, _ = case
    x4 = torch.stack([x] * 4)
    g = _gen(3, dtype, 10)
    u = man.proju(x4, torch.randn(4, generator=g, dtype=torch.float64).to(dtype))  # (4,) on (4, 4)
    y = man.expmap(x4, u)
    _close(man.expmap(x4, man.logmap(x4, y)), y, dtype)
    _close(man.logmap(x4, x4), torch.zeros_like(x4), dtype, rtol=0, atol=0)


def test_dist_is_the_norm_of_the_step(man, case, dtype):
    x, _, v, _ = case
    # geoopt's generic test calls norm(x, v); this manifold keeps geoopt-Lorentz's norm(u)
    _close(man.dist(x, man.expmap(x, v)), man.norm(v), dtype)
