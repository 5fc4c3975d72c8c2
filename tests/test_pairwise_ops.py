"""sqdist, pairwise_sqdist and pairwise_exterior_angle against mpmath on every backend;
HyCoCLIP's oxy_angle_eval and the GEMM form of the squared Lorentzian distance (transcribed
here) fail the same checks; gradients, NaN rows and errors by name."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

import lorentz
from lorentz.testing import curvatures, mpref, near_points, points, to_numpy
from lorentz.testing._backends import asarray
from lorentz.testing._contract import check
from lorentz.testing._kernel_cases import pairwise_hard_rows
from lorentz.testing._peers import hycoclip_oxy_angle_eval

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
    ys = [
        draw(
            st.one_of(
                points(n, **kw),
                near_points(xs[draw(st.integers(0, len(xs) - 1))], c=c, dtype=dtype),
            )
        )
        for _ in range(2 if fixed else draw(st.integers(1, 3)))
    ]
    return dtype, c, np.stack(xs), np.stack(ys)


def is_jax(xp):
    return xp.__name__.startswith("jax")


def _each_pair(out, x, y, ref, dtype, absolute):
    out = to_numpy(out)
    worst = 0.0
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            try:
                err, bound = check(
                    out[i, j],
                    lambda a, b: ref(a, b),
                    (x[i], y[j]),
                    ("point", "point"),
                    dtype,
                    absolute=absolute,
                )
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
    # the all-pairs GEMM keeps pairs within its bound, a fifth of the contract, of the exact
    # value and recomputes the rest: not an ulp (1.2e-14 apart at d = 0.135, float64)
    np.testing.assert_allclose(
        to_numpy(single), to_numpy(out), rtol=1e-6 if dtype == "float32" else 2e-13
    )


def _pt(dtype, *xs):
    xs = np.array(xs, dtype=dtype)
    return np.concatenate([[np.sqrt(1 + np.sum(xs.astype(np.float64) ** 2))], xs]).astype(dtype)


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


@pytest.mark.parametrize("e", [155, 200, 300])
def test_rows_past_1e154_on_every_backend(xp, e):
    """Rows whose squared lengths overflow float64: a ray (exact multiples of a far point by
    powers of two, so the pairs stay radial) and a point in another direction. The angles of
    every pair and the squared distances along the ray against mpmath; across directions the
    squared distance itself passes the float64 maximum: +inf, not NaN."""
    d = np.random.default_rng(5).standard_normal((2, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    a = 10.0**e * d[0]
    x = lorentz.from_space(np.stack([a, 2.0 * a, 0.5 * a, 10.0**e * d[1]]))
    angles = lorentz.pairwise_exterior_angle(asarray(xp, x), asarray(xp, x))
    worst = _each_pair(angles, x, x, lambda p, q: mpref.exterior_angle(p, q, 1.0), "float64", True)
    assert worst <= 1.0, worst
    sq = to_numpy(lorentz.pairwise_sqdist(asarray(xp, x), asarray(xp, x)))
    ray = x[:3]
    assert (
        _each_pair(sq[:3, :3], ray, ray, lambda p, q: mpref.sqdist(p, q, 1.0), "float64", False)
        <= 1.0
    )
    assert np.all(sq[3, :3] == np.inf) and np.all(sq[:3, 3] == np.inf)


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


GEMM_FORMS = {"pairwise_sqdist": "sqdist_space", "pairwise_exterior_angle": "_angle"}


@pytest.mark.parametrize("op", list(GEMM_FORMS))
@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_the_gemm_path_matches_every_pair_computed_exactly(op, implementation, monkeypatch):
    """The GEMM forms with recomputed pairs (the reference's and the numba kernel's) against
    the exact form on every pair (the path jax and batched inputs take), over blocks of 7 rows:
    near pairs far out, collinear pairs, the hard rows (origin, tiny, huge, NaN); the diagonal
    of x against x is recomputed, exactly 0."""
    import array_api_compat.numpy as npx

    from lorentz import _pairwise
    from lorentz import _reference as ref
    from lorentz._pairwise import _all_pairs

    if implementation == "numba":
        pytest.importorskip("numba")
        from lorentz._numba import ops

        monkeypatch.setattr(ops, "PAIRWISE_TILE", 7 * 163)
    else:
        monkeypatch.setattr(_pairwise, "BLOCK", 7 * 163)
    exact = ref.sqdist_space if op == "pairwise_sqdist" else _pairwise._angle
    for dtype in ("float64", "float32"):
        rng = np.random.default_rng(12)
        x = lorentz.from_space(rng.standard_normal((100, 4)) * 30, c=0.6)
        x = np.concatenate([x.astype(dtype), pairwise_hard_rows(dtype, 0.6)])  # 113 rows
        y = np.concatenate(
            [
                lorentz.from_space(rng.standard_normal((50, 4)) * 30, c=0.6),
                lorentz.from_space(x[:100, 1:] + 1e-9, c=0.6),  # near pairs far out
                lorentz.from_space(x[:13, 1:] * 2.5, c=0.6),  # collinear: the ray beyond x
            ]
        ).astype(dtype)  # 163 rows
        for a, b in ((x, y), (x, x[:50])):
            got = PAIRWISE[op](a, b, c=0.6, implementation=implementation)
            with np.errstate(all="ignore"):
                want = _all_pairs(
                    exact, a[:, 1:].astype(np.float64), b[:, 1:].astype(np.float64), 0.6, xp=npx
                )
            tol = {"float64": 1e-12, "float32": 2e-6}[dtype]
            if op == "pairwise_sqdist":
                np.testing.assert_allclose(got, want, rtol=tol, atol=0, equal_nan=True)
            else:
                np.testing.assert_allclose(got, want, rtol=0, atol=tol, equal_nan=True)
    diag = np.diag(PAIRWISE[op](x, x, implementation=implementation))
    assert np.all(diag[~np.isnan(x[:, 1])] == 0)


# ---------------------------------------------------------------- the numba kernels


PAIRWISE = {
    "pairwise_exterior_angle": lorentz.pairwise_exterior_angle,
    "pairwise_sqdist": lorentz.pairwise_sqdist,
}


def _agree(op, got, want, dtype):
    """numba against the reference: both meet the contract (2e-6 float32, 1e-12 float64;
    absolute in radians for the angle, relative for sqdist), so they agree to it; NaN where
    the other has NaN."""
    tol = {"float32": 2e-6, "float64": 1e-12}[dtype]
    if op == "pairwise_exterior_angle":
        np.testing.assert_allclose(got, want, rtol=0, atol=tol, equal_nan=True)
    else:
        np.testing.assert_allclose(got, want, rtol=tol, atol=0, equal_nan=True)


@pytest.mark.parametrize("op", list(PAIRWISE))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("c", [1.0, 0.3])
def test_numba_kernel_matches_the_reference_on_the_hard_rows(op, dtype, c):
    """Every pair of the hard rows against themselves and reversed (x == y on the diagonal,
    NaN in a row and a column), 13 x 13 (the kernels' serial path) and 39 x 26 (the parallel
    one): the kernel equals the reference to the contract, its NaN stays in the NaN row and
    column, every other pair is finite, and the output keeps the input dtype."""
    pytest.importorskip("numba")
    f = PAIRWISE[op]
    x = pairwise_hard_rows(dtype, c)
    bad = int(np.flatnonzero(np.isnan(x[:, 1]))[0])
    for a, b in ((x, x), (x, x[::-1]), (np.tile(x, (3, 1)), np.tile(x[::-1], (2, 1)))):
        got = f(a, b, c=c, implementation="numba")
        want = f(a, b, c=c, implementation="reference")
        assert got.dtype == np.dtype(dtype)
        _agree(op, got, want, dtype)
        nan_a = np.isnan(a[:, 1])[:, None] | np.isnan(b[:, 1])[None, :]
        assert np.array_equal(np.isnan(got), nan_a), bad
    d = f(x, x, c=c, implementation="numba")
    diag = np.diag(d)[~np.isnan(x[:, 1])]
    assert np.all(diag == 0.0)  # x == y: angle 0 (atan2(0, 0) taken as 0), sqdist 0
    if op == "pairwise_exterior_angle":  # collinear pairs: 0 on the ray beyond x, pi behind
        assert d[1, 2] == 0.0 and d[2, 1] == pytest.approx(np.pi, abs=1e-6)
        np.testing.assert_allclose(d[0, 1:3], np.pi / 2, atol=1e-6)  # at the origin: pi/2


@pytest.mark.parametrize("op", list(PAIRWISE))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numba_kernel_against_mpmath(op, dtype, monkeypatch):
    """The kernel's pairs among the hard rows (near pairs far out, collinear, beyond the plain
    range) against mpmath: within the contract (or 4x the answer's own movement)."""
    pytest.importorskip("numba")
    pytest.importorskip("mpmath")
    c = 0.7
    x = pairwise_hard_rows(dtype, c)
    keep = ~np.isnan(x[:, 1])
    keep[0] = False  # the origin: the angle is undefined there for the oracle (pi/2 above)
    if op == "pairwise_exterior_angle" and dtype == "float64":
        # the oracle's acos form cancels to O(|xs|) at x = 1e-200: with its 60 digits it gave
        # pi/2, pi or 0 there; with 450 it agrees with the kernel to 3e-33
        monkeypatch.setattr(mpref, "DIGITS", 450)
    x = x[keep]
    got = PAIRWISE[op](x, x, c=c, implementation="numba")
    if op == "pairwise_exterior_angle":
        worst = _each_pair(got, x, x, lambda a, b: mpref.exterior_angle(a, b, c), dtype, True)
    else:
        worst = _each_pair(got, x, x, lambda a, b: mpref.sqdist(a, b, c), dtype, False)
    assert worst <= 1.0, worst


def test_numba_sqdist_over_several_tiles(monkeypatch):
    """pairwise_sqdist's kernel over row tiles of 7 (the last one short): each tile's rows land
    in their place; near pairs far out and the diagonal recomputed (exactly 0 there)."""
    pytest.importorskip("numba")
    from lorentz._numba import ops

    rng = np.random.default_rng(8)
    x = lorentz.from_space(rng.standard_normal((30, 6)) * 50)
    y = np.concatenate([x[:10], lorentz.from_space(x[10:, 1:] + 1e-8), x[:3]])
    want = lorentz.pairwise_sqdist(x, y, implementation="reference")
    monkeypatch.setattr(ops, "PAIRWISE_TILE", 7 * y.shape[0])
    got = lorentz.pairwise_sqdist(x, y, implementation="numba")
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert np.all(got[np.arange(10), np.arange(10)] == 0.0)


@pytest.mark.parametrize("op", list(PAIRWISE))
def test_numpy_rows_take_the_kernel_and_batches_the_reference(op, monkeypatch):
    """implementation=None: 2-D numpy float inputs run the numba host function, batched inputs
    and an array c (a 0-d array is a scalar c) the reference, with the same values."""
    pytest.importorskip("numba")
    from lorentz._numba import ops

    seen = []
    original = getattr(ops, op)
    monkeypatch.setattr(ops, op, lambda *a: seen.append(op) or original(*a))
    x = pairwise_hard_rows("float64", 1.0)[:8]
    got = PAIRWISE[op](x, x[2:])
    assert seen == [op]
    batched = PAIRWISE[op](x[None], x[None, 2:])
    assert seen == [op] and batched.shape == (1, 8, 6)
    _agree(op, got, batched[0], "float64")
