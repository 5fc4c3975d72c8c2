"""Public conversions between the hyperboloid and other parametrisations."""

from __future__ import annotations

from ._registry import call
from ._typing import Array


def to_poincare(x: Array, *, c: float | Array = 1.0, implementation: str | None = None) -> Array:
    r"""Map to the Poincaré ball of radius :math:`1/\sqrt{c}`: :math:`p = x_s/(1 + \sqrt{c}x_0)`.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Points on the hyperboloid.
    c : float or array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba"}
        None picks the compiled numba kernel for numpy arrays and torch CPU tensors
        (float32/float64, a Python float ``c``) when installed, else the array-API reference.

    Returns
    -------
    array, shape (..., n)

    Notes
    -----
    Relative error <= 2e-6 (float32) / 1e-12 (float64) against mpmath on the rounded inputs.
    Finite gradient at the origin.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> lorentz.to_poincare(np.array([1.0, 0.0])).tolist()
    [0.0]
    """
    return call("to_poincare", implementation, c=c, x=x)


def from_poincare(p: Array, *, c: float | Array = 1.0, implementation: str | None = None) -> Array:
    r"""Map from the Poincaré ball: :math:`x_s = 2p/(1 - c|p|^2)`, :math:`x_0 = \sqrt{1/c+|x_s|^2}`.

    Parameters
    ----------
    p : array, shape (..., n)
        Points strictly inside the ball :math:`c|p|^2 < 1` (checked when values are concrete).
    c : float or array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba"}
        As for :func:`to_poincare`.

    Returns
    -------
    array, shape (..., n+1)

    Raises
    ------
    ValueError
        If a point is NaN or not strictly inside the ball.

    Notes
    -----
    Relative error <= 2e-6 (float32) / 1e-12 (float64) against mpmath on the rounded inputs,
    or 4x the answer's own sensitivity to one rounding of the inputs where that is larger:
    near the boundary the ball itself is ill-conditioned, and in float32 points further than
    about 18 from the origin round onto the boundary; store such points on the hyperboloid.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> lorentz.from_poincare(np.array([0.0, 0.0])).tolist()
    [1.0, 0.0, 0.0]
    """
    return call("from_poincare", implementation, c=c, p=p)


def to_space(x: Array) -> Array:
    r"""The space part :math:`x_s` of points (MERU's representation), shape (..., n).

    Parameters
    ----------
    x : array, shape (..., n+1)
        Points, time first.

    Returns
    -------
    array, shape (..., n)
        A view of ``x`` where the library supports views; no arithmetic, so exact.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> lorentz.to_space(np.array([1.0, 0.0, 0.0])).tolist()
    [0.0, 0.0]
    """
    return call("to_space", c=1.0, x=x)


def from_space(xs: Array, *, c: float | Array = 1.0) -> Array:
    r"""Points from space parts: :math:`(\sqrt{1/c + |x_s|^2}, x_s)`, shape (..., n+1).

    Parameters
    ----------
    xs : array, shape (..., n)
        Space parts.
    c : float or array
        Curvature is :math:`-c`.

    Returns
    -------
    array, shape (..., n+1)
        Points on the hyperboloid; the time coordinate is exact to an ulp.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> lorentz.from_space(np.array([0.0, 0.0])).tolist()
    [1.0, 0.0, 0.0]
    """
    return call("from_space", c=c, xs=xs)
