"""sqdist, pairwise_sqdist and pairwise_exterior_angle against mpmath on every backend;
HyCoCLIP's oxy_angle_eval and the GEMM form of the squared Lorentzian distance (transcribed
here) fail the same checks; gradients, NaN rows and errors by name."""

from __future__ import annotations

import numpy as np
import pytest
from lorentz.testing._backends import asarray
from lorentz.testing._contract import check
from hypothesis import given, settings, target
from hypothesis import strategies as st

import lorentz
from lorentz.testing import curvatures, mpref, near_points, points, to_numpy

MAX_NORM = {"float32": 1e3, "float64": 1e4}


@st.composite
def row_sets(draw, fixed=False):
    """(dtype, c, x (N, n+1), y (M, n+1)): y's rows independent points or near x's. With
    ``fixed``, one shape (eager jax compiles every new shape: 15 s for 10 examples)."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    c = draw(curvatures())
    n = 3 if fixed else draw(st.integers(1, 4))
    kw = {"c": c, "dtype": dtype, "max_norm": MAX_NORM[dtype]}
    xs = [draw(points(n, **kw)) for _ in range(2 if fixed else draw(st.integers(1, 3)))]
    ys = [draw(st.one_of(points(n, **kw), near_points(xs[draw(st.integers(0, len(xs) - 1))], c=c,
                                                      dtype=dtype)))
          for _ in range(2 if fixed else draw(st.integers(1, 3)))]
    return dtype, c, np.stack(xs), np.stack(ys)


def is_jax(xp):
    return xp.__name__.startswith("jax")


def _each_pair(out, x, y, ref, dtype, absolute):
    out = to_numpy(out)
    worst = 0.0
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            try:
                err, bound = check(out[i, j], lambda a, b: ref(a, b), (x[i], y[j]),
                                   ("point", "point"), dtype, absolute=absolute)
            except ValueError:  # the angle is undefined at the origin and for y == x
                continue
            worst = max(worst, err / bound)
    return worst


@settings(max_examples=10)
@given(data=st.data())
def test_pairwise_exterior_angle_accuracy(xp, data):
    dtype, c, x, y = data.draw(row_sets(fixed=is_jax(xp)))
    out = lorentz.pairwise_exterior_angle(asarray(xp, x), asarray(xp, y), c=c)
    assert out.shape == (x.shape[0], y.shape[0])
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    target(_each_pair(out, x, y, lambda a, b: mpref.exterior_angle(a, b, c), dtype, True))


@settings(max_examples=10)
@given(data=st.data())
def test_pairwise_sqdist_accuracy(xp, data):
    dtype, c, x, y = data.draw(row_sets(fixed=is_jax(xp)))
    out = lorentz.pairwise_sqdist(asarray(xp, x), asarray(xp, y), c=c)
    assert str(out.dtype).rsplit(".", 1)[-1] == dtype
    target(_each_pair(out, x, y, lambda a, b: mpref.sqdist(a, b, c), dtype, False))
    single = lorentz.sqdist(asarray(xp, x[:, None, :]), asarray(xp, y[None, :, :]), c=c)
    np.testing.assert_allclose(to_numpy(single), to_numpy(out), rtol=1e-6 if dtype == "float32" else 1e-14)


def _pt(dtype, *xs):
    xs = np.array(xs, dtype=dtype)
    return np.concatenate([[np.sqrt(1 + np.sum(xs.astype(np.float64) ** 2))], xs]).astype(dtype)


def hycoclip_oxy_angle_eval(x, y, curv=1.0, eps=1e-8):
    """HyCoCLIP's oxy_angle_eval (space parts in, (M, N) out), transcribed in numpy."""
    x_time = np.sqrt(1 / curv + np.sum(x**2, axis=-1, keepdims=True))
    y_time = np.sqrt(1 / curv + np.sum(y**2, axis=-1, keepdims=True))
    c_xyl = curv * (y @ x.T - y_time @ x_time.T)
    acos_numer = y_time + c_xyl * x_time.T
    acos_denom = np.sqrt(np.clip(c_xyl**2 - 1, eps, None))
    acos_input = acos_numer / (np.linalg.norm(x, axis=-1, keepdims=True).T * acos_denom + eps)
    return np.arccos(np.clip(acos_input, -1 + eps, 1 - eps))


