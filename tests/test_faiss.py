"""lorentz.faiss.LorentzIndex against lorentz.knn, and its errors."""

from __future__ import annotations

import zipfile

import faiss
import numpy as np
import pytest

import lorentz
from lorentz.faiss import IndexFileError, LorentzIndex


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
    recall = np.mean(
        [len(set(a) & set(b)) / 5 for a, b in zip(i, lorentz.knn(queries, keys, 5)[1])]
    )
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
    with pytest.raises(ValueError, match=r"points: .*hyperboloid"):
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
    _d, i = again.search(keys[:5], np.int64(3))
    _want_d, want_i = index.search(keys[:5], 3)
    np.testing.assert_array_equal(i, want_i)
    with pytest.raises(TypeError, match="k must be an integer"):
        index.search(keys[:5], True)


# ---------------------------------------------------------------- damaged files


@pytest.fixture
def saved(tmp_path):
    """A saved index (c = 2, one point removed) and its arrays as save wrote them."""
    keys = lorentz.from_space(
        np.random.default_rng(7).normal(size=(40, 4)).astype(np.float32), c=2.0
    )
    index = LorentzIndex(5, "Flat", c=2.0)
    index.add(keys)
    index.remove([3])
    path = tmp_path / "index.npz"
    index.save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return path, arrays


def rewrite(path, arrays, **changes):
    """The file at path rewritten with some arrays replaced (a value of None drops the array)."""
    out = {**arrays, **changes}
    with open(path, "wb") as file:
        np.savez(file, **{k: v for k, v in out.items() if v is not None})
    return path


def test_a_saved_index_loads_back(saved):
    path, _ = saved
    again = LorentzIndex.load(path)
    assert again.ntotal == 39 and again.c == 2.0


# bytes kept of the file: empty, inside numpy's magic, inside the first member, half, and the
# zip's central directory cut (its last 22 bytes are the end record)
KEEP = {
    "none": lambda n: 0,
    "2": lambda n: 2,
    "10": lambda n: 10,
    "half": lambda n: n // 2,
    "all but the end record": lambda n: n - 22,
    "all but 1": lambda n: n - 1,
}


@pytest.mark.parametrize("keep", list(KEEP))
def test_truncated_file(saved, keep):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: KEEP[keep](len(data))])
    with pytest.raises(
        IndexFileError, match=rf"{path.name}: not a readable LorentzIndex file"
    ) as e:
        LorentzIndex.load(path)
    # the low-level reason is kept as the cause
    assert isinstance(e.value.__cause__, (EOFError, ValueError, zipfile.BadZipFile))


