"""Identities of the geometry, on every backend, from inputs built by construction (float64).

Tolerances are relative, with the measured reason beside each: composing two maps
multiplies the conditioning of each.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import lorentz
from lorentz.testing import curvatures, point_pairs, points, tangent_vectors, to_numpy
from lorentz.testing._backends import asarray

# Inputs of moderate size: space norms <= 100 and tangent norms <= 5 keep cosh/sinh of the
# composed maps below ~1e4, so one rounding of an intermediate point moves results by at
# most ~1e-12 relative; 1e-9 leaves a margin of 1000.
RTOL = 1e-9
small_points = dict(dtype="float64", max_norm=100.0)


def close(a, b, rtol=RTOL, scale=None):
    a, b = to_numpy(a), to_numpy(b)
    s = max(np.max(np.abs(b)), 1.0) if scale is None else scale
    assert np.max(np.abs(a - b)) <= rtol * s, (a, b)


@st.composite
def point_and_tangent(draw, max_tangent=5.0):
    c = draw(curvatures())
    x = draw(points(c=c, **small_points))
    u = draw(tangent_vectors(x, c=c, dtype="float64", max_norm=max_tangent / math.sqrt(c)))
    return c, x, u


@given(case=point_and_tangent())
def test_logmap_inverts_expmap(xp, case):
    c, x, u = case
    x_, u_ = asarray(xp, x), asarray(xp, u)
    y = lorentz.expmap(x_, u_, c=c)
    lorentz.check_point(y, c=c, rtol=1e-12)
    close(lorentz.logmap(x_, y, c=c), u_)


@given(case=point_and_tangent())
def test_dist_of_expmap_is_tangent_norm(xp, case):
    c, x, u = case
    x_, u_ = asarray(xp, x), asarray(xp, u)
    d = lorentz.dist(x_, lorentz.expmap(x_, u_, c=c), c=c)
    close(d, lorentz.norm(u_))


@given(case=point_and_tangent())
def test_origin_maps_agree_with_general_maps(xp, case):
    c, x, _ = case
    o = np.zeros_like(x)
    o[0] = 1 / math.sqrt(c)
    x_, o_ = asarray(xp, x), asarray(xp, o)
    u0 = lorentz.logmap0(x_, c=c)
    close(u0, lorentz.logmap(o_, x_, c=c))
    close(lorentz.expmap0(u0, c=c), lorentz.expmap(o_, u0, c=c))
    close(lorentz.dist0(x_, c=c), lorentz.dist(o_, x_, c=c))


@given(c=curvatures(), data=st.data())
def test_symmetry_and_triangle_inequality(xp, c, data):
    x, y = data.draw(point_pairs(c=c, **small_points))
    z = data.draw(points(x.shape[0] - 1, c=c, **small_points))
    x, y, z = (asarray(xp, a) for a in (x, y, z))
    dxy, dyx = lorentz.dist(x, y, c=c), lorentz.dist(y, x, c=c)
    close(dxy, dyx, rtol=1e-13)  # the two evaluation orders differ by a few roundings
    dxz, dyz = (float(to_numpy(lorentz.dist(a, z, c=c))) for a in (x, y))
    assert dxz <= float(to_numpy(dxy)) + dyz + 1e-12 * (dxz + 1)


def _isometry(rng_seed: int, n: int, rapidity: float) -> np.ndarray:
    """A Lorentz transformation: a random rotation of the space part, then a boost."""
    rng = np.random.default_rng(rng_seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    rot = np.eye(n + 1)
    rot[1:, 1:] = q
    boost = np.eye(n + 1)
    ch, sh = math.cosh(rapidity), math.sinh(rapidity)
    boost[0, 0] = boost[1, 1] = ch
    boost[0, 1] = boost[1, 0] = sh
    return boost @ rot


@given(c=curvatures(), seed=st.integers(0, 2**32 - 1), rapidity=st.floats(-2, 2), data=st.data())
def test_dist_invariant_under_boosts_and_rotations(xp, c, seed, rapidity, data):
    x, y = data.draw(point_pairs(c=c, dtype="float64", max_norm=10.0))
    lam = _isometry(seed, x.shape[0] - 1, rapidity)
    before = lorentz.dist(asarray(xp, x), asarray(xp, y), c=c)
    after = lorentz.dist(asarray(xp, lam @ x), asarray(xp, lam @ y), c=c)
    # rounding the moved points perturbs them by eps * 1e2 (norms <= 10, boost <= cosh 2):
    # relative to distances of 1e-7 (the nearest pairs drawn) that is up to ~1e-7, so the
    # comparison is absolute at 1e-12 plus relative 1e-9
    d0, d1 = float(to_numpy(before)), float(to_numpy(after))
    assert abs(d0 - d1) <= 1e-12 + RTOL * d0


@given(c=curvatures(), data=st.data())
def test_transport_preserves_norm_and_tangency_and_inverts(xp, c, data):
    x, y = data.draw(point_pairs(c=c, **small_points))
    v = data.draw(tangent_vectors(x, c=c, dtype="float64", max_norm=5.0))
    x_, y_, v_ = (asarray(xp, a) for a in (x, y, v))
    w = lorentz.transport(x_, y_, v_, c=c)
    lorentz.check_tangent(y_, w, c=c, rtol=1e-12)
    close(lorentz.norm(w), lorentz.norm(v_), scale=max(1.0, float(np.abs(v).max())))
    close(lorentz.transport(y_, x_, w, c=c), v_)


@given(c=curvatures(), data=st.data())
def test_poincare_round_trip(xp, c, data):
    x = asarray(xp, data.draw(points(c=c, dtype="float64", max_norm=1e3)))
    p = lorentz.to_poincare(x, c=c)
    assert float(to_numpy(np.sqrt(c) * np.linalg.norm(to_numpy(p)))) < 1
    close(lorentz.from_poincare(p, c=c), x, rtol=1e-11)  # 1/(1 - c|p|^2) amplifies by ~R


@given(c=curvatures(), rows=st.integers(1, 5), cols=st.integers(1, 5), data=st.data())
def test_pairwise_dist_agrees_with_dist(xp, c, rows, cols, data):
    n = data.draw(st.integers(1, 6))
    xs = np.stack([data.draw(points(n, c=c, **small_points)) for _ in range(rows)])
    ys = np.stack([data.draw(points(n, c=c, **small_points)) for _ in range(cols)])
    x_, y_ = asarray(xp, xs), asarray(xp, ys)
    pw = lorentz.pairwise_dist(x_, y_, c=c)
    assert tuple(pw.shape) == (rows, cols)
    # twice the float64 bound: with numpy, pairwise_dist's numba kernel takes u from a float64
    # GEMM wherever its error bound keeps d within 2e-13 (5 ulp apart from dist, measured)
    close(pw, lorentz.dist(x_[:, None, :], y_[None, :, :], c=c), rtol=2e-12)


def test_pairwise_dist_blocks_match_one_block(xp, monkeypatch):
    rng = np.random.default_rng(0)
    x = lorentz.from_space(asarray(xp, rng.normal(size=(70, 3))))
    y = lorentz.from_space(asarray(xp, rng.normal(size=(50, 3))))
    whole = lorentz.pairwise_dist(x, y, implementation="reference")
    from lorentz import _allpairs

    monkeypatch.setattr(_allpairs, "TILE", 150)  # three rows a tile, the last one short
    blocked = lorentz.pairwise_dist(x, y, implementation="reference")
    close(blocked, whole, rtol=1e-15)  # BLAS rounds GEMMs of other shapes differently: 1 ulp


def test_curvature_array_broadcasts_against_batch(xp):
    rng = np.random.default_rng(1)
    c = asarray(xp, [0.5, 2.0, 7.0])
    x = lorentz.from_space(asarray(xp, rng.normal(size=(3, 4))), c=c)
    y = lorentz.from_space(asarray(xp, rng.normal(size=(3, 4))), c=c)
    d = lorentz.dist(x, y, c=c)
    for i, ci in enumerate([0.5, 2.0, 7.0]):
        close(d[i, ...], lorentz.dist(x[i, ...], y[i, ...], c=ci), rtol=1e-15)
