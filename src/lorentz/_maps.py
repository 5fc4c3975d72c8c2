"""Public maps: projections, exponential and logarithmic maps, parallel transport."""

from __future__ import annotations

from ._registry import call
from ._typing import Array


def project(x: Array, *, c: float | Array = 1.0) -> Array:
    r"""Project onto the hyperboloid by re-deriving the time coordinate,
    :math:`x_0 = \sqrt{1/c + |x_s|^2}`.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Ambient vectors, time first; the time component is ignored.
    c : float or array
        Curvature is :math:`-c`.

    Returns
    -------
    array, shape (..., n+1)

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> lorentz.project(np.array([0.0, 0.0, 0.0])).tolist()
    [1.0, 0.0, 0.0]
    """
    return call("project", c=c, x=x)


def project_tangent(x: Array, u: Array, *, c: float | Array = 1.0) -> Array:
    r"""Lorentz-orthogonal projection of ``u`` onto the tangent space at ``x``:
    :math:`u + c\langle x,u\rangle_L\, x`.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Point (only its space part is read).
    u : array, shape (..., n+1)
        Any ambient vector (all components are read).
    c : float or array
        Curvature is :math:`-c`.

    Returns
    -------
    array, shape (..., n+1)
        Tangent vector at ``x``.

    Notes
    -----
    The time component of the result is re-derived from tangency,
    :math:`v_0 = x_s\cdot v_s / x_0`, so :math:`\langle x,v\rangle_L = 0` holds to rounding.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> lorentz.project_tangent(np.array([1.0, 0.0]), np.array([5.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return call("project_tangent", c=c, x=x, u=u)


def expmap0(u: Array, *, c: float | Array = 1.0, implementation: str | None = None) -> Array:
    r"""Exponential map at the origin :math:`o = (1/\sqrt{c}, 0, \dots, 0)`.

    :math:`x_s = \frac{\sinh(\sqrt{c}|u_s|)}{\sqrt{c}|u_s|}u_s`, :math:`x_0 = \sqrt{1/c+|x_s|^2}`.

    Parameters
    ----------
    u : array, shape (..., n+1)
        Tangent vector at the origin (time component 0; only the space part is read).
    c : float or array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba", "triton"}
        None picks the Triton kernels for CUDA tensors (float16/bfloat16/float32, scalar
        ``c``) and numba for numpy float32/float64 inputs (scalar ``c``) when installed.

    Returns
    -------
    array, shape (..., n+1)
        A point on the hyperboloid.

    Notes
    -----
    Relative error <= 2e-6 (float32) / 1e-12 (float64) against mpmath on the rounded inputs,
    for tangent norms 1e-6 to 50. Finite gradient (the identity) at ``u = 0``.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> lorentz.expmap0(np.array([0.0, 0.0])).tolist()
    [1.0, 0.0]
    """
    return call("expmap0", implementation, c=c, u=u)


def logmap0(y: Array, *, c: float | Array = 1.0, implementation: str | None = None) -> Array:
    r"""Logarithmic map at the origin, the inverse of :func:`expmap0`:
    :math:`u_s = \frac{\operatorname{asinh}(\sqrt{c}|y_s|)}{\sqrt{c}|y_s|} y_s`, :math:`u_0 = 0`.

    Parameters
    ----------
    y : array, shape (..., n+1)
        Point (only the space part is read).
    c : float or array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba", "triton"}
        None picks the Triton kernels for CUDA tensors (float16/bfloat16/float32, scalar
        ``c``) and numba for numpy float32/float64 inputs (scalar ``c``) when installed.

    Returns
    -------
    array, shape (..., n+1)
        Tangent vector at the origin (time component 0).

    Notes
    -----
    Relative error <= 2e-6 (float32) / 1e-12 (float64) against mpmath on the rounded inputs,
    down to the origin (never via :math:`\operatorname{acosh}(\sqrt{c}\,y_0)`). Finite gradient
    (the identity) at the origin.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> u = np.array([0.0, 0.3, -0.4])
    >>> np.allclose(lorentz.logmap0(lorentz.expmap0(u)), u)
    True
    """
    return call("logmap0", implementation, c=c, y=y)


def expmap(
    x: Array, u: Array, *, c: float | Array = 1.0, implementation: str | None = None
) -> Array:
    r"""Exponential map :math:`\exp_x(u) = \cosh(t)\,x + \frac{\sinh t}{t}\,u`,
    :math:`t = \sqrt{c}\,|u|_L`.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Base point.
    u : array, shape (..., n+1)
        Tangent vector at ``x``; only its space part is read (its time part is implied by
        tangency).
    c : float or array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba"}
        None picks the compiled numba kernel for numpy arrays and torch CPU tensors
        (float32/float64, a Python float ``c``) when installed, else the array-API reference.

    Returns
    -------
    array, shape (..., n+1)
        A point on the hyperboloid.

    Notes
    -----
    Relative error <= 2e-6 / 1e-12 (float32 / float64) against mpmath on the rounded inputs,
    small steps far from the origin and long steps back past it included, or 4x the problem's
    own sensitivity to one rounding of the inputs where that is larger. Known limit: an inward
    step within ~1e-11 rad of the way to the origin and off every axis carries a rounding of
    about :math:`\epsilon|u_s|` into its small transverse part and can miss that bound. Finite
    gradient at ``u = 0`` and, in ``x``, at the origin.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([0.0, 1.0, 0.0]))
    >>> u = lorentz.project_tangent(x, np.array([0.0, 0.0, 0.5]))
    >>> round(float(lorentz.dist(x, lorentz.expmap(x, u))), 12)
    0.5
    """
    return call("expmap", implementation, c=c, x=x, u=u)


def logmap(
    x: Array, y: Array, *, c: float | Array = 1.0, implementation: str | None = None
) -> Array:
    r"""Logarithmic map :math:`\log_x(y) = d(x,y)\, v/|v|_L`, :math:`v = y + c\langle x,y\rangle_L x`.

    Parameters
    ----------
    x, y : array, shape (..., n+1)
        Points (only the space parts are read).
    c : float or array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba"}
        None picks the compiled numba kernel for numpy arrays and torch CPU tensors
        (float32/float64, a Python float ``c``) when installed, else the array-API reference.

    Returns
    -------
    array, shape (..., n+1)
        Tangent vector at ``x``.

    Notes
    -----
    Relative error <= 2e-6 (float32) / 1e-12 (float64) against mpmath on the rounded inputs,
    near pairs far from the origin included. Gradient at ``x == y``: finite.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([0.0, 1.0]))
    >>> round(float(lorentz.norm(lorentz.logmap(x, x))), 12)
    0.0
    """
    return call("logmap", implementation, c=c, x=x, y=y)


def transport(
    x: Array, y: Array, v: Array, *, c: float | Array = 1.0, implementation: str | None = None
) -> Array:
    r"""Parallel transport of ``v`` from ``x`` to ``y`` along the geodesic:
    :math:`P(v) = v + \frac{c\langle y,v\rangle_L}{1 - c\langle x,y\rangle_L}(x+y)`.

    Parameters
    ----------
    x, y : array, shape (..., n+1)
        Start and end points.
    v : array, shape (..., n+1)
        Tangent vector at ``x`` (only its space part is read).
    c : float or array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba"}
        None picks the compiled numba kernel for numpy arrays and torch CPU tensors
        (float32/float64, a Python float ``c``) when installed, else the array-API reference.

    Returns
    -------
    array, shape (..., n+1)
        Tangent vector at ``y`` with the same Lorentz norm.

    Notes
    -----
    Relative error <= 2e-6 (float32) / 1e-12 (float64) against mpmath on the rounded inputs.
    Gradients are finite at ``x == y``, ``v = 0`` and the origin.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x, y = lorentz.expmap0(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]]))
    >>> v = lorentz.project_tangent(x, np.array([0.0, 0.3, 0.7]))
    >>> bool(np.isclose(lorentz.norm(lorentz.transport(x, y, v)), lorentz.norm(v)))
    True
    """
    return call("transport", implementation, c=c, x=x, y=y, v=v)
