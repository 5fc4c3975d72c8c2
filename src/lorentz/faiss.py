"""Nearest neighbours by geodesic distance on top of FAISS (extra ``faiss``).

Lorentz distance is increasing in -<q,k>_L = q0 k0 - qs.ks, so the key nearest to q is the key
with the largest Euclidean inner product with q' = (-q0, qs): maximum inner-product search,
which every FAISS index built for ``METRIC_INNER_PRODUCT`` does (flat, IVF, HNSW, ...).

Keys go in as k' = (k0, ks, sqrt(R^2 - |k|^2)), queries as (-q0, qs, 0): the extra coordinate
leaves every query-key product equal to <q,k>_L, and puts all keys on one sphere, where a
larger key-key product means a nearer key. Without it, the structures FAISS builds from
key-key products (HNSW's graph, IVF's lists) favour the keys of largest norm, the points far
from the origin: recall@5 of HNSW16 was 0.002 on clustered points. R is the largest key norm
of the first batch added (later keys beyond it get 0: still exact, only less well placed).

:class:`LorentzIndex` re-ranks the candidates by the library's exact distance, so the
distances it returns are exact, and with a flat index its neighbours are :func:`lorentz.knn`'s.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import faiss
import numpy as np

import lorentz

__all__ = ["IndexFileError", "LorentzIndex"]

_FORMAT = 1
# the arrays save writes, with the kind of each: "int" and "float" 0-d, the rest 1-D or 2-D
_FIELDS = {
    "format": "int",
    "dim": "int",
    "rerank": "int",
    "c": "float",
    "radius": "float",
    "faiss": "bytes",
    "points": "points",
    "alive": "alive",
}


class IndexFileError(ValueError):
    """A file :meth:`LorentzIndex.load` cannot take as a saved index: not an ``.npz``, truncated
    or corrupted, an array missing or of the wrong shape or dtype, non-finite values, points off
    the hyperboloid, or a FAISS index that disagrees with the points. The message names the file
    and what is wrong; a low-level cause (zip, numpy, FAISS) is chained as ``__cause__``."""


class LorentzIndex:
    """A FAISS inner-product index over points of the hyperboloid of curvature -c.

    Parameters
    ----------
    dim : int
        Ambient dimension n+1 of the points (time coordinate first).
    index : str or faiss.Index
        A factory string (``"Flat"``, ``"IVF1024,Flat"``, ``"HNSW32"``, ...), built for the
        inner-product metric in dimension dim + 1 (the sphere coordinate), or an index object
        of that dimension whose metric is ``METRIC_INNER_PRODUCT``.
        An untrained index (IVF) is trained on the first points added.
    c : float
        Curvature is -c.
    rerank : int
        Candidates fetched per neighbour asked for (k * rerank), then re-ranked exactly: the
        float32 inner products FAISS compares are off by ~6e-8 x0 k0, which can swap near ties.

    Notes
    -----
    The index keeps the points added (as float32 or float64, as given) for the exact
    re-ranking, next to FAISS's own copy or code; ``remove`` drops ids from FAISS and from
    the results, not from that store. HNSW indexes cannot remove (a FAISS limitation).
    """

    def __init__(self, dim: int, index="Flat", *, c: float = 1.0, rerank: int = 4):
        if not (isinstance(dim, int) and dim >= 2):
            raise ValueError(f"dim must be an integer >= 2 (ambient n + 1), got {dim!r}")
        if not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0):
            raise ValueError(f"c must be a positive finite number, got {c!r}")
        if not (isinstance(rerank, int) and rerank >= 1):
            raise ValueError(f"rerank must be a positive integer, got {rerank!r}")
        if isinstance(index, str):
            index = faiss.index_factory(dim + 1, index, faiss.METRIC_INNER_PRODUCT)
        if not isinstance(index, faiss.Index):
            raise TypeError(
                f"index must be a factory string or a faiss.Index, got {type(index).__name__}"
            )
        if index.metric_type != faiss.METRIC_INNER_PRODUCT:
            raise ValueError("index must use the inner-product metric (faiss.METRIC_INNER_PRODUCT)")
        if index.d != dim + 1:
            raise ValueError(f"index has dimension {index.d}; points of dim={dim} need dim + 1")
        self.dim, self.c, self.rerank = dim, float(c), rerank
        self.index = index if isinstance(index, faiss.IndexIDMap2) else faiss.IndexIDMap2(index)
        self._points: np.ndarray | None = None  # (ntotal_added, dim), row i is id i
        self._alive = np.zeros(0, dtype=bool)
        self.radius: float | None = None  # R of the sphere coordinate, set by the first add

    # ---------------------------------------------------------------- contents
    @property
    def ntotal(self) -> int:
        """Number of points that searches can return."""
        return int(self.index.ntotal)

    def _validate(self, points, name: str) -> np.ndarray:
        a = np.asarray(points)
        if a.ndim != 2 or a.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (N, {self.dim}), got {a.shape}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} has non-finite entries")
        try:
            lorentz.check_point(a, c=self.c)
        except ValueError as e:
            raise ValueError(f"{name}: {e} (c={self.c})") from None
        return a

    def add(self, points) -> np.ndarray:
        """Add points (N, dim); returns their ids (consecutive, in the order added)."""
        a = self._validate(points, "points")
        sq = np.sum(np.square(a, dtype=np.float64), axis=1)
        if self.radius is None:
            self.radius = float(np.sqrt(sq.max()))
        sphere = np.sqrt(np.maximum(self.radius**2 - sq, 0.0))
        vectors = np.concatenate([a, sphere[:, None]], axis=1).astype(np.float32)
        if not self.index.is_trained:
            self.index.train(vectors)
        start = 0 if self._points is None else len(self._points)
        ids = np.arange(start, start + len(a), dtype=np.int64)
        self.index.add_with_ids(vectors, ids)
        self._points = (
            a.copy()
            if self._points is None
            else np.concatenate([self._points, a.astype(self._points.dtype)])
        )
        self._alive = np.concatenate([self._alive, np.ones(len(a), dtype=bool)])
        return ids

    def remove(self, ids) -> int:
        """Remove ids from the index; returns how many were present."""
        ids = np.asarray(ids, dtype=np.int64).ravel()
        try:
            removed = int(self.index.remove_ids(ids))
        except RuntimeError as e:
            raise NotImplementedError(f"this FAISS index cannot remove points: {e}") from None
        known = ids[(ids >= 0) & (ids < len(self._alive))]
        self._alive[known] = False
        return removed

    # ---------------------------------------------------------------- search
    def search(self, queries, k: int, *, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """(distances, ids), both (N, k): the k nearest points by exact geodesic distance among
        the candidates FAISS returns, ascending, ties by the lower id."""
        q = self._validate(queries, "queries")
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"k must be an integer, got {type(k).__name__}")
        k = int(k)  # FAISS's SWIG layer takes Python ints only
        if not 1 <= k <= self.ntotal:
            raise ValueError(
                f"k must be between 1 and the number of points ({self.ntotal}), got {k!r}"
            )
        fetch = min(self.ntotal, k * self.rerank)
        assert self._points is not None  # ntotal >= k >= 1: points were added
        out_d = np.empty((len(q), k), dtype=self._points.dtype)
        out_i = np.empty((len(q), k), dtype=np.int64)
        for s in range(0, len(q), batch):
            qb = q[s : s + batch]
            flipped = np.zeros((len(qb), self.dim + 1), dtype=np.float32)  # never the caller's
            flipped[:, : self.dim] = qb
            flipped[:, 0] *= -1.0  # <q', k'> = -q0 k0 + qs.ks = <q, k>_L
            _, cand = self.index.search(flipped, fetch)
            found = cand >= 0
            safe = np.where(found, cand, 0)
            d = lorentz.dist(
                qb[:, None, :].astype(self._points.dtype), self._points[safe], c=self.c
            )
            d = np.where(found, d, np.inf)
            order = np.lexsort((safe, d), axis=-1)[:, :k]  # by distance, then id
            out_d[s : s + batch] = np.take_along_axis(d, order, axis=1)
            out_i[s : s + batch] = np.take_along_axis(np.where(found, cand, -1), order, axis=1)
        return out_d, out_i

    # ---------------------------------------------------------------- persistence
    def save(self, path) -> None:
        """One ``.npz`` file at exactly ``path`` (numpy would add ``.npz`` to a bare name, which
        :meth:`load` then could not find): FAISS's own serialisation, the points, c and dim."""
        with open(Path(path), "wb") as file:
            np.savez(
                file, format=_FORMAT, faiss=faiss.serialize_index(self.index),
                points=self._points if self._points is not None else np.zeros((0, self.dim)),
                alive=self._alive, c=self.c, dim=self.dim, rerank=self.rerank,
                radius=np.nan if self.radius is None else self.radius,
            )  # fmt: skip

    @classmethod
    def load(cls, path, *, c: float | None = None) -> LorentzIndex:
        """Read an index written by :meth:`save`; ``c``, when given, must be the saved one.

        The file is validated before anything is built from it: every array present with its
        shape and dtype, finite, the points on the hyperboloid of the saved c (to 32 ulp of
        their dtype, as :meth:`add` checks them) and the FAISS index holding exactly the live
        ids. A damaged file raises :class:`IndexFileError`; a path that cannot be opened raises
        the usual ``OSError`` (``FileNotFoundError``, ...).
        """
        path = Path(path)
        saved = _read(path)
        saved_c = float(saved["c"])
        if c is not None and float(c) != saved_c:
            raise ValueError(f"c={c} does not match the saved index's curvature c={saved_c}")
        try:
            index = faiss.deserialize_index(saved["faiss"])
        except RuntimeError as e:  # FAISS reports a truncated or garbled blob this way
            raise IndexFileError(f"{path}: the FAISS index cannot be read: {_first_line(e)}") from e
        try:
            out = cls(int(saved["dim"]), index, c=saved_c, rerank=int(saved["rerank"]))
        except (TypeError, ValueError, RuntimeError) as e:  # RuntimeError: FAISS's own checks
            raise IndexFileError(f"{path}: {_first_line(e)}") from e
        alive = saved["alive"]
        # ids FAISS can return must be exactly the live rows of points, or search would index
        # past them or return removed points
        ids = faiss.vector_to_array(out.index.id_map) if out.ntotal else np.zeros(0, np.int64)
        if not np.array_equal(np.sort(ids), np.flatnonzero(alive)):
            raise IndexFileError(
                f"{path}: the FAISS index holds {out.ntotal} ids but {int(alive.sum())} of "
                f"{len(alive)} points are live, or not the same ones"
            )
        out._alive = alive.copy()
        out.radius = None if np.isnan(saved["radius"]) else float(saved["radius"])
        out._points = saved["points"].copy() if len(alive) else None
        return out


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _read(path: Path) -> dict:
    """Every array of a saved index, validated (see LorentzIndex.load)."""
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise IndexFileError(f"{path}: a single .npy array, not a saved LorentzIndex (.npz)")
        with f:
            missing = [k for k in _FIELDS if k not in f.files]
            if missing:
                raise IndexFileError(
                    f"{path}: not a saved LorentzIndex, missing {', '.join(missing)}"
                )
            # reading a member checks its CRC: a corrupted or truncated member fails here
            saved = {k: f[k] for k in _FIELDS}
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise  # the path, not the file's contents
    except (EOFError, OSError, ValueError, zipfile.BadZipFile, zlib.error) as e:
        if isinstance(e, IndexFileError):
            raise
        # EOFError: empty file; BadZipFile: truncated zip; ValueError: neither zip nor .npy
        # (numpy takes it for a pickle) or a damaged .npy header; zlib.error: a damaged member
        raise IndexFileError(
            f"{path}: not a readable LorentzIndex file ({type(e).__name__}: {_first_line(e)})"
        ) from e
    for name, kind in _FIELDS.items():
        a = saved[name]
        if kind in ("int", "float") and a.shape != ():
            raise IndexFileError(f"{path}: {name} must be a single number, got shape {a.shape}")
        if kind == "int" and a.dtype.kind not in "iu":
            raise IndexFileError(f"{path}: {name} must be an integer, got {a.dtype}")
        if kind == "float" and a.dtype.kind not in "fiu":
            raise IndexFileError(f"{path}: {name} must be a number, got {a.dtype}")
    if int(saved["format"]) != _FORMAT:
        raise IndexFileError(f"{path}: unknown LorentzIndex format {int(saved['format'])}")
    dim, rerank, c = int(saved["dim"]), int(saved["rerank"]), float(saved["c"])
    if dim < 2 or rerank < 1:
        raise IndexFileError(f"{path}: dim must be >= 2 and rerank >= 1, got {dim} and {rerank}")
    if not (math.isfinite(c) and c >= np.finfo(np.float64).tiny):
        raise IndexFileError(f"{path}: c must be finite and > 0, got {c}")
    faiss_bytes, points, alive = saved["faiss"], saved["points"], saved["alive"]
    if faiss_bytes.dtype != np.uint8 or faiss_bytes.ndim != 1:
        raise IndexFileError(
            f"{path}: faiss must be 1-D uint8 bytes, got {faiss_bytes.dtype} "
            f"of shape {faiss_bytes.shape}"
        )
    if points.dtype not in (np.float32, np.float64) or points.ndim != 2 or points.shape[1] != dim:
        raise IndexFileError(
            f"{path}: points must be float32 or float64 of shape (N, {dim}), "
            f"got {points.dtype} of shape {points.shape}"
        )
    if alive.dtype != np.bool_ or alive.shape != points.shape[:1]:
        raise IndexFileError(
            f"{path}: alive must be bool of shape ({len(points)},) as points, "
            f"got {alive.dtype} of shape {alive.shape}"
        )
    radius = float(saved["radius"])
    if len(points):
        if not np.all(np.isfinite(points)):
            bad = int(np.sum(~np.all(np.isfinite(points), axis=1)))
            raise IndexFileError(f"{path}: {bad} of {len(points)} points have non-finite entries")
        try:
            lorentz.check_point(points, c=c)
        except ValueError as e:  # scaled, edited, or saved with another c
            raise IndexFileError(f"{path}: points: {e} (c={c})") from e
        if not (math.isfinite(radius) and radius > 0):
            raise IndexFileError(f"{path}: radius must be finite and > 0, got {radius}")
    elif not math.isnan(radius):
        raise IndexFileError(f"{path}: an index without points has no radius, got {radius}")
    return saved
