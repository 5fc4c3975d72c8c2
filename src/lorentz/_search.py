"""Public nearest-neighbour search."""

from __future__ import annotations

import operator

from ._registry import call
from ._typing import Array


def knn(
    queries: Array,
    keys: Array,
    k: int,
    *,
    c: float | Array = 1.0,
    implementation: str | None = None,
) -> tuple[Array, Array]:
    r"""The ``k`` keys nearest to each query by geodesic distance.

    Parameters
    ----------
    queries : array, shape (N, n+1)
    keys : array, shape (M, n+1)
        Points, time first.
    k : int
        Neighbours per query, 1 <= k <= M.
    c : float or 0-d array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba", "triton"}
        None picks the Triton kernels for CUDA tensors (float16/bfloat16/float32, scalar
        ``c``) and numba for numpy float32/float64 inputs (scalar ``c``) when installed.

    Returns
    -------
    distances : array, shape (N, k)
        Ascending; same dtype as the inputs, accurate as :func:`dist`.
    indices : array of int64, shape (N, k)
        Rows of ``keys``; ties are broken by the lower index.

    Notes
    -----
    The N x M distance matrix is never formed: memory is O(N k) plus fixed-size tiles
    (16 MiB; the Triton kernels: O(N (k + 4096))); work is that of :func:`pairwise_dist`.
    The returned distances are those of :func:`dist` on the chosen pairs: accurate as
    :func:`dist`, with its gradients. Neighbours agree with an exact sort of the exact
    distances except where two distances tie within a few ulp. A NaN key is nobody's
    neighbour; a NaN query gets NaN distances.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> keys = lorentz.expmap0(np.array([[0.0, 0.0], [0.0, 1.0], [0.0, -3.0]]))
    >>> d, i = lorentz.knn(keys[:1], keys, 2)
    >>> i.tolist(), np.round(d, 12).tolist()
    ([[0, 1]], [[0.0, 1.0]])
    """
    if isinstance(k, bool):  # operator.index takes True as 1
        raise TypeError("k must be an integer, got bool")
    try:
        k = operator.index(k)
    except TypeError:
        raise TypeError(f"k must be an integer, got {type(k).__name__}") from None
    return call("knn", implementation, c=c, keepdim=False, extra=(k,), queries=queries, keys=keys)
