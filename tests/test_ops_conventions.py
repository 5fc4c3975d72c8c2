"""The library's conventions for the operations of hyperbolic models (geodesic, centroid,
Fréchet mean, Busemann, hyperplanes, MLR, wrapped normal, squared and pairwise quantities):
float16/bfloat16 computed wider and rounded once, the same values under jax.jit."""

from __future__ import annotations

import numpy as np
import pytest

import lorentz
from lorentz.testing import to_numpy
from lorentz.testing._backends import load_backend

rng = np.random.default_rng(16)
X = lorentz.from_space(rng.standard_normal((4, 3)))
Y = lorentz.from_space(rng.standard_normal((4, 3)) * 2)
D = np.concatenate([np.zeros((4, 1)), rng.standard_normal((4, 3))], axis=1)
W = np.array([0.3, 1.2, 0.2, 0.5])
N = np.concatenate([[0.4], [1.2, 0.3, -0.5]])  # a space-like normal
A, Z = np.array([0.1, -0.4]), rng.standard_normal((2, 3))
S, E = np.array([0.5, 1.0, 0.7]), rng.standard_normal((4, 3))

OPS = {
    "geodesic": (lambda x, y: lorentz.geodesic(x, y, 0.3), (X, Y)),
    "centroid": (lambda x, w: lorentz.centroid(x, w), (X, W)),
    "frechet_mean": (lambda x, w: lorentz.frechet_mean(x, w), (X, W)),
    "frechet_variance": (lambda x, w: lorentz.frechet_variance(x, w), (X, W)),
    "busemann": (lambda x, d: lorentz.busemann(x, d), (X, D)),
    "hyperplane_dist": (lambda x, n: lorentz.hyperplane_dist(x, n), (X, N)),
    "mlr_logits": (lambda x, a, z: lorentz.mlr_logits(x, a, z), (X, A, Z)),
    "wrapped_normal_sample": (lambda x, s, e: lorentz.wrapped_normal_sample(x, s, e), (X, S, E)),
    "wrapped_normal_log_prob": (
        lambda y, x, s: lorentz.wrapped_normal_log_prob(y, x, s),
        (Y, X, S),
    ),
    "sqdist": (lambda x, y: lorentz.sqdist(x, y), (X, Y)),
    "pairwise_sqdist": (lambda x, y: lorentz.pairwise_sqdist(x, y), (X, Y)),
    "pairwise_exterior_angle": (lambda x, y: lorentz.pairwise_exterior_angle(x, y), (X, Y)),
}
EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7}


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize(
    "backend,dtype", [("torch", "float16"), ("torch", "bfloat16"), ("numpy", "float16")]
)
def test_half_precision_is_computed_wider_and_rounded_once(name, backend, dtype):
    xp = load_backend(backend)
    f, args = OPS[name]
    halves = [xp.asarray(a, dtype=getattr(xp, dtype)) for a in args]
    out = f(*halves)
    assert out.dtype == getattr(xp, dtype)
    exact = f(*[to_numpy(h).astype(np.float64) for h in halves])  # the rounded inputs, in float64
    got = to_numpy(out).astype(np.float64)
    scale = np.max(np.abs(exact))
    assert np.max(np.abs(got - exact)) <= EPS[dtype] * scale, (got, exact)


# the Fréchet mean is traced in tests/test_frechet.py (fewer steps: each is compiled), the
# geodesic's expmap and logmap in the tests of those
@pytest.mark.parametrize(
    "name", [n for n in OPS if n not in ("frechet_mean", "frechet_variance", "geodesic")]
)
def test_the_same_values_under_jax_jit(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    f, args = OPS[name]
    jitted = np.asarray(jax.jit(f)(*[jax.numpy.asarray(a) for a in args]))
    np.testing.assert_allclose(jitted, f(*args), rtol=1e-13, atol=1e-15)


ROWWISE = [
    "geodesic",
    "busemann",
    "hyperplane_dist",
    "mlr_logits",
    "wrapped_normal_sample",
    "wrapped_normal_log_prob",
    "sqdist",
    "pairwise_sqdist",
    "pairwise_exterior_angle",
]


@pytest.mark.parametrize("name", ROWWISE)
def test_a_nan_point_gives_nan_on_its_row_only(name):
    f, args = OPS[name]
    first = args[0].copy()
    first[1, 2] = np.nan
    out = np.asarray(f(first, *args[1:]))
    rows = np.isnan(out.reshape(out.shape[0], -1))
    assert rows[1].all() and not rows[[0, 2, 3]].any()


@pytest.mark.parametrize("name", list(OPS))
def test_a_learnable_curvature_gets_a_finite_gradient(name):
    torch = pytest.importorskip("torch")
    _, args = OPS[name]
    c = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    ts = [torch.tensor(a) for a in args]
    out = {
        "geodesic": lambda: lorentz.geodesic(*ts, 0.3, c=c),
        "centroid": lambda: lorentz.centroid(*ts, c=c),
        "frechet_mean": lambda: lorentz.frechet_mean(*ts, c=c),
        "frechet_variance": lambda: lorentz.frechet_variance(*ts, c=c),
        "busemann": lambda: lorentz.busemann(*ts, c=c),
        "hyperplane_dist": lambda: lorentz.hyperplane_dist(*ts, c=c),
        "mlr_logits": lambda: lorentz.mlr_logits(*ts, c=c),
        "wrapped_normal_sample": lambda: lorentz.wrapped_normal_sample(*ts, c=c),
        "wrapped_normal_log_prob": lambda: lorentz.wrapped_normal_log_prob(*ts, c=c),
        "sqdist": lambda: lorentz.sqdist(*ts, c=c),
        "pairwise_sqdist": lambda: lorentz.pairwise_sqdist(*ts, c=c),
        "pairwise_exterior_angle": lambda: lorentz.pairwise_exterior_angle(*ts, c=c),
    }[name]()
    out.sum().backward()
    assert c.grad is not None and torch.isfinite(c.grad)
