"""The numba kernels against the reference: random, near-duplicate, far-from-origin and
odd-shaped inputs; knn neighbours; dispatch errors."""

from __future__ import annotations

import numpy as np
import pytest

import lorentz
from accuracy import BOUND, OPS, measure
from lorentz._dispatch import select

pytest.importorskip("numba")  # installed by the test extra; CI never skips

rng = np.random.default_rng(11)


def _points(space, c=1.0, dtype=np.float64):
    space = np.asarray(space, dtype=dtype)
    x0 = np.sqrt(1 / c + np.sum(space.astype(np.float64) ** 2, -1, keepdims=True))
    return np.concatenate([x0.astype(dtype), space], -1)


def inputs(kind: str, dtype, c: float):
    """(x, y) point sets of shapes (N, n+1), (M, n+1) for each kind of test input."""
    if kind == "random":
        return _points(rng.normal(size=(37, 5)), c, dtype), _points(rng.normal(size=(29, 5)), c, dtype)
    if kind == "near-duplicate":
        base = rng.normal(size=(20, 6)) * 3
        moved = base + 1e-6 * rng.normal(size=base.shape)
        return _points(base, c, dtype), _points(np.concatenate([base, moved]), c, dtype)
    if kind == "far":
        r = 1e3 if dtype == np.float32 else 1e4
        base = rng.normal(size=(16, 4))
        base = r * base / np.linalg.norm(base, axis=1, keepdims=True)
        near = base * (1 + 1e-5) + 1e-3 * rng.normal(size=base.shape)
        return _points(base, c, dtype), _points(np.concatenate([base, near]), c, dtype)
    if kind == "n=1":
        return _points(rng.normal(size=(9, 1)) * 5, c, dtype), _points(rng.normal(size=(7, 1)) * 5, c, dtype)
    if kind == "one row":
        return _points(rng.normal(size=(1, 3)), c, dtype), _points(rng.normal(size=(8, 3)), c, dtype)
    if kind == "one column":
        return _points(rng.normal(size=(8, 3)), c, dtype), _points(rng.normal(size=(1, 3)), c, dtype)
    if kind == "non-contiguous":
        x = _points(rng.normal(size=(30, 4)), c, dtype)[::3]
        y = np.asfortranarray(_points(rng.normal(size=(12, 4)), c, dtype))[::2]
        return x, y
    if kind == "fortran":
        return (np.asfortranarray(_points(rng.normal(size=(10, 4)), c, dtype)),
                np.asfortranarray(_points(rng.normal(size=(11, 4)), c, dtype)))
    raise ValueError(kind)


KINDS = ["random", "near-duplicate", "far", "n=1", "one row", "one column", "non-contiguous", "fortran"]
DTYPES = [np.float32, np.float64]


def _agree(a, b, dtype):
    # both sides meet the accuracy bound against the exact value, so they agree to twice it
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = np.maximum(np.abs(b), np.finfo(np.float64).tiny)
    assert np.all(np.abs(a - b) <= 2 * BOUND[np.dtype(dtype).name] * scale)


