"""geodesic against mpmath, on every backend; gradients at x == y; errors by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

import lorentz
from lorentz.testing import curvatures, mpref, point_pairs
from lorentz.testing._backends import asarray
from lorentz.testing._contract import check

MAX_NORM = {"float32": 1e3, "float64": 1e4}


@st.composite
def cases(draw, fixed=False):
    """With ``fixed``, one shape (eager jax compiles every new shape)."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    c = draw(curvatures())
    x, y = draw(point_pairs(3 if fixed else None, c=c, dtype=dtype, max_norm=MAX_NORM[dtype]))
    t = draw(st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(-1.5, 2.5, width=32)))
    return dtype, c, x, y, float(t)


def _pt(dtype, c, *xs):
    xs = np.array(xs, dtype=dtype)
    return np.concatenate([[np.sqrt(1 / c + np.sum(xs.astype(np.float64) ** 2))], xs]).astype(dtype)


@settings(max_examples=25)
@given(data=st.data())
def test_geodesic_accuracy(xp, data):
    target(check_case(xp, data.draw(cases(fixed=xp.__name__.startswith("jax")))))


@pytest.mark.parametrize(
    "case",
    [
        ("float32", 1.0, _pt("float32", 1.0, 1000.0, 0.0), _pt("float32", 1.0, 1000.0, 0.001), 0.5),
        ("float64", 1.0, _pt("float64", 1.0, 20.0, 0.0), _pt("float64", 1.0, -20.0, 1e-3), 0.5),
        (
            "float64",
            1.0,
            _pt("float64", 1.0, 284.6, 284.6, 26.7),
            _pt("float64", 1.0, 0.0, 0.0, 0.0),
            1.0,
        ),
        # far points whose geodesic passes near the origin: exp_y((1-t) log_y(x)) erred 5.8e-12
        (
            "float64",
            3.0,
            _pt("float64", 3.0, -958.49982738, 394.12371991, 78.10267173),
            _pt("float64", 3.0, -2602.58790486, -992.51072464, -6268.11650319),
            0.636556088924408,
        ),
        ("float64", 1.0, _pt("float64", 1.0, 30.0, 1.0), _pt("float64", 1.0, -30.0, 2.0), -0.7),
        ("float64", 1.0, _pt("float64", 1.0, 30.0, 1.0), _pt("float64", 1.0, -30.0, 2.0), 1.8),
    ],
)
def test_geodesic_pinned(xp, case):
    check_case(xp, case)


def check_case(xp, case):
    dtype, c, x, y, t = case
    out = lorentz.geodesic(asarray(xp, x), asarray(xp, y), t, c=c)
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    err, bound = check(
        out,
        lambda a, b, s: mpref.geodesic(a, b, s, c),
        (x, y, t),
        ("point", "point", "scalar"),
        dtype,
    )
    return err / bound


def test_ends_and_midpoint_and_batches():
    rng = np.random.default_rng(0)
    x = lorentz.from_space(rng.standard_normal((5, 3)))
    y = lorentz.from_space(rng.standard_normal((5, 3)))
    np.testing.assert_allclose(lorentz.geodesic(x, y, 0.0), x, rtol=1e-14)
    np.testing.assert_allclose(lorentz.geodesic(x, y, 1.0), y, rtol=1e-13)
    t = np.linspace(-1, 2, 5)
    g = lorentz.geodesic(x, y, t)
    np.testing.assert_allclose(lorentz.dist(x, g), np.abs(t) * lorentz.dist(x, y), rtol=1e-13)
    assert lorentz.geodesic(x[:1], y, 0.3).shape == (5, 4)
    assert lorentz.geodesic(x.astype(np.float32), y.astype(np.float32), 0.3).dtype == np.float32


def test_not_the_tangent_interpolation_at_the_origin():
    """MERU's traversal, expmap0((1-t) logmap0(x) + t logmap0(y)), leaves the geodesic."""
    x, y = lorentz.expmap0(np.array([[0.0, 3.0, 0.0], [0.0, 0.0, 3.0]]))
    ours = lorentz.geodesic(x, y, 0.5)
    theirs = lorentz.expmap0(0.5 * lorentz.logmap0(x) + 0.5 * lorentz.logmap0(y))
    total = lorentz.dist(x, y)
    assert abs(lorentz.dist(x, ours) + lorentz.dist(ours, y) - total) < 1e-12
    assert lorentz.dist(x, theirs) + lorentz.dist(theirs, y) - total > 0.5


def test_gradients_finite_at_coincident_points_and_nan_rows():
    torch = pytest.importorskip("torch")
    x = lorentz.from_space(torch.tensor([[0.3, -0.2], [1.0, 2.0], [0.5, 0.5]], dtype=torch.float64))
    x = x.clone().requires_grad_(True)
    y = x.detach().clone()
    y[2] = torch.nan
    y.requires_grad_(True)
    t = torch.tensor([0.3, 0.7, 0.2], dtype=torch.float64, requires_grad=True)
    out = lorentz.geodesic(x, y, t)
    assert torch.isnan(out[2]).all() and torch.isfinite(out[:2]).all()
    out[:2].sum().backward()
    assert torch.isfinite(x.grad[:2]).all() and torch.isfinite(y.grad[:2]).all()
    assert torch.isfinite(t.grad[:2]).all()
    xg = x.detach()[:2].clone().requires_grad_(True)
    yg = lorentz.from_space(
        torch.tensor([[0.1, 0.4], [-2.0, 1.0]], dtype=torch.float64)
    ).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: lorentz.geodesic(a, b, 0.3)[..., 1:], (xg, yg))


def test_bad_arguments_are_named():
    x = np.array([1.0, 0.0])
    with pytest.raises(TypeError, match="t"):
        lorentz.geodesic(x, x, "half")
    with pytest.raises(ValueError, match="t must be finite"):
        lorentz.geodesic(x, x, float("inf"))
    with pytest.raises(ValueError, match="t"):
        lorentz.geodesic(np.stack([x] * 5), x, np.zeros(3))
    with pytest.raises(ValueError, match="x and y"):
        lorentz.geodesic(x, np.array([1.0, 0.0, 0.0]), 0.5)
    with pytest.raises(TypeError, match="t"):
        lorentz.geodesic(x, x, np.array(0.5, dtype=np.int64))
