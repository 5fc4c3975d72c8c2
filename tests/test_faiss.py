"""lorentz.faiss.LorentzIndex against lorentz.knn, and its errors."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

import lorentz
from lorentz.faiss import LorentzIndex


def cloud(rows, n, seed, c=1.0, dtype=np.float32):
    """Clustered points, some far out, with near-duplicates: what MIPS can misorder."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, n)) * 4.0
    space = centres[rng.integers(20, size=rows)] + rng.standard_normal((rows, n)) * 0.3
    space[: rows // 10] *= 30.0
    space[rows // 10 : rows // 10 + 5] = space[:5] * (1 + 1e-6)
    return lorentz.from_space(space.astype(dtype), c=c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("c", [1.0, 0.3])
def test_flat_matches_knn(dtype, c):
    keys, queries = cloud(3000, 16, 0, c, dtype), cloud(200, 16, 1, c, dtype)
    index = LorentzIndex(17, "Flat", c=c)
    assert index.add(keys).tolist() == list(range(3000))
    before = queries.copy()
    d, i = index.search(queries, 10)
    assert np.array_equal(queries, before)  # the time flip is done on a copy
    ed, ei = lorentz.knn(queries, keys, 10, c=c)
    assert d.dtype == dtype and i.dtype == np.int64
    assert np.array_equal(i, ei)
    np.testing.assert_array_equal(d, ed)  # the same exact distance function


@pytest.mark.parametrize("spec", ["IVF16,Flat", "HNSW16"])
def test_approximate_indexes_return_exact_distances(spec):
    keys, queries = cloud(4000, 8, 2), cloud(100, 8, 3)
    index = LorentzIndex(9, spec)
    index.add(keys)
    if spec.startswith("IVF"):
        faiss.extract_index_ivf(index.index).nprobe = 4
    d, i = index.search(queries, 5)
    exact = lorentz.dist(queries[:, None, :], keys[i])
    np.testing.assert_array_equal(d, exact)
    assert np.all(np.diff(d, axis=1) >= 0)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(i, lorentz.knn(queries, keys, 5)[1])])
    assert recall > 0.8


def test_remove_save_load(tmp_path):
    keys, queries = cloud(500, 4, 4, c=2.0), cloud(20, 4, 5, c=2.0)
    index = LorentzIndex(5, "Flat", c=2.0)
    index.add(keys[:300])
    index.add(keys[300:])
    _, before = index.search(queries, 3)
    gone = np.unique(before[:, 0])
    assert index.remove(gone) == len(gone) and index.ntotal == 500 - len(gone)
    d, i = index.search(queries, 3)
    assert not np.isin(i, gone).any()
    keep = np.setdiff1d(np.arange(500), gone)
    ed, ei = lorentz.knn(queries, keys[keep], 3, c=2.0)
    assert np.array_equal(i, keep[ei]) and np.array_equal(d, ed)
    index.save(tmp_path / "index.npz")
    again = LorentzIndex.load(tmp_path / "index.npz", c=2.0)
    assert again.ntotal == index.ntotal and again.c == 2.0
    assert all(np.array_equal(a, b) for a, b in zip(again.search(queries, 3), (d, i)))
    with pytest.raises(ValueError, match="curvature"):
        LorentzIndex.load(tmp_path / "index.npz", c=1.0)


def test_errors_name_the_argument():
    index = LorentzIndex(5)
    good = cloud(10, 4, 6)
    with pytest.raises(ValueError, match=r"points must have shape \(N, 5\)"):
        index.add(good[:, :4])
    bad = good.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="points has non-finite"):
        index.add(bad)
    off = good.copy()
    off[:, 0] *= 1.01
    with pytest.raises(ValueError, match="points: .*hyperboloid"):
        index.add(off)
    index.add(good)
    with pytest.raises(ValueError, match="k must be between 1 and the number of points"):
        index.search(good, 11)
    with pytest.raises(ValueError, match="queries must have shape"):
        index.search(good[:, 1:], 1)
    with pytest.raises(ValueError, match="inner-product"):
        LorentzIndex(5, faiss.IndexFlatL2(6))
    with pytest.raises(ValueError, match="dimension"):
        LorentzIndex(5, faiss.IndexFlatIP(5))
    with pytest.raises(NotImplementedError, match="cannot remove"):
        hnsw = LorentzIndex(5, "HNSW8")
        hnsw.add(good)
        hnsw.remove([0])


def test_save_writes_the_path_given_and_search_takes_numpy_integers(tmp_path):
    """save(path) without a suffix writes that very file (numpy's savez would add .npz and load
    would not find it); search takes a numpy integer k (FAISS's SWIG layer does not)."""
    rng = np.random.default_rng(3)
    keys = lorentz.from_space(rng.normal(size=(200, 4)).astype(np.float32))
    index = LorentzIndex(5, "Flat")
    index.add(keys)
    index.save(tmp_path / "index")
    assert (tmp_path / "index").exists() and not (tmp_path / "index.npz").exists()
    again = LorentzIndex.load(tmp_path / "index")
    d, i = again.search(keys[:5], np.int64(3))
    want_d, want_i = index.search(keys[:5], 3)
    np.testing.assert_array_equal(i, want_i)
    with pytest.raises(TypeError, match="k must be an integer"):
        index.search(keys[:5], True)