def test_near_pairs_where_hycoclip_and_the_gemm_form_fail():
    x = np.stack([_pt("float32", 3.0, 0.0), _pt("float32", 100.0, 0.0)])
    y = np.stack([_pt("float32", 3.0, 0.001), _pt("float32", 100.0, 0.01)])
    ours = lorentz.pairwise_exterior_angle(x, y)
    sq = lorentz.pairwise_sqdist(x, y)
    with np.errstate(all="ignore"):
        theirs = hycoclip_oxy_angle_eval(x[:, 1:], y[:, 1:]).T
        gemm = -2.0 - 2.0 * (x[:, 1:] @ y[:, 1:].T - np.outer(x[:, 0], y[:, 0]))
    worst_ours = worst_theirs = worst_sq = worst_gemm = 0.0
    for i in range(2):
        for j in range(2):
            ref = float(mpref.exterior_angle(x[i], y[j]))
            worst_ours = max(worst_ours, abs(float(ours[i, j]) - ref))
            worst_theirs = max(worst_theirs, abs(float(theirs[i, j]) - ref))
            r = float(mpref.sqdist(x[i], y[j]))
            worst_sq = max(worst_sq, abs(float(sq[i, j]) - r) / r)
            worst_gemm = max(worst_gemm, abs(float(gemm[i, j]) - r) / r)
    assert worst_ours <= 2e-6 and worst_sq <= 2e-6
    assert worst_theirs > 1e-2 and worst_gemm > 1e-2


def test_shapes_batches_and_keepdim():
    rng = np.random.default_rng(3)
    x = lorentz.from_space(rng.standard_normal((2, 4, 3)))
    y = lorentz.from_space(rng.standard_normal((5, 3)))
    a = lorentz.pairwise_exterior_angle(x, y)
    assert a.shape == (2, 4, 5)
    np.testing.assert_allclose(a[1], lorentz.exterior_angle(x[1][:, None], y[None]), atol=1e-15)
    assert lorentz.pairwise_sqdist(x, y, c=0.5).shape == (2, 4, 5)
    assert lorentz.sqdist(x[0], x[0], keepdim=True).shape == (4, 1)
    assert lorentz.pairwise_exterior_angle(x[0, :0], y).shape == (0, 5)


def test_gradients_finite_on_the_diagonal_at_the_origin_and_nan_rows():
    """Finite gradients at y == x, at the origin and for collinear points; a NaN row of y
    gives NaN in its column only (its gradient reaches every row of x, as pairwise_dist's)."""
    torch = pytest.importorskip("torch")
    s = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.3, -0.4]], dtype=torch.float64)
    x = lorentz.from_space(s).requires_grad_(True)
    y = lorentz.from_space(s.clone()).requires_grad_(True)
    nan = lorentz.from_space(torch.cat([s, torch.full((1, 2), torch.nan, dtype=torch.float64)]))
    for f in (lorentz.pairwise_exterior_angle, lorentz.pairwise_sqdist):
        out = f(x, nan)
        assert torch.isnan(out[:, 4]).all() and torch.isfinite(out[:, :4]).all()
        x.grad = y.grad = None
        f(x, y).sum().backward()
        assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()


def test_bad_arguments_are_named():
    x = lorentz.from_space(np.ones((3, 2)))
    for f in (lorentz.pairwise_exterior_angle, lorentz.pairwise_sqdist):
        with pytest.raises(ValueError, match="y"):
            f(x, x[0])
        with pytest.raises(ValueError, match="c must be a scalar"):
            f(x, x, c=np.ones(3))
        with pytest.raises(TypeError, match="x"):
            f(x.tolist(), x)
    with pytest.raises(TypeError, match="keepdim"):
        lorentz.sqdist(x, x, keepdim=1)


def test_the_gemm_path_matches_every_pair_computed_exactly():
    """pairwise_sqdist's GEMM with recomputed pairs against the exact form on every pair (the
    path jax and batched inputs take); the diagonal of x against x is recomputed: exactly 0."""
    import array_api_compat.numpy as npx

    from lorentz._pairwise import _all_pairs
    from lorentz._reference import sqdist_space as sqdist_ref

    rng = np.random.default_rng(12)
    x = lorentz.from_space(rng.standard_normal((200, 8)) * 30)
    y = np.concatenate([lorentz.from_space(rng.standard_normal((100, 8)) * 30),
                        lorentz.from_space(x[:100, 1:] + 1e-9)])  # near pairs far out
    for a, b in ((x, y), (x, x), (x.astype(np.float32), y.astype(np.float32))):
        got = lorentz.pairwise_sqdist(a, b, c=0.6)
        want = _all_pairs(sqdist_ref, a[:, 1:].astype(np.float64), b[:, 1:].astype(np.float64), 0.6, xp=npx)
        tol = 1e-12 if a.dtype == np.float64 else 2e-6
        assert np.max(np.abs(got - want) / np.where(want > 0, want, 1.0)) <= tol
    assert np.all(np.diag(lorentz.pairwise_sqdist(x, x)) == 0)
