"""busemann against mpmath on every backend, against its definition (the limit of
d(x, gamma(t)) - t) and HoroPCA's Poincaré-ball formula; exact far out along the direction,
where the textbook log(sqrt(c)(x0 - xs.v)) cancels; gradients, NaN rows, errors by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings, target
from hypothesis import strategies as st

import lorentz
from lorentz.testing import curvatures, directions, mpref, points
from lorentz.testing._backends import asarray
from lorentz.testing._contract import check
from lorentz.testing._peers import busemann_textbook as textbook

MAX_NORM = {"float32": 1e3, "float64": 1e4}


def _pt(dtype, c, *xs):
    xs = np.array(xs, dtype=dtype)
    return np.concatenate([[np.sqrt(1 / c + np.sum(xs.astype(np.float64) ** 2))], xs]).astype(dtype)


@st.composite
def cases(draw):
    dtype = draw(st.sampled_from(["float32", "float64"]))
    c = draw(curvatures())
    x = draw(points(c=c, dtype=dtype, max_norm=MAX_NORM[dtype]))
    n = x.shape[0] - 1
    xs = x[1:].astype(np.float64)
    if draw(st.booleans()) and np.any(xs):  # near the ray through x, either way
        tilt = 10.0 ** draw(st.floats(-9, 0)) * draw(directions(n))
        v = np.sign(draw(st.floats(-1, 1)) or 1.0) * xs / np.linalg.norm(xs) + tilt
    else:
        v = draw(directions(n)) * 10.0 ** draw(st.floats(-3, 3))
    if not np.any(v.astype(dtype)):
        v = np.eye(n)[0]
    return dtype, c, x, np.concatenate([[0.0], v]).astype(dtype)


FAR_ON_RAY_64 = ("float64", 1.0, _pt("float64", 1.0, 1e4, 0.0), np.array([0.0, 1.0, 0.0]))
FAR_ON_RAY_32 = (
    "float32",
    1.0,
    _pt("float32", 1.0, 1e3, 0.0),
    np.array([0.0, 1.0, 0.0], dtype=np.float32),
)


@settings(max_examples=30)
@given(case=cases())
@example(case=FAR_ON_RAY_64)
@example(case=FAR_ON_RAY_32)
def test_busemann_accuracy(xp, case):
    dtype, c, x, v = case
    out = lorentz.busemann(asarray(xp, x), asarray(xp, v), c=c)
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    err, bound = check(out, lambda a, b: mpref.busemann(a, b, c), (x, v), ("point", "point"), dtype)
    target(err / bound)


@pytest.mark.parametrize("case", [FAR_ON_RAY_64, FAR_ON_RAY_32])
def test_the_textbook_form_fails_far_out_on_the_ray(case):
    dtype, c, x, v = case
    ref = mpref.busemann(x, v, c)
    with np.errstate(all="ignore"):
        assert mpref.error(float(textbook(x, v, c)), ref) > 1000 * (
            1e-12 if dtype == "float64" else 2e-6
        )
    assert mpref.error(float(lorentz.busemann(x, v, c=c)), ref) <= (
        1e-12 if dtype == "float64" else 2e-6
    )


def test_the_limit_of_distance_minus_time_and_horopca():
    rng = np.random.default_rng(4)
    for c in (1.0, 0.3):
        x = lorentz.from_space(rng.standard_normal((6, 3)), c=c)
        v = np.concatenate([np.zeros((6, 1)), rng.standard_normal((6, 3))], axis=1)
        t = 15.0 / np.sqrt(c)  # d - t - B = O(e^(-2 sqrt(c) t))
        ray = lorentz.expmap0(t * v / np.linalg.norm(v, axis=1, keepdims=True), c=c)
        np.testing.assert_allclose(
            lorentz.busemann(x, v, c=c), lorentz.dist(x, ray, c=c) - t, atol=1e-9
        )
    x = lorentz.from_space(rng.standard_normal((6, 3)))
    p = lorentz.to_poincare(x)
    vhat = v[:, 1:] / np.linalg.norm(v[:, 1:], axis=1, keepdims=True)
    horopca = np.log(np.sum((p - vhat) ** 2, axis=1) / (1 - np.sum(p**2, axis=1)))
    np.testing.assert_allclose(lorentz.busemann(x, v), horopca, rtol=1e-12, atol=1e-14)


def test_gradients_finite_at_the_origin_and_nan_rows():
    torch = pytest.importorskip("torch")
    x = lorentz.from_space(
        torch.tensor([[0.0, 0.0], [3.0, 0.0], [-2.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    ).requires_grad_(True)
    v = torch.tensor(
        [[0.0, 1.0, 0.0]] * 3 + [[0.0, torch.nan, 1.0]], dtype=torch.float64, requires_grad=True
    )
    out = lorentz.busemann(x, v)
    assert torch.isnan(out[3]) and torch.isfinite(out[:3]).all()
    out[:3].sum().backward()
    assert torch.isfinite(x.grad[:3]).all() and torch.isfinite(v.grad[:3]).all()
    xg, vg = (
        x.detach()[:3].clone().requires_grad_(True),
        v.detach()[:3].clone().requires_grad_(True),
    )
    assert torch.autograd.gradcheck(lambda a, b: lorentz.busemann(a, b, c=0.7), (xg, vg))


def test_bad_arguments_are_named():
    x = np.array([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="direction"):
        lorentz.busemann(x, np.zeros(3))
    with pytest.raises(ValueError, match="direction"):
        lorentz.busemann(x, np.ones(2))
    with pytest.raises(TypeError, match="direction"):
        lorentz.busemann(x, [0.0, 1.0, 0.0])
