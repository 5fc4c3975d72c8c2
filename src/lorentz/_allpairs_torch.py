"""The all-pairs tiles (``_allpairs``) as torch operators with gradients.

Each pass is a ``torch.library.custom_op`` with a fake (shape-only) implementation: opaque to
torch.compile, so ``torch.compile(fullgraph=True)`` traces through it without a graph break,
and the data-dependent recompute runs inside, eagerly. The backward passes are operators too.
"""

# no "from __future__ import annotations": torch.library reads the operators' annotations
import torch
from array_api_compat import torch as xp
from torch.library import custom_op, register_autograd

from . import _allpairs as A
from ._allpairs_autodiff import scalar_c as _scalar_c


def c1(c):
    return c.reshape((1,))


@custom_op("lorentz::allpairs_dist", mutates_args=())
def dist(xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return A.pairwise_dist(xs, ys, c1(c), xp=xp)


@dist.register_fake
def _(xs, ys, c):
    return xs.new_empty((*xs.shape[:-1], ys.shape[-2]))


@custom_op("lorentz::allpairs_dist_backward", mutates_args=())
def dist_backward(
    xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, d: torch.Tensor, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gx, gy, gc = A.pairwise_dist_grads(grad, d, xs, ys, c1(c), xp=xp)
    return gx.to(xs.dtype), gy.to(ys.dtype), torch.as_tensor(gc).to(c.dtype).reshape(c.shape)


@dist_backward.register_fake
def _(xs, ys, c, d, grad):
    return torch.empty_like(xs), torch.empty_like(ys), torch.empty_like(c)


def dist_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs, output)


register_autograd(
    "lorentz::allpairs_dist",
    lambda ctx, g: dist_backward(*ctx.saved_tensors, g),
    setup_context=dist_setup,
)


@custom_op("lorentz::allpairs_lse", mutates_args=())
def lse(
    xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, scale: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return A.neg_dist_lse(xs, ys, c1(c), scale, xp=xp)


@lse.register_fake
def _(xs, ys, c, scale):
    n, m = xs.shape[0], ys.shape[0]
    tile = (n, m) if A.keeps_tile(n, m) else (0, 0)
    return (
        xs.new_empty((n,), dtype=c.dtype),
        xs.new_empty((m,), dtype=c.dtype),
        xs.new_empty(tile, dtype=c.dtype),
    )


@custom_op("lorentz::allpairs_lse_backward", mutates_args=())
def lse_backward(
    xs: torch.Tensor,
    ys: torch.Tensor,
    c: torch.Tensor,
    scale: torch.Tensor,
    row: torch.Tensor,
    col: torch.Tensor,
    tile: torch.Tensor,
    g_row: torch.Tensor,
    g_col: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gx, gy, gc, gs = A.neg_dist_lse_grads(g_row, g_col, row, col, tile, xs, ys, c1(c), scale, xp=xp)
    return (
        gx.to(xs.dtype),
        gy.to(ys.dtype),
        torch.as_tensor(gc).to(c.dtype).reshape(c.shape),
        torch.as_tensor(gs).to(scale.dtype).reshape(scale.shape),
    )


@lse_backward.register_fake
def _(xs, ys, c, scale, row, col, tile, g_row, g_col):
    return torch.empty_like(xs), torch.empty_like(ys), torch.empty_like(c), torch.empty_like(scale)


def lse_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs, *output)


def lse_grad(ctx, g_row, g_col, _):
    xs, ys, c, scale, row, col, tile = ctx.saved_tensors
    g_row = torch.zeros_like(row) if g_row is None else g_row
    g_col = torch.zeros_like(col) if g_col is None else g_col
    return lse_backward(xs, ys, c, scale, row, col, tile, g_row, g_col)


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
        return lse(xs, ys, cc, torch.as_tensor(scale, dtype=cc.dtype, device=xs.device))[:2]

    def knn_indices(self, qs, ks, k, c):
        return knn(qs, ks, _scalar_c(c, xp, qs).detach(), k)


OPS = Ops()
