"""The wrapped normal: sampling and log_prob against mpmath on every backend; the density
integrates to 1 (2-D quadrature) and samples follow it (Kolmogorov-Smirnov); finite values
and gradients in float32 out to space norms of 1e3 and at z == mean; errors by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings, target
from hypothesis import strategies as st

import lorentz
from lorentz.testing import curvatures, mpref, near_points, points, to_numpy
from lorentz.testing._backends import asarray
from lorentz.testing._contract import check

MAX_NORM = {"float32": 1e3, "float64": 1e4}


@st.composite
def cases(draw):
    dtype = draw(st.sampled_from(["float32", "float64"]))
    c = draw(curvatures())
    n = draw(st.integers(1, 4))
    mean = draw(points(n, c=c, dtype=dtype, max_norm=MAX_NORM[dtype]))
    scale = np.array([10.0 ** draw(st.floats(-3, 1)) for _ in range(n)], dtype=dtype)
    noise = np.array([draw(st.floats(-4, 4)) for _ in range(n)], dtype=dtype)
    # samples whose coordinates the dtype represents: the mean is within sqrt(c) d = 9 of the
    # origin (space norms to 1e3) and the sample within sqrt(c) |scale noise| of the mean, so
    # x0 ~ e^(sqrt(c) d) / (2 sqrt(c)) stays below float32's 3.4e38 (e^88.7) for steps to 75
    step = math.sqrt(c) * float(np.linalg.norm(scale.astype(np.float64) * noise))
    assume(step <= (75.0 if dtype == "float32" else 690.0))
    return dtype, c, mean, scale, noise


@settings(max_examples=25)
@given(case=cases())
def test_sample_accuracy(xp, case):
    dtype, c, mean, scale, noise = case
    out = lorentz.wrapped_normal_sample(
        asarray(xp, mean), asarray(xp, scale), asarray(xp, noise), c=c
    )
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    err, bound = check(
        out,
        lambda m, s, e: mpref.wrapped_normal_sample(m, s, e, c),
        (mean, scale, noise),
        ("point", "vector", "vector"),
        dtype,
    )
    target(err / bound)


@settings(max_examples=25)
@given(case=cases(), data=st.data())
def test_log_prob_accuracy(xp, case, data):
    dtype, c, mean, scale, _ = case
    z = data.draw(
        st.one_of(
            points(mean.shape[0] - 1, c=c, dtype=dtype, max_norm=MAX_NORM[dtype]),
            near_points(mean, c=c, dtype=dtype),
            st.just(mean),
        )
    )
    out = lorentz.wrapped_normal_log_prob(
        asarray(xp, z), asarray(xp, mean), asarray(xp, scale), c=c
    )
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    err, bound = check(
        out,
        lambda a, m, s: mpref.wrapped_normal_log_prob(a, m, s, c),
        (z, mean, scale),
        ("point", "point", "vector"),
        dtype,
    )
    target(err / bound)


def _polar_grid(c, radius, nr, nt):
    """Midpoint grid on the hyperbolic plane in polar coordinates about the origin: points
    (nr * nt, 3) and their areas sinh(sqrt(c) r) / sqrt(c) dr dtheta."""
    dr, dt = radius / nr, 2 * math.pi / nt
    r = (np.arange(nr) + 0.5) * dr
    t = (np.arange(nt) + 0.5) * dt
    rr, tt = np.meshgrid(r, t, indexing="ij")
    u = np.stack([np.zeros_like(rr), rr * np.cos(tt), rr * np.sin(tt)], axis=-1).reshape(-1, 3)
    area = (np.sinh(math.sqrt(c) * rr) / math.sqrt(c) * dr * dt).reshape(-1)
    return lorentz.expmap0(u, c=c), area


@pytest.mark.parametrize("c", [1.0, 0.4])
def test_density_integrates_to_one(c):
    mean = lorentz.expmap0(np.array([0.0, 0.5, -0.4]), c=c)
    scale = np.array([0.3, 0.5])
    z, area = _polar_grid(c, 9.0, 900, 256)
    total = float(np.sum(np.exp(lorentz.wrapped_normal_log_prob(z, mean, scale, c=c)) * area))
    assert abs(total - 1) < 1e-4, total


def _ks(samples, values, weights):
    """Kolmogorov-Smirnov statistic of samples against the distribution of a statistic whose
    values at the quadrature nodes carry the given probability weights."""
    order = np.argsort(values)
    v, cdf = values[order], np.cumsum(weights[order]) / np.sum(weights)
    s = np.sort(samples)
    model = np.interp(s, v, cdf)
    k = np.arange(1, s.size + 1) / s.size
    return max(np.max(k - model), np.max(model - (k - 1 / s.size)))


@pytest.mark.parametrize("c", [1.0, 2.0])
def test_samples_follow_the_density(c):
    """The distance of the samples from an off-origin point, against its distribution under
    the density (quadrature); without the (n - 1) log(sinh t / t) term the same check fails."""
    rng = np.random.default_rng(11)
    mean = lorentz.expmap0(np.array([0.0, 0.8, 0.3]), c=c)
    scale = np.array([0.6, 0.9])
    samples = lorentz.wrapped_normal_sample(mean, scale, rng.standard_normal((4000, 2)), c=c)
    probe = lorentz.expmap0(np.array([0.0, -0.5, 0.2]), c=c)
    z, area = _polar_grid(c, 12.0 / math.sqrt(c), 900, 256)
    logp = lorentz.wrapped_normal_log_prob(z, mean, scale, c=c)
    stat = lorentz.dist(z, np.tile(probe, (z.shape[0], 1)), c=c)
    at_samples = lorentz.dist(samples, np.tile(probe, (samples.shape[0], 1)), c=c)
    ks = _ks(at_samples, stat, np.exp(logp) * area)
    assert ks < 1.63 / math.sqrt(4000), ks  # the 1% critical value
    t = math.sqrt(c) * lorentz.dist(z, mean, c=c)
    with np.errstate(divide="ignore", invalid="ignore"):
        wrong = logp + np.log(np.where(t > 0, np.sinh(t) / t, 1.0))  # the volume term left out
    assert _ks(at_samples, stat, np.exp(wrong) * area) > 1.5 * 1.63 / math.sqrt(4000)


def test_finite_in_float32_out_to_space_norm_1e3_and_at_the_mean():
    torch = pytest.importorskip("torch")
    d = torch.tensor([[1.0, 0.0], [0.6, 0.8], [-1.0, 0.0]], dtype=torch.float32)
    mean = lorentz.from_space(1e3 * d).requires_grad_(True)
    scale = torch.tensor([0.5, 3.0], requires_grad=True)
    noise = torch.tensor([[2.0, -1.0], [0.0, 0.0], [-3.0, 3.0]])
    z = lorentz.wrapped_normal_sample(mean, scale, noise)
    lp = lorentz.wrapped_normal_log_prob(z, mean, scale)
    far = lorentz.wrapped_normal_log_prob(lorentz.from_space(-1e3 * d), mean, scale)
    assert torch.isfinite(z).all() and torch.isfinite(lp).all() and torch.isfinite(far).all()
    (lp.sum() + far.sum()).backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(scale.grad).all()
    # log_prob of a sample is the tangent normal's at its noise, less the volume term
    ref = [
        float(mpref.wrapped_normal_log_prob(a, m, scale.detach().numpy(), 1.0))
        for a, m in zip(z.detach().numpy(), mean.detach().numpy())
    ]
    np.testing.assert_allclose(lp.detach().numpy(), ref, rtol=2e-6)


def test_gradients_at_zero_noise_and_nan_rows():
    torch = pytest.importorskip("torch")
    mean = lorentz.from_space(
        torch.tensor([[0.3, 0.1], [0.0, 0.0], [2.0, -1.0]], dtype=torch.float64)
    )
    mean.requires_grad_(True)
    scale = torch.tensor([[0.5, 1.5]] * 3, dtype=torch.float64, requires_grad=True)
    noise = torch.tensor([[0.0, 0.0], [0.0, 0.0], [torch.nan, 1.0]], dtype=torch.float64)
    z = lorentz.wrapped_normal_sample(mean, scale, noise)
    assert torch.isnan(z[2]).all() and torch.isfinite(z[:2]).all()
    lp = lorentz.wrapped_normal_log_prob(z, mean, scale)
    assert torch.isnan(lp[2]) and torch.isfinite(lp[:2]).all()
    lp[:2].sum().backward()
    assert torch.isfinite(mean.grad[:2]).all() and torch.isfinite(scale.grad[:2]).all()
    m = mean.detach()[:2].clone().requires_grad_(True)
    s = scale.detach()[:2].clone().requires_grad_(True)
    e = torch.tensor([[0.3, -0.2], [1.0, 0.5]], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda a, b: lorentz.wrapped_normal_sample(a, b, e)[..., 1:], (m, s)
    )
    zz = lorentz.wrapped_normal_sample(m, s, e).detach()
    assert torch.autograd.gradcheck(lambda a, b: lorentz.wrapped_normal_log_prob(zz, a, b), (m, s))


def test_shapes_and_bad_arguments():
    mean = lorentz.expmap0(np.zeros((4, 3)))
    noise = np.zeros((5, 4, 2))
    assert lorentz.wrapped_normal_sample(mean, np.ones(2), noise).shape == (5, 4, 3)
    assert lorentz.wrapped_normal_log_prob(mean, mean, np.ones(2)).shape == (4,)
    with pytest.raises(ValueError, match="scale must be > 0"):
        lorentz.wrapped_normal_sample(mean, np.array([1.0, 0.0]), noise)
    with pytest.raises(ValueError, match="noise must have a last dimension of 2"):
        lorentz.wrapped_normal_sample(mean, np.ones(2), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="noise"):
        lorentz.wrapped_normal_sample(mean, np.ones(2), np.zeros((3, 2)))
    with pytest.raises(TypeError, match="scale"):
        lorentz.wrapped_normal_log_prob(mean, mean, [1.0, 1.0])
    with pytest.raises(ValueError, match="z and mean"):
        lorentz.wrapped_normal_log_prob(mean, np.ones(4), np.ones(2))
    with pytest.raises(TypeError, match=r"^mean must be an array"):
        lorentz.wrapped_normal_sample(mean.tolist(), np.ones(2), noise)


@pytest.mark.parametrize("step", [1e3, 7e19, 1e300])
def test_a_step_past_the_representable_radius_is_inf_not_nan(xp, step):
    # exp_o of the step overflows to +-inf; boosted to the mean that was inf - inf (NaN)
    mean = lorentz.from_space(np.array([[0.3, -0.2, 0.5], [0.1, 0.1, 0.1]]))
    scale = np.array([[step, 1.0, 1.0], [1.0, 1.0, 1.0]])
    noise = np.array([[1.0, 1.0, -2.0], [0.1, 0.2, 0.3]])
    z = to_numpy(lorentz.wrapped_normal_sample(*(asarray(xp, a) for a in (mean, scale, noise))))
    assert not np.any(np.isnan(z))
    assert np.all(np.isinf(z[0]))  # every component of the far sample overflows
    np.testing.assert_allclose(z[1], lorentz.wrapped_normal_sample(mean[1], scale[1], noise[1]))
