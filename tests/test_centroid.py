"""centroid against mpmath on every backend: the contract, the two-point midpoint, a tight
cluster 15 from the origin in float32 (where the textbook normalisation loses every digit),
gradients, NaN rows and errors by name."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import asarray
from contract import check
from hypothesis import given, settings, target
from hypothesis import strategies as st

import lorentz
from lorentz.testing import curvatures, directions, mpref, points

MAX_NORM = {"float32": 1e3, "float64": 1e4}


def lift(xs, c, dtype):
    xs = np.asarray(xs, dtype=np.float64).astype(dtype)
    x0 = np.sqrt(1 / c + np.sum(xs.astype(np.float64) ** 2, axis=-1, keepdims=True))
    return np.concatenate([x0.astype(dtype), xs], axis=-1)


@st.composite
def point_sets(draw, dtypes=("float32", "float64"), fixed=False):
    """(dtype, c, points (N, n+1), weights (N,) or None): independent points, or a cluster
    around one point at relative spread 1e-7 .. 1. With ``fixed``, one shape (eager jax
    compiles every new shape)."""
    dtype = draw(st.sampled_from(dtypes))
    c = draw(curvatures())
    n = 3 if fixed else draw(st.integers(1, 4))
    count = 3 if fixed else draw(st.integers(1, 4))
    base = draw(points(n, c=c, dtype="float64", max_norm=MAX_NORM[dtype]))[1:]
    if draw(st.booleans()):
        rows = [draw(points(n, c=c, dtype="float64", max_norm=MAX_NORM[dtype]))[1:]
                for _ in range(count)]
    else:
        spread = 10.0 ** draw(st.floats(-7, 0)) * max(1.0, float(np.linalg.norm(base)))
        rows = [base + spread * draw(st.floats(0, 1)) * draw(directions(n)) for _ in range(count)]
    x = lift(np.array(rows), c, dtype)
    w = None
    if draw(st.booleans()):
        w = np.array([draw(st.floats(0.01, 10)) for _ in range(count)], dtype=dtype)
    return dtype, c, x, w


@settings(max_examples=25)
@given(data=st.data())
def test_centroid_accuracy(xp, data):
    dtype, c, x, w = data.draw(point_sets(fixed=xp.__name__.startswith("jax")))
    out = lorentz.centroid(asarray(xp, x), None if w is None else asarray(xp, w), c=c)
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    if w is None:
        err, bound = check(out, lambda p: mpref.centroid(p, None, c), (x,), ("point",), dtype)
    else:
        err, bound = check(out, lambda p, v: mpref.centroid(p, v, c), (x, w), ("point", "vector"), dtype)
    target(err / bound)


def textbook(x, c):
    """HyperbolicCV's / fully-hyperbolic-nn's normalisation, in the input dtype."""
    a = x.sum(axis=-2)
    with np.errstate(all="ignore"):
        return _textbook(a, c)


def _textbook(a, c):
    lip = -a[0] * a[0] + (a[1:] * a[1:]).sum()
    return a / np.sqrt(np.abs(lip) * c)


def tight_cluster(dtype):
    rng = np.random.default_rng(5)
    base = lorentz.expmap0(np.array([0.0, 15.0, 0.0, 0.0]))[1:]
    rows = base + 1e-3 * rng.standard_normal((8, 3))
    return lift(rows, 1.0, dtype)


def test_tight_cluster_15_from_the_origin_in_float32():
    x = tight_cluster("float32")
    ref = mpref.centroid(x, None, 1.0)
    ours = mpref.error(lorentz.centroid(x).astype(np.float64).tolist(), ref)
    assert ours <= 2e-6, ours
    assert mpref.error(textbook(x, 1.0).astype(np.float64).tolist(), ref) > 1e-2  # can fail


def test_two_points_give_the_geodesic_midpoint():
    rng = np.random.default_rng(1)
    x = lorentz.from_space(rng.standard_normal((6, 2, 3)) * 5)
    mid = lorentz.geodesic(x[:, 0], x[:, 1], 0.5)
    np.testing.assert_allclose(lorentz.centroid(x), mid, rtol=1e-12)
    np.testing.assert_allclose(lorentz.centroid(x, c=0.3), lorentz.geodesic(x[:, 0], x[:, 1], 0.5, c=0.3),
                               rtol=1e-12)


def test_axis_weights_and_shapes():
    rng = np.random.default_rng(2)
    x = lorentz.from_space(rng.standard_normal((3, 5, 2)))
    w = rng.uniform(0.1, 1, (3, 5))
    a = lorentz.centroid(x, w)
    b = lorentz.centroid(np.moveaxis(x, 1, 0), w.T, axis=0)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    np.testing.assert_allclose(lorentz.centroid(x, 3 * w), a, rtol=1e-13)
    np.testing.assert_allclose(lorentz.centroid(x[:, :1]), x[:, 0], rtol=1e-13)
    assert lorentz.centroid(x, np.ones(5)).shape == (3, 3)
    assert lorentz.centroid(x.astype(np.float32)).dtype == np.float32


def test_gradients_finite_for_coincident_points_and_nan_sets():
    torch = pytest.importorskip("torch")
    x = lorentz.from_space(torch.tensor([[[0.5, 1.0]] * 3, [[0.1, 0.2], [1.0, -1.0], [3.0, 0.0]],
                                         [[0.1, 0.2], [1.0, -1.0], [3.0, 0.0]]], dtype=torch.float64))
    x = x.clone()
    x[2, 1, 1] = torch.nan
    x.requires_grad_(True)
    w = torch.tensor([[1.0, 2.0, 0.5]] * 3, dtype=torch.float64, requires_grad=True)
    out = lorentz.centroid(x, w)
    assert torch.isnan(out[2]).all() and torch.isfinite(out[:2]).all()
    out[:2].sum().backward()
    assert torch.isfinite(x.grad[:2]).all() and torch.isfinite(w.grad[:2]).all()
    xg = x.detach()[1].clone().requires_grad_(True)
    wg = w.detach()[1].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: lorentz.centroid(a, b)[1:], (xg, wg))


def test_bad_arguments_are_named():
    x = lorentz.from_space(np.ones((3, 2)))
    with pytest.raises(ValueError, match="weights must be >= 0"):
        lorentz.centroid(x, np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="weights sum to 0"):
        lorentz.centroid(x, np.zeros(3))
    with pytest.raises(ValueError, match="weights"):
        lorentz.centroid(x, np.ones(4))
    with pytest.raises(TypeError, match="weights"):
        lorentz.centroid(x, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="axis"):
        lorentz.centroid(x, axis=-1)
    with pytest.raises(TypeError, match="axis"):
        lorentz.centroid(x, axis=0.0)
    with pytest.raises(ValueError, match="shape"):
        lorentz.centroid(x[0])
    with pytest.raises(ValueError, match="c must be a scalar"):
        lorentz.centroid(x, c=np.ones(3))
