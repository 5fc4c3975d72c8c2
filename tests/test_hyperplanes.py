"""hyperplane_dist and mlr_logits against mpmath on every backend, mlr_logits against a
transcription of HyperbolicCV's LorentzMLR formula, which fails the contract for offset
hyperplanes far out; gradients, NaN rows, errors by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

import lorentz
from lorentz.testing import curvatures, directions, mpref, points
from lorentz.testing._backends import asarray
from lorentz.testing._contract import check
from lorentz.testing._peers import hyperbolic_cv_lorentz_mlr

MAX_NORM = {"float32": 1e3, "float64": 1e4}


def _no_tiny(v):
    """0 for |v| < 1e-30: XLA flushes subnormals (float32's start at 1e-38) to zero, a property
    of the backend, not of the formula."""
    return 0.0 if abs(v) < 1e-30 else v


@st.composite
def plane_cases(draw):
    """(dtype, c, x, w): w a space-like normal; half the time x is put near its hyperplane."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    c = draw(curvatures())
    n = draw(st.integers(1, 4))
    x = draw(points(n, c=c, dtype=dtype, max_norm=MAX_NORM[dtype]))
    offset = draw(st.floats(-5, 5).map(_no_tiny))  # XLA flushes subnormals to zero
    v = draw(directions(n))
    w = np.concatenate([[np.sinh(offset)], np.cosh(offset) * v]) * 10.0 ** draw(st.floats(-2, 2))
    return dtype, c, x, w.astype(dtype)


@settings(max_examples=30)
@given(case=plane_cases())
def test_hyperplane_dist_accuracy(xp, case):
    dtype, c, x, w = case
    out = lorentz.hyperplane_dist(asarray(xp, x), asarray(xp, w), c=c)
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    err, bound = check(
        out, lambda p, q: mpref.hyperplane_dist(p, q, c), (x, w), ("point", "vector"), dtype
    )
    target(err / bound)


@st.composite
def mlr_cases(draw):
    dtype = draw(st.sampled_from(["float32", "float64"]))
    c = draw(curvatures())
    n = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    # no subnormal offsets: XLA flushes them to zero (a property of the backend, not the formula)
    a = np.array([draw(st.floats(-6, 6).map(_no_tiny)) for _ in range(k)], dtype=dtype)
    z = np.stack([draw(directions(n)) * 10.0 ** draw(st.floats(-2, 1)) for _ in range(k)]).astype(
        dtype
    )
    if draw(st.booleans()):  # a point near the first class's hyperplane
        zh = z[0].astype(np.float64) / np.linalg.norm(z[0].astype(np.float64))
        sc = np.sqrt(c)
        along = np.sinh(sc * float(a[0]) + draw(st.floats(-1e-3, 1e-3))) / sc
        across = draw(directions(n)) * draw(st.floats(0, 3))
        across = across - (across @ zh) * zh
        xs = along * zh + across
        x = np.concatenate([[0.0], xs]).astype(dtype)
        x[0] = np.sqrt(1 / c + np.sum(x[1:].astype(np.float64) ** 2))
    else:
        x = draw(points(n, c=c, dtype=dtype, max_norm=MAX_NORM[dtype]))
    return dtype, c, x, a, z


@settings(max_examples=30)
@given(case=mlr_cases())
def test_mlr_logits_accuracy(xp, case):
    dtype, c, x, a, z = case
    out = lorentz.mlr_logits(asarray(xp, x), asarray(xp, a), asarray(xp, z), c=c)
    assert out.shape == (a.shape[0],) and str(out.dtype).rsplit(".", 1)[-1] == dtype
    err, bound = check(
        out,
        lambda p, q, r: mpref.mlr_logits(p, q, r, c),
        (x, a, z),
        ("point", "vector", "vector"),
        dtype,
    )
    target(err / bound)


def test_matches_hyperbolic_cv_on_the_same_weights():
    rng = np.random.default_rng(6)
    for c in (1.0, 0.1, 2.5):
        x = lorentz.from_space(rng.standard_normal((7, 4)), c=c)
        stdv = 1 / np.sqrt(4)  # HyperbolicCV's init: uniform(-stdv, stdv)
        a = rng.uniform(-stdv, stdv, 5)
        z = rng.uniform(-stdv, stdv, (5, 4))
        ours = lorentz.mlr_logits(x, a, z, c=c)
        np.testing.assert_allclose(
            ours, hyperbolic_cv_lorentz_mlr(x, a, z, 1 / c), rtol=1e-10, atol=1e-12
        )
        # the logit is |z| times the signed distance to the class hyperplane
        sc = np.sqrt(c)
        w = np.concatenate(
            [(np.sinh(sc * a) * np.linalg.norm(z, axis=1))[:, None], np.cosh(sc * a)[:, None] * z],
            axis=1,
        )
        dists = lorentz.hyperplane_dist(x[:, None, :], w[None], c=c)
        np.testing.assert_allclose(ours, np.linalg.norm(z, axis=1) * dists, rtol=1e-12, atol=1e-13)


def test_hyperbolic_cv_fails_for_an_offset_hyperplane_far_out_float32():
    """A point 1e-3 from the hyperplane at offset a = 6 (cosh 6 = 202): their alpha subtracts
    two numbers of size 4e4 in float32."""
    a = np.array([6.0], dtype=np.float32)
    z = np.array([[1.0, 0.0]], dtype=np.float32)
    xs = np.array([np.sinh(6.001), 0.5])
    x = np.concatenate([[np.sqrt(1 + xs @ xs)], xs]).astype(np.float32)
    ref = mpref.mlr_logits(x, a, z, 1.0)
    ours = mpref.error(lorentz.mlr_logits(x, a, z).astype(np.float64).tolist(), ref)
    theirs = mpref.error(hyperbolic_cv_lorentz_mlr(x, a, z, 1.0).astype(np.float64).tolist(), ref)
    assert ours <= 2e-6, ours
    assert theirs > 1e-3, theirs


def test_shapes_and_dtypes():
    rng = np.random.default_rng(7)
    x = lorentz.from_space(rng.standard_normal((2, 3, 4)))
    assert lorentz.mlr_logits(x, np.zeros(5), rng.standard_normal((5, 4))).shape == (2, 3, 5)
    out = lorentz.mlr_logits(
        x.astype(np.float32), np.zeros(5, np.float32), np.ones((5, 4), np.float32)
    )
    assert out.dtype == np.float32
    w = np.array([0.0, 1.0, 0.0, 0.0, 0.0])
    assert lorentz.hyperplane_dist(x, w, keepdim=True).shape == (2, 3, 1)


def test_gradients_finite_on_the_hyperplane_and_nan_rows():
    torch = pytest.importorskip("torch")
    x = lorentz.from_space(
        torch.tensor([[0.0, 0.0], [0.0, 2.0], [1.0, 1.0], [torch.nan, 0.0]], dtype=torch.float64)
    ).requires_grad_(True)
    a = torch.tensor([0.0, 0.5], dtype=torch.float64, requires_grad=True)
    z = torch.tensor([[1.0, 0.0], [0.3, -1.0]], dtype=torch.float64, requires_grad=True)
    out = lorentz.mlr_logits(x, a, z, c=0.5)
    assert torch.isnan(out[3]).all() and torch.isfinite(out[:3]).all()
    out[:3].sum().backward()
    assert torch.isfinite(x.grad[:3]).all()  # a and z meet the NaN row: their gradients are NaN
    xg = x.detach()[:3].clone().requires_grad_(True)
    ag, zg = a.detach().clone().requires_grad_(True), z.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda p, q, r: lorentz.mlr_logits(p, q, r, c=0.5), (xg, ag, zg)
    )
    w = torch.tensor([0.2, 1.0, 0.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p, q: lorentz.hyperplane_dist(p, q), (xg, w))


def test_bad_arguments_are_named():
    x = np.array([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="normal must be space-like"):
        lorentz.hyperplane_dist(x, np.array([1.0, 0.5, 0.0]))
    with pytest.raises(ValueError, match="z has a zero row"):
        lorentz.mlr_logits(x, np.zeros(2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="z must have a last dimension of 2"):
        lorentz.mlr_logits(x, np.zeros(2), np.ones((2, 3)))
    with pytest.raises(ValueError, match="a must have shape"):
        lorentz.mlr_logits(x, np.zeros(3), np.ones((2, 2)))
    with pytest.raises(TypeError, match="a"):
        lorentz.mlr_logits(x, [0.0, 0.0], np.ones((2, 2)))
