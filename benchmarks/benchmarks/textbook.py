"""The formulas users run today, what the benchmarks compare lorentz against.

The all-pairs ones are MERU's code transcribed in torch (space components in, time derived,
acosh of the GEMM). The elementwise ones (``dist`` to ``from_poincare``) take ambient arrays
(..., n+1), time first, and the keyword ``c`` as lorentz does, and are written once against the
array API (the namespace of the inputs, from array-api-compat), so the same code runs on numpy,
torch and jax, under jax.jit and autograd: MERU's formulas where MERU has the operation
(exp_map0, log_map0, half_aperture, oxy_angle), geoopt's textbook hyperboloid formulas for the
rest (acosh of the Minkowski product, with the stored time coordinates).
"""

import math

from array_api_compat import array_namespace


def meru_pairwise(x, y, curv=1.0, eps=1e-8):
    """MERU's pairwise_dist on space components, transcribed."""
    import torch

    xt = torch.sqrt(1 / curv + torch.sum(x**2, dim=-1, keepdim=True))
    yt = torch.sqrt(1 / curv + torch.sum(y**2, dim=-1, keepdim=True))
    return torch.acosh(torch.clamp(-curv * (x @ y.T - xt @ yt.T), min=1 + eps)) / curv**0.5


def meru_loss_formula(image, text, curv, scale, entail_weight=0.2, min_radius=0.1, eps=1e-8):
    """MERU's loss on one process, transcribed: logits -scale d and cross-entropy both ways,
    plus its entailment term (half-aperture of the text, exterior angle of the image at it)."""
    import torch

    logits = -scale * meru_pairwise(image, text, curv)
    labels = torch.arange(image.shape[0])
    ce = torch.nn.functional.cross_entropy
    contrastive = 0.5 * (ce(logits, labels) + ce(logits.T, labels))
    aperture = meru_half_aperture(text, curv, min_radius, eps)
    angle = meru_oxy_angle(text, image, curv, eps)
    entailment = torch.clamp(angle - aperture, min=0).mean()
    return contrastive + entail_weight * entailment


def meru_half_aperture(xs, curv=1.0, min_radius=0.1, eps=1e-8):
    """MERU's half_aperture on space components, transcribed."""
    xp = array_namespace(xs)
    asin_input = 2 * min_radius / (xp.linalg.vector_norm(xs, axis=-1) * curv**0.5 + eps)
    return xp.asin(xp.clip(asin_input, min=-1 + eps, max=1 - eps))


def meru_oxy_angle(xs, ys, curv=1.0, eps=1e-8):
    """MERU's oxy_angle (the exterior angle at x) on space components, transcribed: times
    derived from the space parts, acos of a quotient whose numerator cancels."""
    xp = array_namespace(xs, ys)
    x_time = xp.sqrt(1 / curv + xp.sum(xs**2, axis=-1))
    y_time = xp.sqrt(1 / curv + xp.sum(ys**2, axis=-1))
    c_xyl = curv * (xp.sum(xs * ys, axis=-1) - x_time * y_time)
    acos_numer = y_time + c_xyl * x_time
    acos_denom = xp.sqrt(xp.clip(c_xyl**2 - 1, min=eps))
    acos_input = acos_numer / (xp.linalg.vector_norm(xs, axis=-1) * acos_denom + eps)
    return xp.acos(xp.clip(acos_input, min=-1 + eps, max=1 - eps))


# The elementwise operations, ambient arrays in and out. Clamps are where the textbook puts
# them (acosh's argument at 1, norms at eps) so that its gradients stay finite on the benchmark
# inputs; nothing else guards against cancellation.


def _minkowski(x, y, xp):
    """<x,y>_L = sum(x_s y_s) - x_0 y_0 with the stored time coordinates, last axis kept."""
    return xp.sum(x[..., 1:] * y[..., 1:], axis=-1, keepdims=True) - x[..., :1] * y[..., :1]


def dist(x, y, *, c=1.0):
    xp = array_namespace(x, y)
    return xp.acosh(xp.clip(-c * _minkowski(x, y, xp), min=1.0))[..., 0] / c**0.5


def dist0(x, *, c=1.0):
    xp = array_namespace(x)
    return xp.acosh(xp.clip(c**0.5 * x[..., 0], min=1.0)) / c**0.5


def expmap0(u, *, c=1.0, eps=1e-8):
    """MERU's exp_map0 on the space part, then the time coordinate from the space part."""
    xp = array_namespace(u)
    us = u[..., 1:]
    rc_norm = c**0.5 * xp.linalg.vector_norm(us, axis=-1, keepdims=True)
    sinh_input = xp.clip(rc_norm, min=eps, max=math.asinh(2**15))
    xs = xp.sinh(sinh_input) * us / xp.clip(rc_norm, min=eps)
    return xp.concat([xp.sqrt(1 / c + xp.sum(xs**2, axis=-1, keepdims=True)), xs], axis=-1)


def logmap0(y, *, c=1.0, eps=1e-8):
    """MERU's log_map0 on the space part (acosh of the time derived from it), time 0."""
    xp = array_namespace(y)
    ys = y[..., 1:]
    rc_time = xp.sqrt(1 + c * xp.sum(ys**2, axis=-1, keepdims=True))
    distance0 = xp.acosh(xp.clip(rc_time, min=1 + eps))
    us = (
        distance0
        * ys
        / xp.clip(c**0.5 * xp.linalg.vector_norm(ys, axis=-1, keepdims=True), min=eps)
    )
    return xp.concat([xp.zeros_like(y[..., :1]), us], axis=-1)


def expmap(x, u, *, c=1.0, eps=1e-8):
    xp = array_namespace(x, u)
    n = c**0.5 * xp.sqrt(xp.clip(_minkowski(u, u, xp), min=eps))
    return xp.cosh(n) * x + xp.sinh(n) / n * u


def logmap(x, y, *, c=1.0, eps=1e-8):
    xp = array_namespace(x, y)
    a = -c * _minkowski(x, y, xp)
    v = y - a * x
    d = xp.acosh(xp.clip(a, min=1.0)) / c**0.5
    return d * v / xp.sqrt(xp.clip(_minkowski(v, v, xp), min=eps))


def transport(x, y, v, *, c=1.0):
    xp = array_namespace(x, y, v)
    return v + c * _minkowski(y, v, xp) / (1 - c * _minkowski(x, y, xp)) * (x + y)


def half_aperture(x, *, c=1.0, min_radius=0.1, eps=1e-8):
    return meru_half_aperture(x[..., 1:], c, min_radius, eps)


def exterior_angle(x, y, *, c=1.0, eps=1e-8):
    return meru_oxy_angle(x[..., 1:], y[..., 1:], c, eps)


def to_poincare(x, *, c=1.0):
    return x[..., 1:] / (1 + c**0.5 * x[..., :1])


def from_poincare(p, *, c=1.0):
    xp = array_namespace(p)
    cp2 = c * xp.sum(p**2, axis=-1, keepdims=True)
    return xp.concat([(1 + cp2) / (c**0.5 * (1 - cp2)), 2 * p / (1 - cp2)], axis=-1)
