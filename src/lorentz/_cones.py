"""Public entailment-cone quantities (MERU, Desai et al. 2023; Ganea et al. 2018)."""

from __future__ import annotations

import math

import numpy as np

from ._arguments import flag
from ._registry import call
from ._typing import Array


def half_aperture(
    x: Array,
    *,
    c: float | Array = 1.0,
    min_radius: float = 0.1,
    keepdim: bool = False,
    implementation: str | None = None,
) -> Array:
    r"""Half-aperture of the entailment cone at ``x``:
    :math:`\arcsin\min(1, 2K/(\sqrt{c}|x_s|))`, :math:`K` = ``min_radius``.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Cone apex (only the space part is read).
    c : float or array
        Curvature is :math:`-c`.
    min_radius : float
        MERU's K (> 0): points with :math:`\sqrt{c}|x_s| \le 2K` get the full :math:`\pi/2`.
    keepdim : bool
        Keep the reduced last axis.
    implementation : {None, "reference", "numba"}
        None picks the compiled numba kernel for numpy arrays and torch CPU tensors
        (float32/float64, a Python float ``c``) when installed, else the array-API reference.

    Returns
    -------
    array, shape (...) or (..., 1)
        Angles in :math:`[0, \pi/2]`.

    Notes
    -----
    Equal to :math:`\operatorname{atan2}(2K, \sqrt{(n-2K)(n+2K)})`, :math:`n=\sqrt{c}|x_s|`.
    Absolute error <= 2e-6 rad (float32) / 1e-12 rad (float64) against mpmath on the rounded
    inputs. Gradient 0 where the aperture is :math:`\pi/2` (the origin included); just
    outside, it grows like :math:`1/\sqrt{n - 2K}`, as the exact derivative does.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> round(float(lorentz.half_aperture(np.array([1.0, 0.0]))), 12) == round(np.pi / 2, 12)
    True
    """
    keepdim = flag("keepdim", keepdim)
    if isinstance(min_radius, (bool, np.bool_)) or not isinstance(
        min_radius, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"min_radius must be a positive float, got {type(min_radius).__name__}")
    if not (math.isfinite(min_radius) and min_radius > 0):
        raise ValueError(f"min_radius must be finite and > 0, got {min_radius}")
    return call(
        "half_aperture", implementation, c=c, keepdim=keepdim, extra=(float(min_radius),), x=x
    )


def exterior_angle(
    x: Array,
    y: Array,
    *,
    c: float | Array = 1.0,
    keepdim: bool = False,
    implementation: str | None = None,
) -> Array:
    r"""Exterior angle: the angle at ``x`` between the geodesic from ``x`` to ``y`` and the ray
    from the origin through ``x`` (MERU's ``oxy_angle``), in :math:`[0, \pi]`.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Cone apex (only the space part is read).
    y : array, shape (..., n+1)
        Other point.
    c : float or array
        Curvature is :math:`-c`.
    keepdim : bool
        Keep the reduced last axis.
    implementation : {None, "reference", "numba"}
        As for :func:`half_aperture`.

    Returns
    -------
    array, shape (...) or (..., 1)
        Angles in :math:`[0, \pi]`.

    Notes
    -----
    :math:`\operatorname{atan2}(\sqrt{c}\,x_0|D_\perp|,\ \hat x_s\cdot D - u|x_s|)` with
    :math:`D = y_s - x_s`, :math:`D_\perp` its part orthogonal to :math:`x_s` and
    :math:`u = \cosh(\sqrt{c}d) - 1`. Absolute error <= 2e-6 rad (float32) / 1e-12 rad
    (float64) against mpmath on the rounded inputs. At the origin (no ray) the angle is
    :math:`\pi/2`; for ``y == x`` it is 0. Gradients are finite there and for points collinear
    with the origin.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x, y = lorentz.expmap0(np.array([[0.0, 1.0, 0.0], [0.0, 2.0, 0.0]]))
    >>> float(lorentz.exterior_angle(x, y))
    0.0
    """
    keepdim = flag("keepdim", keepdim)
    return call("exterior_angle", implementation, c=c, keepdim=keepdim, x=x, y=y)
