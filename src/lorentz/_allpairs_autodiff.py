"""The all-pairs algorithm (``_allpairs``) for each array library: torch operators and jax
custom_vjp functions with GEMM backward passes (``_allpairs_torch``, ``_allpairs_jax``);
numpy, cupy and array-api-strict, which have no autograd, call the tiles directly."""

from __future__ import annotations

import math

from . import _allpairs as A
from . import _reference as ref
from ._arguments import _broadcast, as_dtype, check_fits, to_work


def scalar_c(c, xp, like):
    """c as a (1,) array of the work dtype (a float becomes one, without a gradient)."""
    work = A.compute_dtype(xp, getattr(like, "device", None))
    if isinstance(c, float):
        return xp.asarray([c], dtype=work, device=getattr(like, "device", None))
    return xp.reshape(xp.astype(c, work), (1,))


class _Plain:
    """numpy, cupy, array-api-strict: no autograd to record."""

    def __init__(self, xp):
        self.xp = xp

    def pairwise_dist(self, xs, ys, c):
        return A.pairwise_dist(xs, ys, c, xp=self.xp)

    def neg_dist_lse(self, xs, ys, c, scale):
        return A.neg_dist_lse(xs, ys, c, scale, xp=self.xp)[:2]

    def knn_indices(self, qs, ks, k, c):
        return A.knn_indices(qs, ks, k, c, xp=self.xp)


def ops(xp):
    """The all-pairs passes for arrays of namespace ``xp``, with gradients where it has them."""
    if A.is_torch(xp):
        from ._allpairs_torch import OPS

        return OPS
    if A.is_jax(xp):
        from ._allpairs_jax import OPS

        return OPS
    return _Plain(xp)


# The all-pairs operations as the registry calls them: arguments validated by prepare, as
# given (the passes choose their own precision).


def neg_dist_lse(xs, ys, c, scale, *, xp):
    """The reference of MERU's contrastive term: per row of xs, log sum_j exp(-scale d(x, y_j))
    over the rows of ys (and the same per row of ys), streamed over GEMM tiles."""
    return ops(xp).neg_dist_lse(xs, ys, c, scale)


def pairwise_dist(x, y, c, *, xp):
    """The reference of lorentz.pairwise_dist: (..., N, M), leading dimensions broadcast."""
    lead = _broadcast({"x": tuple(x.shape[:-2]), "y": tuple(y.shape[:-2])})
    dtype = xp.result_type(x, y)
    n, m, k, nb = x.shape[-2], y.shape[-2], x.shape[-1] - 1, math.prod(lead)
    xs = xp.reshape(xp.broadcast_to(as_dtype(xp, x[..., 1:], dtype), (*lead, n, k)), (nb, n, k))
    ys = xp.reshape(xp.broadcast_to(as_dtype(xp, y[..., 1:], dtype), (*lead, m, k)), (nb, m, k))
    return xp.reshape(ops(xp).pairwise_dist(xs, ys, c), (*lead, n, m))


def knn(q, kk, c, k, *, xp):
    """The reference of lorentz.knn: the indices from GEMM tiles (no gradient), then the
    distances of the chosen pairs by the exact, differentiable dist (N k pairs)."""
    dtype = xp.result_type(q, kk)
    i = ops(xp).knn_indices(as_dtype(xp, q[:, 1:], dtype), as_dtype(xp, kk[:, 1:], dtype), k, c)
    q, kk = to_work(xp, q, kk)
    near = xp.reshape(xp.take(kk, xp.reshape(i, (-1,)), axis=0), (q.shape[0], k, kk.shape[1]))
    return ref.dist(q[:, None, :], near, c, xp=xp), i


def scalar_only(what):
    def validate(xp, c, *arrays):
        if not isinstance(c, float) and c.ndim > 1:
            raise ValueError(f"c must be a scalar for {what}, got shape {tuple(c.shape[:-1])}")

    return validate


def two_d(x, y) -> str | None:
    """Why the all-pairs kernels cannot take these rows (they take 2-D x and y), or None."""
    if x.ndim == 2 and y.ndim == 2:
        return None
    return (
        f"takes 2-D x and y; batched inputs {tuple(x.shape)}, {tuple(y.shape)} take the reference"
    )


def check_output(chosen, xp, dtype, x, y):
    """One memory check for every implementation, before any work (numba and Triton allocate
    the output first; the reference holds its row blocks and then their concatenation); dask
    holds blocks only."""
    if chosen == "dask":
        return
    lead = _broadcast({"x": tuple(x.shape[:-2]), "y": tuple(y.shape[:-2])})
    rows, cols = x.shape[-2], y.shape[-2]
    check_fits(
        "pairwise_dist",
        (*lead, rows, cols),
        dtype,
        xp,
        getattr(x, "device", None),
        copies=2 if chosen == "reference" and A.row_step(rows, cols) < rows else 1,
        instead="for nearest neighbours use lorentz.knn (no N x M matrix), or compute "
        "blocks of rows, pairwise_dist(x[i:i + b], y), reducing each in turn",
    )


def knn_args(xp, c, q, kk, k):
    scalar_only("knn")(xp, c)
    if q.ndim != 2 or kk.ndim != 2:
        raise ValueError(
            f"queries and keys must have shape (N, n+1), got {tuple(q.shape)} and {tuple(kk.shape)}"
        )
    if not 1 <= k <= kk.shape[0]:
        raise ValueError(f"k must be between 1 and the number of keys ({kk.shape[0]}), got {k}")
