"""centroid against mpmath on every backend: the contract, the two-point midpoint, a tight
cluster 15 from the origin in float32 (where the textbook normalisation loses every digit),
gradients, NaN rows and errors by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

import lorentz
from lorentz.testing import mpref
from lorentz.testing._backends import asarray
from lorentz.testing._builders import point_sets, tight_cluster
from lorentz.testing._contract import check
from lorentz.testing._peers import centroid_textbook as textbook


@settings(max_examples=25)
@given(data=st.data())
def test_centroid_accuracy(xp, data):
    dtype, c, x, w = data.draw(point_sets(fixed=xp.__name__.startswith("jax")))
    out = lorentz.centroid(asarray(xp, x), None if w is None else asarray(xp, w), c=c)
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    if w is None:
        err, bound = check(out, lambda p: mpref.centroid(p, None, c), (x,), ("point",), dtype)
    else:
        err, bound = check(
            out, lambda p, v: mpref.centroid(p, v, c), (x, w), ("point", "vector"), dtype
        )
    target(err / bound)


def test_tight_cluster_15_from_the_origin_in_float32():
    x = tight_cluster("float32")
    ref = mpref.centroid(x, None, 1.0)
    ours = mpref.error(lorentz.centroid(x).astype(np.float64).tolist(), ref)
    assert ours <= 2e-6, ours
    assert mpref.error(textbook(x, 1.0).astype(np.float64).tolist(), ref) > 1e-2  # can fail


def _spread_far_out(e, dtype):
    """Three points in three directions at 1, 1/2 and 1/10 of 10^e from the origin: the set's
    centroid stays near the origin, far from every point."""
    d = np.random.default_rng(0).standard_normal((3, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return lorentz.from_space(d * np.array([[1.0], [0.5], [0.1]]) * 10.0**e).astype(dtype)


@pytest.mark.parametrize(
    "dtype, e",
    [("float64", e) for e in (10, 16, 50, 150, 300)] + [("float32", 20), ("float32", 37)],
)
def test_a_spread_set_far_out_keeps_the_contract(dtype, e):
    # summed in the first point's frame, -<a,a>_L cancelled to NaN from 10^16 on (float64)
    x = _spread_far_out(e, dtype)
    ref = mpref.centroid(x.astype(np.float64), None, 1.0)
    err = mpref.error(lorentz.centroid(x).astype(np.float64).tolist(), ref)
    assert err <= (1e-12 if dtype == "float64" else 2e-6), err


def test_two_points_give_the_geodesic_midpoint():
    rng = np.random.default_rng(1)
    x = lorentz.from_space(rng.standard_normal((6, 2, 3)) * 5)
    mid = lorentz.geodesic(x[:, 0], x[:, 1], 0.5)
    np.testing.assert_allclose(lorentz.centroid(x), mid, rtol=1e-12)
    np.testing.assert_allclose(
        lorentz.centroid(x, c=0.3), lorentz.geodesic(x[:, 0], x[:, 1], 0.5, c=0.3), rtol=1e-12
    )


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
    x = lorentz.from_space(
        torch.tensor(
            [
                [[0.5, 1.0]] * 3,
                [[0.1, 0.2], [1.0, -1.0], [3.0, 0.0]],
                [[0.1, 0.2], [1.0, -1.0], [3.0, 0.0]],
            ],
            dtype=torch.float64,
        )
    )
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
