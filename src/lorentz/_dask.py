"""dask arrays (extra ``dask``): the core's element- and row-wise formulas run on them through
array-api-compat unchanged and stay lazy; this module adds the block-wise forms of the two
all-pairs operations, whose reference versions slice and sort along rows, as the "dask"
implementation behind the registry's contract (lorentz._registry).

Each block is computed through the registry on the block's numpy arrays, so it takes the
same implementation (numba where installed) and accuracy as an in-memory call.
"""

from __future__ import annotations

import numpy as np

KERNELS = {"dask": frozenset({"pairwise_dist", "knn"})}


def is_dask(xp) -> bool:
    return getattr(xp, "__name__", "").endswith("dask.array")


def why_not(op, xp, c, dtype, device) -> str | None:
    return None if is_dask(xp) else "the dask kernels take dask arrays"


def kernel(op: str, library: str):
    if op == "knn":  # the registry passes (queries, keys, c, k, dtype)
        return lambda q, keys, c, k, dtype: knn(q, keys, k, scalar(c))
    return lambda x, y, c, dtype: pairwise_dist(x, y, scalar(c))


def _call(op, *args, **kwargs):
    from ._registry import call

    return call(op, *args, **kwargs)


def scalar(c) -> float:
    """The curvature as a float for the blocks (an array c has one element here: the callers
    have already refused any other)."""
    return c if isinstance(c, float) else float(c.reshape(()))


def _rows(a):
    """Rows chunked as given, the coordinate axis in one chunk (a point is never split)."""
    return a.rechunk({1: -1})


def pairwise_dist(x, y, c: float):
    """(N, M) distances, one (x-chunk, y-chunk) block per task."""
    import dask.array as da

    def block(a, b):
        return _call("pairwise_dist", c=c, x=a, y=b)

    return da.blockwise(
        block, "ij", _rows(x), "ik", _rows(y), "jk", dtype=x.dtype, concatenate=True
    )


def knn(queries, keys, k: int, c: float):
    """Per query chunk: the k nearest within every key chunk, then one stable merge (key
    chunks in order, so equal distances keep the lower index). Memory per task: one query
    chunk's (rows, k) candidates per key chunk, never a distance matrix."""
    import dask
    import dask.array as da

    def part(q, key, offset):
        d, i = _call("knn", c=c, extra=(min(k, len(key)),), queries=q, keys=key)
        return d, i + offset

    def merge(parts):
        d = np.concatenate([p[0] for p in parts], axis=1)
        i = np.concatenate([p[1] for p in parts], axis=1)
        order = np.argsort(d, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)

    q, key = _rows(queries), _rows(keys)
    offsets = np.cumsum((0,) + key.chunks[0][:-1])
    key_blocks = key.to_delayed().ravel()
    distances, indices = [], []
    for q_block, rows in zip(q.to_delayed().ravel(), q.chunks[0]):
        merged = dask.delayed(merge)(
            [dask.delayed(part, nout=2)(q_block, b, int(o)) for b, o in zip(key_blocks, offsets)]
        )
        distances.append(da.from_delayed(merged[0], (rows, k), dtype=queries.dtype))
        indices.append(da.from_delayed(merged[1], (rows, k), dtype=np.int64))
    return da.concatenate(distances, axis=0), da.concatenate(indices, axis=0)
