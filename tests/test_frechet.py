"""frechet_mean and frechet_variance against mpmath on every backend: the contract, the
Riemannian gradient vanishing at the result, the implicit-function gradient against finite
differences of the converged mean, Lou et al.'s iteration (transcribed) failing in float32;
gradients at coincident points, NaN sets, errors by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, target
from mpmath import mp

import lorentz
from lorentz.testing import mpref
from lorentz.testing._backends import asarray, load_backend
from lorentz.testing._builders import point_sets, tight_cluster
from lorentz.testing._contract import BOUND, check
from lorentz.testing._peers import lou_et_al


# not jax: eager jax compiles each new shape (18 s for 8 examples);
# test_jax_jit_runs_max_iter_steps checks jax against numpy instead
@pytest.mark.parametrize("backend", ["numpy", "torch", "array_api_strict"])
@settings(max_examples=8)
@given(case=point_sets())
def test_frechet_mean_accuracy_and_vanishing_gradient(backend, case):
    xp = load_backend(backend)
    dtype, c, x, w = case
    out = lorentz.frechet_mean(asarray(xp, x), None if w is None else asarray(xp, w), c=c)
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    if w is None:
        err, bound = check(out, lambda p: mpref.frechet_mean(p, None, c), (x,), ("point",), dtype)
    else:
        err, bound = check(
            out, lambda p, v: mpref.frechet_mean(p, v, c), (x, w), ("point", "vector"), dtype
        )
    target(err / bound)
    # the Riemannian gradient at the rounded result: as small as rounding the mean allows
    # (a rounding of its space part moves it by eps |mu_s| at most, in distance)
    mu = np.asarray(out, dtype=np.float64)
    g = mpref.frechet_gradient(mu, x, w, c)
    with mp.workdps(mpref.DIGITS):
        gnorm = float(mp.sqrt(max(-(g[0] ** 2) + mp.fsum(t * t for t in g[1:]), 0)))
    allowed = (
        4
        * len(mu)
        * float(np.finfo(dtype).eps)
        * max(1.0, math.sqrt(c) * float(np.linalg.norm(mu[1:])))
    )
    assert gnorm * math.sqrt(c) <= max(BOUND[dtype], allowed), (gnorm, allowed)


def test_lou_et_al_fails_in_float32_where_ours_keeps_the_contract():
    x = tight_cluster("float32")
    w = np.ones(x.shape[0], dtype=np.float32)
    ref = mpref.frechet_mean(x, None, 1.0)
    ours = mpref.error(lorentz.frechet_mean(x).astype(np.float64).tolist(), ref)
    assert ours <= 2e-6, ours
    with np.errstate(all="ignore"):
        theirs = lou_et_al(x, w)
    assert (
        not np.all(np.isfinite(theirs))
        or mpref.error(theirs.astype(np.float64).tolist(), ref) > 1e-2
    )
    # in float64 too their weights come from -<x, mu>_L - 1 formed by cancellation
    x64 = tight_cluster("float64")
    ref = mpref.frechet_mean(x64, None, 1.0)
    assert mpref.error(lorentz.frechet_mean(x64).tolist(), ref) <= 1e-12
    assert mpref.error(lou_et_al(x64, np.ones(8)).tolist(), ref) > 1e-4


def test_spread_sets_converge_and_variance_matches():
    rng = np.random.default_rng(8)
    x = lorentz.from_space(rng.standard_normal((4, 6, 3)) * 200, c=0.5)
    w = rng.uniform(0.1, 3, (4, 6))
    mu = lorentz.frechet_mean(x, w, c=0.5)
    for k in range(2):
        ref = mpref.frechet_mean(x[k], w[k], 0.5)
        assert mpref.error(mu[k].tolist(), ref) <= 1e-12
    var = lorentz.frechet_variance(x, w, c=0.5)
    d = lorentz.dist(mu[:, None, :], x, c=0.5)
    np.testing.assert_allclose(var, np.sum(w * d**2, axis=1) / np.sum(w, axis=1), rtol=1e-12)
    # two points: the midpoint; one point: itself, variance 0
    two = lorentz.from_space(rng.standard_normal((2, 3)) * 4)
    np.testing.assert_allclose(
        lorentz.frechet_mean(two), lorentz.geodesic(two[0], two[1], 0.5), rtol=1e-12
    )
    np.testing.assert_allclose(lorentz.frechet_mean(two[:1]), two[0], rtol=1e-13)
    assert float(lorentz.frechet_variance(two[:1])) == 0.0


@pytest.mark.parametrize("e", [16, 100, 300])
def test_a_spread_set_far_out_converges(e):
    # the start (the centroid) was NaN from 10^16 on, and the boost's squares overflowed
    # from 10^102 (times 1/sqrt(c))
    d = np.random.default_rng(0).standard_normal((3, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    x = lorentz.from_space(d * np.array([[1.0], [0.5], [0.1]]) * 10.0**e)
    ref = mpref.frechet_mean(x, None, 1.0)
    assert mpref.error(lorentz.frechet_mean(x).tolist(), ref) <= 1e-12


def test_newton_overshooting_a_set_far_out_is_taken_back():
    # sqrt(c)|xs| ~ 1e148..1e150 in three nearly collinear directions: full Newton steps from
    # the centroid raised the sum of squared distances each time and ran off to inf (NaN)
    x = lorentz.from_space(
        np.array(
            [[0.245, -1.252, 0.845], [0.01656, 0.01203, -0.00894], [-0.001437, -0.000708, 4.7e-05]]
        ),
        c=1e300,
    )
    mu = lorentz.frechet_mean(x, c=1e300)
    assert np.all(np.isfinite(mu))
    var = float(lorentz.frechet_variance(x, c=1e300))
    at_centroid = np.mean(lorentz.dist(lorentz.centroid(x, c=1e300), x, c=1e300) ** 2)
    assert np.isfinite(var) and var <= at_centroid
    np.testing.assert_allclose(var, np.mean(lorentz.dist(mu, x, c=1e300) ** 2), rtol=1e-12)


def test_implicit_gradient_matches_finite_differences_of_the_converged_mean():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    x = torch.tensor(lorentz.from_space(rng.standard_normal((5, 2)) * 2), requires_grad=True)
    w = torch.tensor(rng.uniform(0.2, 2, 5), requires_grad=True)
    f = lambda a, b: lorentz.frechet_mean(a, b)[1:]
    assert torch.autograd.gradcheck(f, (x, w))
    assert torch.autograd.gradcheck(lambda a, b: lorentz.frechet_variance(a, b), (x, w))


def test_gradients_at_coincident_points_and_nan_sets():
    torch = pytest.importorskip("torch")
    s = torch.tensor(
        [
            [[0.5, 1.0]] * 3,
            [[0.0, 0.0]] * 3,
            [[0.1, 0.2], [1.0, -1.0], [3.0, 0.0]],
            [[0.1, 0.2], [torch.nan, -1.0], [3.0, 0.0]],
        ],
        dtype=torch.float64,
    )
    x = lorentz.from_space(s).requires_grad_(True)
    w = torch.tensor([[1.0, 2.0, 0.5]] * 4, dtype=torch.float64, requires_grad=True)
    out = lorentz.frechet_mean(x, w)
    assert torch.isnan(out[3]).all() and torch.isfinite(out[:3]).all()
    out[:3].sum().backward()
    assert torch.isfinite(x.grad[:3]).all() and torch.isfinite(w.grad[:3]).all()
    torch.testing.assert_close(out[0], x[0, 0].detach())


def test_jax_jit_runs_max_iter_steps():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    x = lorentz.from_space(np.random.default_rng(2).standard_normal((4, 3)))
    f = jax.jit(lambda a: lorentz.frechet_mean(a, max_iter=4))
    np.testing.assert_allclose(
        np.asarray(f(jax.numpy.asarray(x))), lorentz.frechet_mean(x), rtol=1e-13
    )
    g = jax.jit(jax.grad(lambda a: lorentz.frechet_variance(a, max_iter=4)))(jax.numpy.asarray(x))
    assert np.all(np.isfinite(np.asarray(g)))


def test_bad_arguments_are_named():
    x = lorentz.from_space(np.ones((3, 2)))
    with pytest.raises(ValueError, match="max_iter"):
        lorentz.frechet_mean(x, max_iter=0)
    with pytest.raises(ValueError, match="tol"):
        lorentz.frechet_mean(x, tol=-1.0)
    with pytest.raises(ValueError, match="weights must be >= 0"):
        lorentz.frechet_variance(x, np.array([1.0, -1.0, 1.0]))
    with pytest.raises(ValueError, match="axis"):
        lorentz.frechet_mean(x, axis=-1)
