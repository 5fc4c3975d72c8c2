"""The numba kernels serving torch CPU tensors: each is a ``torch.library.custom_op`` whose
body hands zero-copy numpy views of its tensors to the kernel and wraps the result without a
copy, with a backward pass that is a compiled kernel too. Opaque to torch.compile (the fake
implementation gives the shapes), so ``torch.compile(fullgraph=True)`` keeps working.

Same signatures as :mod:`lorentz._numba.ops` (``dtype`` the output dtype), so the public
functions call either module alike. ``c`` is a Python float: a learnable curvature takes the
reference path, whose autograd reaches it.
"""

# no "from __future__ import annotations": torch.library reads the operators' annotations
import torch
from torch.library import custom_op, register_autograd

from . import ops


def _np(t):
    return t.detach().numpy()


def _t(a):
    return torch.from_numpy(a)


def _same(dtype, *tensors):
    """The tensors cast to ``dtype`` and broadcast to one shape (both differentiable)."""
    return torch.broadcast_tensors(*(t.to(dtype) for t in tensors))


def _save_inputs(ctx, inputs, output):
    ctx.save_for_backward(*(a for a in inputs if isinstance(a, torch.Tensor)))
    ctx.c = inputs[-1]


# ---------------------------------------------------------------- two-point operations


def _binary(name, forward, backward, out_shape=lambda shape: shape[:-1]):
    """An operator ``lorentz::numba_<name>`` of two ambient arrays of one shape (..., n+1) with
    a result of shape ``out_shape(x.shape)`` ((...) by default), and its backward."""

    @custom_op(f"lorentz::numba_{name}", mutates_args=())
    def op(x: torch.Tensor, y: torch.Tensor, c: float) -> torch.Tensor:
        a = _np(x)
        return _t(forward(a, _np(y), c, a.dtype))

    @op.register_fake
    def _(x, y, c):
        return x.new_empty(out_shape(x.shape))

    @custom_op(f"lorentz::numba_{name}_backward", mutates_args=())
    def op_backward(
        x: torch.Tensor, y: torch.Tensor, c: float, grad: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        gx, gy = backward(_np(x), _np(y), c, _np(grad))
        return _t(gx), _t(gy)

    @op_backward.register_fake
    def _(x, y, c, grad):
        return torch.empty_like(x), torch.empty_like(y)

    register_autograd(
        f"lorentz::numba_{name}",
        lambda ctx, g: (*op_backward(*ctx.saved_tensors, ctx.c, g), None),
        setup_context=_save_inputs,
    )

    def call(x, y, c: float, dtype):
        return op(*_same(dtype, x, y), c)

    return call


dist = _binary("dist", ops.dist, ops.dist_backward)
exterior_angle = _binary("exterior_angle", ops.exterior_angle, ops.exterior_angle_backward)
expmap = _binary("expmap", ops.expmap, ops.expmap_backward, lambda shape: shape)
logmap = _binary("logmap", ops.logmap, ops.logmap_backward, lambda shape: shape)


# ---------------------------------------------------------------- parallel transport


@custom_op("lorentz::numba_transport", mutates_args=())
def _transport(x: torch.Tensor, y: torch.Tensor, v: torch.Tensor, c: float) -> torch.Tensor:
    a = _np(x)
    return _t(ops.transport(a, _np(y), _np(v), c, a.dtype))


@_transport.register_fake
def _(x, y, v, c):
    return torch.empty_like(x)


@custom_op("lorentz::numba_transport_backward", mutates_args=())
def _transport_backward(
    x: torch.Tensor, y: torch.Tensor, v: torch.Tensor, c: float, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(_t(g) for g in ops.transport_backward(_np(x), _np(y), _np(v), c, _np(grad)))


@_transport_backward.register_fake
def _(x, y, v, c, grad):
    return torch.empty_like(x), torch.empty_like(y), torch.empty_like(v)


register_autograd(
    "lorentz::numba_transport",
    lambda ctx, g: (*_transport_backward(*ctx.saved_tensors, ctx.c, g), None),
    setup_context=_save_inputs,
)


def transport(x, y, v, c: float, dtype):
    return _transport(*_same(dtype, x, y, v), c)


# ---------------------------------------------------------------- one-argument operations


def _unary(name, forward, backward, out_shape):
    """An operator ``lorentz::numba_<name>`` of one ambient array and its backward."""

    @custom_op(f"lorentz::numba_{name}", mutates_args=())
    def op(x: torch.Tensor, c: float) -> torch.Tensor:
        a = _np(x)
        return _t(forward(a, c, a.dtype))

    @op.register_fake
    def _(x, c):
        return x.new_empty(out_shape(x.shape))

    @custom_op(f"lorentz::numba_{name}_backward", mutates_args=())
    def op_backward(x: torch.Tensor, c: float, grad: torch.Tensor) -> torch.Tensor:
        return _t(backward(_np(x), c, _np(grad)))

    @op_backward.register_fake
    def _(x, c, grad):
        return torch.empty_like(x)

    register_autograd(
        f"lorentz::numba_{name}",
        lambda ctx, g: (op_backward(*ctx.saved_tensors, ctx.c, g), None),
        setup_context=_save_inputs,
    )

    def call(x, c: float, dtype):
        return op(x.to(dtype), c)

    return call


dist0 = _unary("dist0", ops.dist0, ops.dist0_backward, lambda shape: shape[:-1])
expmap0 = _unary("expmap0", ops.expmap0, ops.expmap0_backward, lambda shape: shape)
logmap0 = _unary("logmap0", ops.logmap0, ops.logmap0_backward, lambda shape: shape)
to_poincare = _unary(
    "to_poincare",
    ops.to_poincare,
    ops.to_poincare_backward,
    lambda shape: (*shape[:-1], shape[-1] - 1),
)
from_poincare = _unary(
    "from_poincare",
    ops.from_poincare,
    ops.from_poincare_backward,
    lambda shape: (*shape[:-1], shape[-1] + 1),
)


# ---------------------------------------------------------------- half-aperture


@custom_op("lorentz::numba_half_aperture", mutates_args=())
def _half_aperture(x: torch.Tensor, c: float, min_radius: float) -> torch.Tensor:
    a = _np(x)
    return _t(ops.half_aperture(a, c, min_radius, a.dtype))


@_half_aperture.register_fake
def _(x, c, min_radius):
    return x.new_empty(x.shape[:-1])


@custom_op("lorentz::numba_half_aperture_backward", mutates_args=())
def _half_aperture_backward(
    x: torch.Tensor, c: float, min_radius: float, grad: torch.Tensor
) -> torch.Tensor:
    return _t(ops.half_aperture_backward(_np(x), c, min_radius, _np(grad)))


@_half_aperture_backward.register_fake
def _(x, c, min_radius, grad):
    return torch.empty_like(x)


def _save_half_aperture(ctx, inputs, output):
    ctx.save_for_backward(inputs[0])
    ctx.c, ctx.min_radius = inputs[1], inputs[2]


register_autograd(
    "lorentz::numba_half_aperture",
    lambda ctx, g: (
        _half_aperture_backward(*ctx.saved_tensors, ctx.c, ctx.min_radius, g),
        None,
        None,
    ),
    setup_context=_save_half_aperture,
)


def half_aperture(x, c: float, min_radius: float, dtype):
    return _half_aperture(x.to(dtype), c, min_radius)