@pytest.mark.parametrize("c", [1.0, 0.3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_pairwise_dist(kind, dtype, c):
    x, y = inputs(kind, dtype, c)
    got = lorentz.pairwise_dist(x, y, c=c, implementation="numba")
    want = lorentz.pairwise_dist(x, y, c=c, implementation="reference")
    assert got.dtype == dtype
    _agree(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["near-duplicate", "far"])
def test_pairwise_dist_meets_the_bound_against_mpmath(kind, dtype):
    """Near pairs far out are where a GEMM-only kernel fails: check them against mpmath."""
    c = 0.7
    x, y = inputs(kind, dtype, c)
    got = lorentz.pairwise_dist(x, y, c=c, implementation="numba")
    name = np.dtype(dtype).name
    for i in range(x.shape[0]):
        for j in (i, i + x.shape[0]):  # the point itself and its moved copy
            err, bound = measure(OPS["dist"], got[i, j], (x[i], y[j]), c, name)
            assert err <= bound, (i, j, err, bound)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_dist_rows(kind, dtype):
    x, y = inputs(kind, dtype, 1.0)
    m = min(x.shape[0], y.shape[0])
    got = lorentz.dist(x[:m], y[:m], implementation="numba")
    _agree(got, lorentz.dist(x[:m], y[:m], implementation="reference"), dtype)
    # broadcasting and keepdim as the reference does
    got = lorentz.dist(x[:, None], y[None, :], keepdim=True, implementation="numba")
    want = lorentz.dist(x[:, None], y[None, :], keepdim=True, implementation="reference")
    _agree(got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", ["expmap0", "logmap0"])
def test_origin_maps(op, kind, dtype):
    x, _ = inputs(kind, dtype, 2.0)
    if op == "expmap0":  # tangent norms up to 20: sinh stays finite in float32
        xs = x[..., 1:].astype(np.float64)
        x = np.concatenate([0 * x[..., :1], xs * np.minimum(1, 20 / np.linalg.norm(xs, axis=-1, keepdims=True))], -1).astype(dtype)
    f = getattr(lorentz, op)
    got, want = f(x, c=2.0, implementation="numba"), f(x, c=2.0, implementation="reference")
    assert got.dtype == want.dtype and got.shape == want.shape
    # arrays: max|diff| / max|ref|, as the accuracy contract measures them
    assert np.max(np.abs(got - want)) <= 2 * BOUND[np.dtype(dtype).name] * np.max(np.abs(want))


def test_origin_maps_batch_shapes():
    u = np.zeros((2, 3, 4))
    u[..., 1:] = rng.normal(size=(2, 3, 3))
    assert lorentz.expmap0(u, implementation="numba").shape == (2, 3, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_knn_matches_reference(kind, dtype):
    x, y = inputs(kind, dtype, 1.0)
    k = min(3, y.shape[0])
    d, i = lorentz.knn(x, y, k, implementation="numba")
    d_ref, i_ref = lorentz.knn(x, y, k, implementation="reference")
    assert i.dtype == np.int64 and d.dtype == dtype and d.shape == (x.shape[0], k)
    _agree(d, d_ref, dtype)
    ulp = np.spacing(np.abs(d_ref).astype(dtype)).astype(np.float64)
    differ = i != i_ref
    # a different neighbour only where two distances tie within 4 ulp
    assert np.all(np.abs(d[differ].astype(np.float64) - d_ref[differ]) <= 4 * ulp[differ])
    assert np.all(np.diff(d, axis=1) >= 0)


def test_knn_breaks_ties_by_lower_index():
    x = _points(rng.normal(size=(1, 3)))
    y = np.concatenate([_points(rng.normal(size=(4, 3)) + 5), x, x, x])  # three exact ties
    for impl in ("numba", "reference"):
        d, i = lorentz.knn(x, y, 2, implementation=impl)
        assert i.tolist() == [[4, 5]] and d.tolist() == [[0.0, 0.0]]


def test_knn_over_many_tiles_against_brute_force():
    x = _points(rng.normal(size=(300, 8)), dtype=np.float32)
    y = _points(rng.normal(size=(9000, 8)), dtype=np.float32)  # several key tiles
    d, i = lorentz.knn(x, y, 4, implementation="numba")
    full = lorentz.pairwise_dist(x, y, implementation="numba")
    # pairwise_dist takes float32's log for float32 results (<= 2e-7 from knn's float64 log)
    np.testing.assert_allclose(np.take_along_axis(full, i, 1), d, rtol=3e-7)
    np.testing.assert_allclose(np.sort(full, axis=1)[:, :4], d, rtol=3e-7)


@pytest.mark.parametrize("impl", ["numba", "reference"])
def test_knn_bad_k(impl):
    x, y = inputs("random", np.float64, 1.0)
    with pytest.raises(ValueError, match=r"k must be between 1 and the number of keys \(29\), got 30"):
        lorentz.knn(x, y, 30, implementation=impl)
    with pytest.raises(ValueError, match="got 0"):
        lorentz.knn(x, y, 0, implementation=impl)
    with pytest.raises(TypeError, match="k must be an integer"):
        lorentz.knn(x, y, 2.0, implementation=impl)


def test_implementation_errors():
    torch = pytest.importorskip("torch")
    x = torch.tensor(inputs("random", np.float64, 1.0)[0])
    with pytest.raises(ValueError, match="implementation='numba' cannot run here: the numba kernels take numpy arrays"):
        lorentz.pairwise_dist(x, x, implementation="numba")
    with pytest.raises(ValueError, match="implementation='triton' cannot run here: there is no triton kernel for dist"):
        lorentz.dist(x, x, implementation="triton")
    with pytest.raises(ValueError, match="the triton kernels take float16, bfloat16 or float32"):
        lorentz.pairwise_dist(x, x, implementation="triton")
    with pytest.raises(ValueError, match="implementation must be one of"):
        lorentz.expmap0(x, implementation="fast")
    y = inputs("random", np.float64, 1.0)[0]
    with pytest.raises(ValueError, match="take a scalar c"):
        lorentz.dist(y, y, c=np.full((37,), 2.0), implementation="numba")
    with pytest.raises(ValueError, match="take float32 or float64"):
        lorentz.logmap0(y.astype(np.float16), implementation="numba")


def test_automatic_choice():
    xp = pytest.importorskip("array_api_compat.numpy")
    f32 = np.dtype(np.float32)
    assert select("pairwise_dist", None, xp, 1.0, f32, 4096 * 4096) == "numba"
    assert select("pairwise_dist", None, xp, np.ones(3), f32, 4) == "reference"  # array c
    assert select("dist", None, xp, 1.0, np.dtype(np.float16), 10**6) == "reference"
    torch_xp = pytest.importorskip("array_api_compat.torch")
    assert select("knn", None, torch_xp, 1.0, None, 10**6) == "reference"


@pytest.mark.parametrize("impl", ["numba", "reference"])
def test_empty_inputs(impl):
    none = np.zeros((0, 3))
    keys = _points(rng.normal(size=(5, 2)))
    d, i = lorentz.knn(none, keys, 2, implementation=impl)
    assert d.shape == (0, 2) and i.shape == (0, 2)
    assert lorentz.pairwise_dist(none, keys, implementation=impl).shape == (0, 5)
    assert lorentz.expmap0(none, implementation=impl).shape == (0, 3)
    assert lorentz.dist(none, none, implementation=impl).shape == (0,)
