"""The all-pairs algorithm (``_allpairs``) for each array library: torch operators and jax
custom_vjp functions with GEMM backward passes (``_allpairs_torch``, ``_allpairs_jax``);
numpy, cupy and array-api-strict, which have no autograd, call the tiles directly."""

from __future__ import annotations

from . import _allpairs as A


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
