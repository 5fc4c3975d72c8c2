"""The all-pairs algorithm (``_allpairs``) with gradients: torch operators and jax custom_vjp
functions whose forward and backward passes are the array-API tiles; other libraries (numpy,
cupy, array-api-strict: no autograd) call the tiles directly.

torch: each pass is a ``torch.library.custom_op`` with a fake (shape-only) implementation,
opaque to torch.compile, so ``torch.compile(fullgraph=True)`` traces through it without a
graph break; the data-dependent recompute runs inside, eagerly. jax: ``jax.custom_vjp``; the
recompute loops are ``lax.while_loop``s over fixed-size chunks, so both passes jit.
"""


# no "from __future__ import annotations": torch.library reads the operators' annotations
import functools

from . import _allpairs as A


def _scalar_c(c, xp, like):
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
        return A.neg_dist_lse(xs[None], ys[None], c, scale, xp=self.xp)

    def knn_indices(self, qs, ks, k, c):
        return A.knn_indices(qs, ks, k, c, xp=self.xp)


@functools.cache
def _torch():
    import torch
    from array_api_compat import torch as xp
    from torch.library import custom_op, register_autograd

    def c1(c):
        return c.reshape((1,))

    @custom_op("lorentz::allpairs_dist", mutates_args=())
    def dist(xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return A.pairwise_dist(xs, ys, c1(c), xp=xp)

    @dist.register_fake
    def _(xs, ys, c):
        return xs.new_empty((*xs.shape[:-1], ys.shape[-2]))

    @custom_op("lorentz::allpairs_dist_backward", mutates_args=())
    def dist_backward(xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, d: torch.Tensor,
                      grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gx, gy, gc = A.pairwise_dist_grads(grad, d, xs, ys, c1(c), xp=xp)
        return gx.to(xs.dtype), gy.to(ys.dtype), torch.as_tensor(gc).to(c.dtype).reshape(c.shape)

    @dist_backward.register_fake
    def _(xs, ys, c, d, grad):
        return torch.empty_like(xs), torch.empty_like(ys), torch.empty_like(c)

    def dist_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs, output)

    register_autograd("lorentz::allpairs_dist",
                      lambda ctx, g: dist_backward(*ctx.saved_tensors, g), setup_context=dist_setup)

    @custom_op("lorentz::allpairs_lse", mutates_args=())
    def lse(xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor,
            scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return A.neg_dist_lse(xs[None], ys[None], c1(c), scale, xp=xp)

    @lse.register_fake
    def _(xs, ys, c, scale):
        return xs.new_empty((xs.shape[0],), dtype=c.dtype), xs.new_empty((ys.shape[0],), dtype=c.dtype)

    @custom_op("lorentz::allpairs_lse_backward", mutates_args=())
    def lse_backward(xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, scale: torch.Tensor,
                     row: torch.Tensor, col: torch.Tensor, g_row: torch.Tensor,
                     g_col: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        gx, gy, gc, gs = A.neg_dist_lse_grads(g_row, g_col, row, col, xs[None], ys[None],
                                              c1(c), scale, xp=xp)
        return (gx[0].to(xs.dtype), gy[0].to(ys.dtype), torch.as_tensor(gc).to(c.dtype).reshape(c.shape),
                torch.as_tensor(gs).to(scale.dtype).reshape(scale.shape))

    @lse_backward.register_fake
    def _(xs, ys, c, scale, row, col, g_row, g_col):
        return torch.empty_like(xs), torch.empty_like(ys), torch.empty_like(c), torch.empty_like(scale)

    def lse_setup(ctx, inputs, output):
        ctx.save_for_backward(*inputs, *output)

    def lse_grad(ctx, g_row, g_col):
        xs, ys, c, scale, row, col = ctx.saved_tensors
        g_row = torch.zeros_like(row) if g_row is None else g_row
        g_col = torch.zeros_like(col) if g_col is None else g_col
        return lse_backward(xs, ys, c, scale, row, col, g_row, g_col)

    register_autograd("lorentz::allpairs_lse", lse_grad, setup_context=lse_setup)

    @custom_op("lorentz::allpairs_knn", mutates_args=())
    def knn(qs: torch.Tensor, ks: torch.Tensor, c: torch.Tensor, k: int) -> torch.Tensor:
        return A.knn_indices(qs, ks, k, c1(c), xp=xp)

    @knn.register_fake
    def _(qs, ks, c, k):
        return qs.new_empty((qs.shape[0], k), dtype=torch.int64)

    class Ops:
        def pairwise_dist(self, xs, ys, c):
            return dist(xs, ys, _scalar_c(c, xp, xs))

        def neg_dist_lse(self, xs, ys, c, scale):
            cc = _scalar_c(c, xp, xs)
            return lse(xs, ys, cc, torch.as_tensor(scale, dtype=cc.dtype, device=xs.device))

        def knn_indices(self, qs, ks, k, c):
            return knn(qs, ks, _scalar_c(c, xp, qs).detach(), k)

    return Ops()


@functools.cache
def _jax():
    import jax
    import jax.numpy as xp

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
        return A.neg_dist_lse(xs[None], ys[None], c, scale, xp=xp)

    def lse_fwd(xs, ys, c, scale):
        out = lse(xs, ys, c, scale)
        return out, (xs, ys, c, scale, *out)

    def lse_bwd(res, g):
        xs, ys, c, scale, row, col = res
        gx, gy, gc, gs = A.neg_dist_lse_grads(g[0], g[1], row, col, xs[None], ys[None], c,
                                              scale, xp=xp)
        return (gx[0].astype(xs.dtype), gy[0].astype(ys.dtype),
                xp.reshape(gc, c.shape).astype(c.dtype), xp.reshape(gs, xp.shape(scale)).astype(scale.dtype))

    lse.defvjp(lse_fwd, lse_bwd)

    class Ops:
        def pairwise_dist(self, xs, ys, c):
            return dist(xs, ys, _scalar_c(c, xp, xs))

        def neg_dist_lse(self, xs, ys, c, scale):
            cc = _scalar_c(c, xp, xs)
            return lse(xs, ys, cc, xp.asarray(scale, dtype=cc.dtype))

        def knn_indices(self, qs, ks, k, c):
            return A.knn_indices(jax.lax.stop_gradient(qs), jax.lax.stop_gradient(ks), k,
                                 jax.lax.stop_gradient(_scalar_c(c, xp, qs)), xp=xp)

    return Ops()


def ops(xp):
    """The all-pairs passes for arrays of namespace ``xp``, with gradients where it has them."""
    if A.is_torch(xp):
        return _torch()
    if A.is_jax(xp):
        return _jax()
    return _Plain(xp)
