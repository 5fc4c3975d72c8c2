"""MERU's functions with MERU's names and signatures, on space-only arrays.

MERU (Desai et al., ICML 2023) stores a point by its space components x (time implicit,
x0 = sqrt(1/curv + |x|^2)) with curvature -curv. These drop-ins take any array library and
use the library's exact formulas. ``eps`` is accepted for compatibility and changes nothing:
no clamp is needed (MERU's 1 + 1e-8 clamp is a no-op in float32 and a floor of
acosh(1 + 1e-8) / sqrt(curv) = 1.4e-4 / sqrt(curv) on distances in float64).
"""

from __future__ import annotations

import math
import sys

import numpy as np

import lorentz

from .._arguments import _check_dtype, curvature, namespace


def _checked(curv, **arrays):
    """(xp, curv), validated under MERU's names (x, y, curv) before anything indexes the
    arrays: the library's own checks would name its arguments (xs, c), and a 0-d array would
    fail first with an IndexError."""
    xp = namespace(**arrays)
    for name, a in arrays.items():
        _check_dtype(name, a, xp)
        if a.ndim == 0:
            raise ValueError(f"{name} must have shape (..., n), got a 0-d array")
    if isinstance(curv, (bool, np.bool_)):
        raise TypeError(
            "curv must be a positive real number or a real floating-point array, got bool"
        )
    if isinstance(curv, (int, float, np.integer, np.floating)):
        if not (math.isfinite(float(curv)) and float(curv) >= sys.float_info.min):
            # a subnormal curv passes curv > 0 but overflows 1/curv
            raise ValueError(f"curv must be finite and > 0 with 1/curv finite, got {float(curv)}")
        return xp, float(curv)  # a numpy scalar goes with any library as a float
    if math.prod(getattr(curv, "shape", ())) != 1:  # MERU's curvature is one number
        raise ValueError(f"curv must be one value, got shape {tuple(curv.shape)}")
    try:
        curvature(curv, xp, curv.dtype if hasattr(curv, "dtype") else None, ())
    except (TypeError, ValueError) as e:
        message = str(e).replace("c must", "curv must").replace("c comes", "curv comes")
        raise type(e)(message) from None
    return xp, curv


def _point(x, curv):
    return lorentz.from_space(x, c=curv)


def _tangent0(x):
    xp = namespace(x=x)
    return xp.concat([xp.zeros_like(x[..., :1]), x], axis=-1)


def _frozen(a):
    """The values of ``a`` without a derivative through them (torch, jax); other libraries
    do not differentiate, so ``a`` itself."""
    module = type(a).__module__
    if module.startswith("torch"):
        return a.detach()
    if module.startswith("jax"):
        import jax

        return jax.lax.stop_gradient(a)
    return a


def _curv_has_derivative(curv) -> bool:
    module = type(curv).__module__
    if module.startswith("torch"):
        import torch

        return bool(curv.requires_grad) and torch.is_grad_enabled()
    return module.startswith("jax")  # traced or not: a jax array may be differentiated


def pairwise_inner(x, y, curv=1.0):
    """Lorentzian inner products of all pairs, (B, n) x (M, n) -> (B, M).

    The value is formed as -cosh(sqrt(curv) d)/curv from the exact distance, so it is accurate
    to a few ulp relative where x @ y.T - x0 y0^T loses digits to cancellation.

    Its derivative with respect to a differentiable ``curv`` (the space parts held fixed, time
    parts x0 = sqrt(1/curv + |x|^2) following it) is taken from the closed form
    d<x,y>_L/dcurv = (y0/x0 + x0/y0) / (2 curv^2), a sum of positive terms, rather than
    through the distance, where differentiating cosh(sqrt(curv) d(curv))/curv subtracts two
    nearly equal terms for points far from the origin (the measurement: docs/meru.md).
    """
    xp, curv = _checked(curv, x=x, y=y)
    if not _curv_has_derivative(curv):
        d = lorentz.pairwise_dist(_point(x, curv), _point(y, curv), c=curv)
        s = curv**0.5 if isinstance(curv, (int, float)) else xp.sqrt(curv)
        with np.errstate(over="ignore"):  # -inf where the inner product itself overflows
            return -xp.cosh(s * d) / curv
    fixed = _frozen(curv)  # the value's x and y derivatives at fixed curvature
    d = lorentz.pairwise_dist(_point(x, fixed), _point(y, fixed), c=fixed)
    with np.errstate(over="ignore"):
        value = -xp.cosh(xp.sqrt(fixed) * d) / fixed
    # time parts from the library (scaled, no overflow of |x|^2 before x0 itself overflows)
    x0 = _point(_frozen(x), fixed)[..., :1]
    y0 = xp.matrix_transpose(_point(_frozen(y), fixed)[..., :1])
    r = y0 / x0
    slope = ((r + 1 / r) / (2 * fixed)) / fixed
    # an infinite slope (a ratio past the dtype's range) would make the zero below NaN
    big = xp.asarray(xp.finfo(slope.dtype).max, dtype=slope.dtype)
    slope = xp.where(xp.isinf(slope), big, slope)
    # (curv - curv) is exactly 0: the value is unchanged and d/dcurv is the closed form
    return value + (curv - fixed) * _frozen(slope)


def pairwise_dist(x, y, curv=1.0, eps=1e-8):
    """Geodesic distances of all pairs, (B, n) x (M, n) -> (B, M). ``eps`` is ignored."""
    _, curv = _checked(curv, x=x, y=y)
    return lorentz.pairwise_dist(_point(x, curv), _point(y, curv), c=curv)


def exp_map0(x, curv=1.0, eps=1e-8):
    """Exponential map at the origin of tangent vectors given by their space part; returns
    space components. MERU clamps sqrt(curv)|x| to asinh(2**15) to avoid float32 overflow;
    here sinh overflows to inf only where the result itself is not representable."""
    _, curv = _checked(curv, x=x)
    return lorentz.to_space(lorentz.expmap0(_tangent0(x), c=curv))


def log_map0(x, curv=1.0, eps=1e-8):
    """Logarithmic map at the origin; space components in and out (MERU's returns 0 for
    |x| <= 1e-4 in float32; this one is exact there)."""
    _, curv = _checked(curv, x=x)
    return lorentz.to_space(lorentz.logmap0(_point(x, curv), c=curv))


def half_aperture(x, curv=1.0, min_radius=0.1, eps=1e-8):
    """Half-aperture of the entailment cone at x: asin(min(1, 2K / (sqrt(curv)|x|)))."""
    _, curv = _checked(curv, x=x)
    return lorentz.half_aperture(_point(x, curv), c=curv, min_radius=min_radius)


def oxy_angle(x, y, curv=1.0, eps=1e-8):
    """Exterior angle at x between the ray from the origin and the geodesic to y."""
    _, curv = _checked(curv, x=x, y=y)
    return lorentz.exterior_angle(_point(x, curv), _point(y, curv), c=curv)
