"""The all-pairs tiles (``_allpairs``) as jax functions with gradients: ``jax.custom_vjp``
whose forward and backward passes are the tiles; their recompute loops are
``lax.while_loop``s over fixed-size chunks, so both passes run under ``jax.jit``."""

from __future__ import annotations

import jax
import jax.numpy as xp

from . import _allpairs as A
from ._allpairs_autodiff import scalar_c as _scalar_c


@jax.custom_vjp
def dist(xs, ys, c):
    return A.pairwise_dist(xs, ys, c, xp=xp)


def dist_fwd(xs, ys, c):
    d = dist(xs, ys, c)
    return d, (xs, ys, c, d)


def dist_bwd(res, g):
    xs, ys, c, d = res
    gx, gy, gc = A.pairwise_dist_grads(g, d, xs, ys, c, xp=xp)
    return gx.astype(xs.dtype), gy.astype(ys.dtype), xp.reshape(gc, c.shape).astype(c.dtype)


dist.defvjp(dist_fwd, dist_bwd)


@jax.custom_vjp
def lse(xs, ys, c, scale):
    return A.neg_dist_lse(xs, ys, c, scale, xp=xp)[:2]


def lse_fwd(xs, ys, c, scale):
    row, col, tile = A.neg_dist_lse(xs, ys, c, scale, xp=xp)
    return (row, col), (xs, ys, c, scale, row, col, tile)


def lse_bwd(res, g):
    xs, ys, c, scale, row, col, tile = res
    gx, gy, gc, gs = A.neg_dist_lse_grads(g[0], g[1], row, col, tile, xs, ys, c, scale, xp=xp)
    return (
        gx.astype(xs.dtype),
        gy.astype(ys.dtype),
        xp.reshape(gc, c.shape).astype(c.dtype),
        xp.reshape(gs, xp.shape(scale)).astype(scale.dtype),
    )


lse.defvjp(lse_fwd, lse_bwd)


class Ops:
    def pairwise_dist(self, xs, ys, c):
        return dist(xs, ys, _scalar_c(c, xp, xs))

    def neg_dist_lse(self, xs, ys, c, scale):
        cc = _scalar_c(c, xp, xs)
        return lse(xs, ys, cc, xp.asarray(scale, dtype=cc.dtype))

    def knn_indices(self, qs, ks, k, c):
        return A.knn_indices(
            jax.lax.stop_gradient(qs),
            jax.lax.stop_gradient(ks),
            k,
            jax.lax.stop_gradient(_scalar_c(c, xp, qs)),
            xp=xp,
        )


OPS = Ops()
