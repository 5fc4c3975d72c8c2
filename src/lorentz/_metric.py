"""Public metric functions: inner product, norm and distances."""

from __future__ import annotations

from ._arguments import flag
from ._registry import call
from ._typing import Array


def inner(x: Array, y: Array, *, keepdim: bool = False) -> Array:
    r"""Lorentzian inner product :math:`\langle x,y\rangle_L = -x_0 y_0 + \sum_i x_i y_i`.

    Parameters
    ----------
    x, y : array, shape (..., n+1)
        Ambient vectors, time coordinate first; batch shapes broadcast.
    keepdim : bool
        Keep the reduced last axis (length 1).

    Returns
    -------
    array, shape (...) or (..., 1)
        Same library, device and (promoted) dtype as the inputs.

    Notes
    -----
    All components are read as given: the plain bilinear form, rounded as a dot product, with
    no accuracy contract of its own (it cancels for near points; :func:`dist` does not use it).

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> float(lorentz.inner(np.array([1.0, 0.0]), np.array([1.0, 0.0])))
    -1.0
    """
    return call("inner", c=1.0, keepdim=flag("keepdim", keepdim), x=x, y=y)


def norm(u: Array, *, keepdim: bool = False) -> Array:
    r"""Lorentzian norm :math:`\sqrt{\max(\langle u,u\rangle_L, 0)}` of a tangent vector.

    Parameters
    ----------
    u : array, shape (..., n+1)
        Tangent vector (ambient coordinates, time first). Its time component is read as
        given; for the exact norm of a tangent vector at a far point use ``dist(x, expmap(x, u))``
        or keep ``u`` at the origin.
    keepdim : bool
        Keep the reduced last axis.

    Returns
    -------
    array, shape (...) or (..., 1)

    Notes
    -----
    The gradient at ``u = 0`` is the zero subgradient (autograd of sqrt would give NaN).

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> float(lorentz.norm(np.array([0.0, 3.0, 4.0])))
    5.0
    """
    return call("norm", c=1.0, keepdim=flag("keepdim", keepdim), u=u)


def dist(
    x: Array,
    y: Array,
    *,
    c: float | Array = 1.0,
    keepdim: bool = False,
    implementation: str | None = None,
) -> Array:
    r"""Geodesic distance :math:`d(x,y) = \operatorname{acosh}(-c\langle x,y\rangle_L)/\sqrt{c}`.

    Evaluated as :math:`2\operatorname{asinh}(\sqrt{u/2})/\sqrt{c}` with
    :math:`u = -c\langle x,y\rangle_L - 1` formed from non-negative terms only (Lagrange's
    identity), so near pairs far from the origin keep full relative accuracy.

    Parameters
    ----------
    x, y : array, shape (..., n+1)
        Points on the hyperboloid :math:`\langle x,x\rangle_L = -1/c`, time first. Only the
        space parts are read; time coordinates are re-derived.
    c : float or array
        Curvature is :math:`-c`, :math:`c > 0`; an array broadcasts against the batch shape
        and may be a learnable tensor.
    keepdim : bool
        Keep the reduced last axis.
    implementation : {None, "reference", "numba", "triton"}
        None picks the fused Triton kernel for CUDA tensors (float16/bfloat16/float32, scalar
        ``c``, learnable or not) and the compiled numba kernel for numpy arrays and torch CPU
        tensors (float32/float64, a Python float ``c``) when installed, else the array-API
        reference. Every one keeps the accuracy below and a finite gradient.

    Returns
    -------
    array, shape (...) or (..., 1)

    Notes
    -----
    Accuracy against mpmath on the rounded inputs, distances 1e-6 to 50, c in [0.1, 10]:
    relative error <= 2e-6 in float32 (space norms up to 1e3) and <= 1e-12 in float64
    (space norms up to 1e4). The gradient at ``x == y`` is the zero subgradient.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> o = np.array([1.0, 0.0])
    >>> x = lorentz.expmap0(np.array([0.0, 2.0]))
    >>> round(float(lorentz.dist(o, x)), 12)
    2.0
    """
    return call("dist", implementation, c=c, keepdim=flag("keepdim", keepdim), x=x, y=y)


def dist0(
    x: Array, *, c: float | Array = 1.0, keepdim: bool = False, implementation: str | None = None
) -> Array:
    r"""Distance from the origin, :math:`\operatorname{asinh}(\sqrt{c}\,|x_s|)/\sqrt{c}`.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Points, time first (only the space part is read).
    c : float or array
        Curvature is :math:`-c`.
    keepdim : bool
        Keep the reduced last axis.
    implementation : {None, "reference", "numba"}
        None picks the compiled numba kernel for numpy arrays and torch CPU tensors
        (float32/float64, a Python float ``c``) when installed, else the array-API reference.

    Returns
    -------
    array, shape (...) or (..., 1)

    Notes
    -----
    Relative error <= 2e-6 (float32) / 1e-12 (float64) against mpmath on the rounded inputs,
    down to the origin (never :math:`\operatorname{acosh}(\sqrt{c}\,x_0)`). Gradient at the
    origin: 0.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> round(float(lorentz.dist0(lorentz.expmap0(np.array([0.0, 0.0, 3.0])))), 12)
    3.0
    """
    return call("dist0", implementation, c=c, keepdim=flag("keepdim", keepdim), x=x)


def pairwise_dist(
    x: Array, y: Array, *, c: float | Array = 1.0, implementation: str | None = None
) -> Array:
    r"""Distances between every row of ``x`` and every row of ``y``.

    Parameters
    ----------
    x : array, shape (..., N, n+1)
    y : array, shape (..., M, n+1)
        Points, time first; the leading dimensions broadcast.
    c : float or 0-d array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba", "triton"}
        None picks the Triton kernels for CUDA tensors (float16/bfloat16/float32, scalar
        ``c``) and numba for numpy float32/float64 inputs (scalar ``c``) when installed; both
        take 2-D inputs, so batched inputs take the reference.

    Returns
    -------
    array, shape (..., N, M)

    Notes
    -----
    Same accuracy as :func:`dist` for every pair, close pairs far from the origin included, on
    every implementation (the reference runs on any array library). The gradient is finite at
    ``x == y`` (the zero subgradient) and reaches a learnable ``c``. Work: one GEMM's worth,
    plus an exact recompute of the pairs whose GEMM value could miss the contract (usually
    few). Memory: the output plus tiles of 32 MiB (the reference: twice the output when it
    spans several tiles). An output that cannot fit in the memory available on its device
    raises ``MemoryError`` before any work; :func:`knn` or blocks of rows of ``x`` then do.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, 0.0], [0.0, 1.0]]))
    >>> np.round(lorentz.pairwise_dist(x, x), 12).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
    """
    return call("pairwise_dist", implementation, c=c, x=x, y=y)