def test_not_an_npz(saved, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("a LorentzIndex? no\n")
    with pytest.raises(IndexFileError, match="not a readable LorentzIndex file"):
        LorentzIndex.load(text)
    single = tmp_path / "points.npy"
    np.save(single, saved[1]["points"])
    with pytest.raises(IndexFileError, match=r"a single \.npy array"):
        LorentzIndex.load(single)
    # a missing path is not a damaged file: the usual OSError
    with pytest.raises(FileNotFoundError):
        LorentzIndex.load(tmp_path / "nowhere.npz")


def test_corrupted_member(saved):
    """One byte of the points flipped inside the zip: the member's CRC no longer matches."""
    path, _ = saved
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("points.npy")
    # the member's data start after its local header (30 bytes, the name, the extra field)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.file_size - 7] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match=r"not a readable LorentzIndex file.*CRC") as e:
        LorentzIndex.load(path)
    assert isinstance(e.value.__cause__, zipfile.BadZipFile)


def row(points, i, value):
    """points with row i replaced by value (a scalar or a row)."""
    out = points.copy()
    out[i] = value
    return out


def index_bytes(index):
    return faiss.serialize_index(faiss.IndexIDMap2(index))


# name: (the arrays changed, from the saved ones; what the message says)
DAMAGE = {
    "points scaled off the sheet": (
        lambda a: {"points": a["points"] * np.float32(1.01)},
        "points: x is not on the hyperboloid",
    ),
    "one point moved off the sheet": (
        lambda a: {"points": row(a["points"], 5, a["points"][5] * np.float32(1.001))},
        "points: x is not on the hyperboloid.*1 of 40 fail",
    ),
    "points of another curvature": (
        lambda a: {"c": np.float64(1.0)},
        "points: x is not on the hyperboloid",
    ),
    "a NaN point": (
        lambda a: {"points": row(a["points"], 9, np.nan)},
        "1 of 40 points have non-finite",
    ),
    "an infinite point": (lambda a: {"points": row(a["points"], 9, np.inf)}, "non-finite"),
    "points truncated": (
        lambda a: {"points": a["points"][:30]},
        r"alive must be bool of shape \(30,\)",
    ),
    "points flattened": (
        lambda a: {"points": a["points"].ravel()},
        r"points must be float32 or float64 of shape \(N, 5\)",
    ),
    "points of the wrong width": (lambda a: {"points": a["points"][:, :4]}, r"shape \(N, 5\)"),
    "points as integers": (
        lambda a: {"points": a["points"].astype(np.int64)},
        "points must be float32",
    ),
    "points as float16": (
        lambda a: {"points": a["points"].astype(np.float16)},
        "points must be float32",
    ),
    "alive truncated": (
        lambda a: {"alive": a["alive"][:-1]},
        r"alive must be bool of shape \(40,\)",
    ),
    "alive as integers": (lambda a: {"alive": a["alive"].astype(np.int8)}, "alive must be bool"),
    "a removed point alive again": (
        lambda a: {"alive": np.ones(40, bool)},
        "the FAISS index holds 39 ids but 40 of 40",
    ),
    "points missing": (lambda a: {"points": None}, "missing points"),
    "c and radius missing": (lambda a: {"c": None, "radius": None}, "missing c, radius"),
    "faiss truncated": (
        lambda a: {"faiss": a["faiss"][: len(a["faiss"]) // 2]},
        "the FAISS index cannot be read",
    ),
    "faiss as text": (lambda a: {"faiss": np.array("not faiss")}, "faiss must be 1-D uint8"),
    "faiss of another dimension": (
        lambda a: {"faiss": index_bytes(faiss.IndexFlatIP(4))},
        "index has dimension 4",
    ),
    "faiss with the L2 metric": (
        lambda a: {"faiss": index_bytes(faiss.IndexFlatL2(6))},
        "inner-product",
    ),
    "faiss of an empty index": (
        lambda a: {"faiss": index_bytes(faiss.IndexFlatIP(6))},
        "holds 0 ids but 39",
    ),
    "c NaN": (lambda a: {"c": np.float64(np.nan)}, "c must be finite and > 0"),
    "c zero": (lambda a: {"c": np.float64(0.0)}, "c must be finite and > 0"),
    "c an array": (lambda a: {"c": np.array([2.0, 2.0])}, "c must be a single number"),
    "dim zero": (lambda a: {"dim": np.int64(0)}, "dim must be >= 2"),
    "dim a float": (lambda a: {"dim": np.float64(5.0)}, "dim must be an integer"),
    "rerank zero": (lambda a: {"rerank": np.int64(0)}, "rerank >= 1"),
    "radius infinite": (lambda a: {"radius": np.float64(np.inf)}, "radius must be finite and > 0"),
    "radius NaN": (lambda a: {"radius": np.float64(np.nan)}, "radius must be finite and > 0"),
    "another format": (lambda a: {"format": np.int64(2)}, "unknown LorentzIndex format 2"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_arrays_raise_one_named_error(saved, damage):
    path, arrays = saved
    change, message = DAMAGE[damage]
    rewrite(path, arrays, **change(arrays))
    with pytest.raises(IndexFileError, match=rf"{path.name}: .*{message}"):
        LorentzIndex.load(path)


def test_the_named_error_is_a_value_error():
    # callers that caught ValueError from load before keep working
    assert issubclass(IndexFileError, ValueError)


def test_an_empty_index_round_trips(tmp_path):
    path = tmp_path / "empty.npz"
    LorentzIndex(5, c=0.5).save(path)
    again = LorentzIndex.load(path)
    assert again.ntotal == 0 and again.radius is None and again.c == 0.5
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    rewrite(path, arrays, radius=np.float64(3.0))
    with pytest.raises(IndexFileError, match="an index without points has no radius"):
        LorentzIndex.load(path)
