"""Squared Lorentzian distance (Law et al., ICML 2019) and the all-pairs exterior angle."""

from __future__ import annotations

import math

import numpy as np

from . import _reference as ref
from . import _registry
from ._arguments import _broadcast, check_fits, flag, is_concrete, to_work
from ._dask import is_dask
from ._guarded import sq
from ._typing import Array

# float64 elements held by one block of pairs (rows x M x n): 32 MiB
BLOCK = 1 << 22
# relative error of u allowed from the GEMM before a pair is recomputed, by output dtype:
# a fifth of the contract (1e-12 float64, 2e-6 float32 and narrower)
GEMM_TOL = {"float64": 2e-13, "other": 4e-7}


def _all_pairs(f, xs, ys, c, *, xp):
    """f on every pair of rows of xs (..., N, n) and ys (..., M, n) -> (..., N, M), in
    blocks of rows of xs so that no temporary exceeds BLOCK elements."""
    n, m, k = xs.shape[-2], ys.shape[-2], max(1, xs.shape[-1])
    step = max(1, BLOCK // max(1, m * k))
    cc = c if isinstance(c, float) else c[..., None]
    yb = ys[..., None, :, :]
    blocks = [
        f(xs[..., i : min(n, i + step), None, :], yb, cc, xp=xp)[..., 0] for i in range(0, n, step)
    ]
    if not blocks:  # no rows
        return xp.zeros((*xs.shape[:-2], 0, m), dtype=xs.dtype, device=xs.device)
    return blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=-2)


def _gemm_sqdist(xs, ys, c, out_dtype, *, xp):
    """pairwise_sqdist of 2-D space parts at matrix-multiply speed: u = c (x0 y0^T - xs ys^T) - 1
    from one GEMM, then every pair whose a-priori error bound could miss the contract
    recomputed by ref.sqdist_space (pairwise_dist's rule, on u instead of d).

    The GEMM value errs by at most (n + 4) eps (c x0 y0 + c |xs.ys| + 1) <= 3 (n + 4) eps c x0 y0
    (eps of the compute dtype; float32 inputs are exact in float64); a pair is kept when that
    is at most ``tol`` times u, and recomputed otherwise: near pairs (the diagonal of x against
    x), pairs whose bound overflows, NaN rows. Eager only (a boolean gather and a masked
    assignment); traced calls take the blocks."""
    work_eps = float(xp.finfo(xs.dtype).eps)
    tol = GEMM_TOL["float64" if out_dtype == xp.float64 else "other"]
    x0 = xp.sqrt(1.0 / c + sq(xs, xp=xp))
    y0 = xp.sqrt(1.0 / c + sq(ys, xp=xp))
    tt = x0 @ xp.matrix_transpose(y0)
    u = c * (tt - xs @ xp.matrix_transpose(ys)) - 1.0
    bound = (3.0 * (xs.shape[-1] + 4) * work_eps / tol) * (c * tt)
    good = (u >= bound) & (u < math.inf)
    out = 2.0 * u / c
    i, j = xp.nonzero(~good)
    if i.shape[0]:
        exact = ref.sqdist_space(xp.take(xs, i, axis=0), xp.take(ys, j, axis=0), c, xp=xp)[:, 0]
        out[~good] = exact
    return out


def _gemm_fits(xp, xs, ys, c) -> bool:
    """The GEMM path: eager 2-D inputs of a library with masked assignment (not jax, whose
    arrays are immutable), a scalar c, and a compute dtype of float64 (float32 GEMMs would
    flag most pairs)."""
    return (
        xs.ndim == 2
        and ys.ndim == 2
        and not getattr(xp, "__name__", "").startswith("jax")
        and isinstance(c, float)
        and xs.dtype == xp.float64
        and is_concrete(xs)
        and is_concrete(ys)
        and not is_dask(xp)
    )


# The references of pairwise_sqdist and pairwise_exterior_angle as the registry calls them
# (lorentz._registry): ambient rows (..., N, n+1), (..., M, n+1) validated and as given, c a
# scalar; the leading dimensions broadcast.


def fits(what):
    """The registry's ``before`` hook: one memory check of the (..., N, M) output for every
    implementation, before any work (the reference holds its row blocks and their
    concatenation; the kernels the output alone)."""

    def before(chosen, xp, dtype, x, y):
        lead = _broadcast({"x": tuple(x.shape[:-2]), "y": tuple(y.shape[:-2])})
        check_fits(
            what,
            (*lead, x.shape[-2], y.shape[-2]),
            dtype,
            xp,
            getattr(x, "device", None),
            copies=2 if chosen == "reference" else 1,
            instead="compute blocks of rows of x and reduce each in turn",
        )

    return before


def sqdist_rows(x, y, c, *, xp):
    """The reference of lorentz.pairwise_sqdist: one float64 GEMM with recomputed pairs where
    :func:`_gemm_fits`, else every pair by the exact form in blocks of rows."""
    dtype = xp.result_type(x, y)
    x, y = to_work(xp, x, y)
    xs, ys = x[..., 1:], y[..., 1:]
    if _gemm_fits(xp, xs, ys, c):
        # rows far out overflow the GEMM's x0 y0 (numpy warns): those pairs are recomputed
        with np.errstate(over="ignore", invalid="ignore"):
            return _gemm_sqdist(xs, ys, c, dtype, xp=xp)
    return _all_pairs(ref.sqdist_space, xs, ys, c, xp=xp)


def _angle(xs, ys, c, *, xp):
    x = xp.concat([xp.zeros_like(xs[..., :1]), xs], axis=-1)
    y = xp.concat([xp.zeros_like(ys[..., :1]), ys], axis=-1)
    x, y = xp.broadcast_arrays(x, y)
    return ref.exterior_angle(x, y, c, xp=xp)


def exterior_angle_rows(x, y, c, *, xp):
    """The reference of lorentz.pairwise_exterior_angle: every pair by the exact atan2 form of
    exterior_angle, in blocks of rows."""
    x, y = to_work(xp, x, y)
    return _all_pairs(_angle, x[..., 1:], y[..., 1:], c, xp=xp)


def sqdist(x: Array, y: Array, *, c: float | Array = 1.0, keepdim: bool = False) -> Array:
    r"""Squared Lorentzian distance (Law et al., ICML 2019):
    :math:`\|x - y\|_L^2 = -2/c - 2\langle x, y\rangle_L = \tfrac{2}{c}(\cosh(\sqrt{c}\,d) - 1)`.

    Parameters
    ----------
    x, y : array, shape (..., n+1)
        Points (only the space parts are read).
    c : float or array
        Curvature is :math:`-c`.
    keepdim : bool
        Keep the reduced last axis.

    Returns
    -------
    array, shape (...)

    Notes
    -----
    Not a metric, but monotone in :math:`d` and smooth at :math:`x = y` (the loss of Law et
    al.). Evaluated as :math:`4\sinh^2(\sqrt{c}\,d/2)/c` from the cancellation-free form of
    :func:`dist`: relative error <= 2e-6 (float32) / 1e-12 (float64), where
    :math:`-2/c - 2\langle x,y\rangle_L` as written loses every digit for near points far out.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([0.0, 1.0]))
    >>> round(float(lorentz.sqdist(np.array([1.0, 0.0]), x)), 12)  # 2 (cosh(1) - 1)
    1.08616126963
    """
    return _registry.call("sqdist", c=c, keepdim=flag("keepdim", keepdim), x=x, y=y)


def pairwise_sqdist(
    x: Array, y: Array, *, c: float | Array = 1.0, implementation: str | None = None
) -> Array:
    r"""Squared Lorentzian distances (:func:`sqdist`) between every row of ``x`` and every
    row of ``y``.

    Parameters
    ----------
    x : array, shape (..., N, n+1)
    y : array, shape (..., M, n+1)
        Points; the leading dimensions broadcast.
    c : float or 0-d array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba"}
        None picks the numba kernel for 2-D numpy float32/float64 inputs with a scalar ``c``
        when numba is installed, the reference otherwise (batched inputs, other libraries).

    Returns
    -------
    array, shape (..., N, M)

    Notes
    -----
    Same accuracy as :func:`sqdist` for every pair. The numba kernel takes
    :func:`pairwise_dist`'s float64 GEMM tiles, bound and exact recompute, on :math:`u`. In
    the reference, eager 2-D inputs (numpy, torch, array-api-strict, a scalar ``c``) take one
    float64 GEMM for
    :math:`u = c(x_0 y_0^T - x_s y_s^T) - 1` and recompute, by the cancellation-free form,
    every pair whose a-priori error bound could miss the contract (:func:`pairwise_dist`'s
    rule): usually the diagonal of ``x`` against ``x`` and little else. The plain GEMM form
    :math:`-2/c - 2\,x J y^T` loses every digit on near pairs far out. Other inputs (jax,
    traced, batched) take every pair by the exact form, in blocks of rows of 32 MiB.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, 0.0], [0.0, 1.0]]))
    >>> np.round(lorentz.pairwise_sqdist(x, x), 6).tolist()
    [[0.0, 1.086161], [1.086161, 0.0]]
    """
    return _registry.call("pairwise_sqdist", implementation, c=c, x=x, y=y)


def pairwise_exterior_angle(
    x: Array, y: Array, *, c: float | Array = 1.0, implementation: str | None = None
) -> Array:
    r"""Exterior angles (:func:`exterior_angle`) at every row of ``x`` towards every row of
    ``y``: HyCoCLIP's ``oxy_angle_eval`` and ATMG's ``pairwise_oxy_angle``.

    Parameters
    ----------
    x : array, shape (..., N, n+1)
        Cone apexes.
    y : array, shape (..., M, n+1)
        Other points; the leading dimensions broadcast.
    c : float or 0-d array
        Curvature is :math:`-c`.
    implementation : {None, "reference", "numba"}
        None picks the numba kernel for 2-D numpy float32/float64 inputs with a scalar ``c``
        when numba is installed (every pair compiled, rows of ``x`` in parallel), the
        reference otherwise (batched inputs, other libraries).

    Returns
    -------
    array, shape (..., N, M)
        Angles in :math:`[0, \pi]`; ``out[..., i, j]`` is the angle at ``x[i]`` between the
        geodesic to ``y[j]`` and the ray from the origin through ``x[i]``.

    Notes
    -----
    Every pair by the exact atan2 form of :func:`exterior_angle` (absolute error <= 2e-6 rad
    float32, 1e-12 float64; finite gradients for collinear points, at the origin and at
    ``y == x``), in blocks of rows of 32 MiB. HyCoCLIP's form, an ``acos`` of a quotient
    built from :math:`c\langle x,y\rangle_L` (a GEMM), cancels in numerator and denominator.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, 1.0, 0.0]]))
    >>> y = lorentz.expmap0(np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]))
    >>> np.round(lorentz.pairwise_exterior_angle(x, y), 6).tolist()
    [[0.0, 3.141593]]
    """
    return _registry.call("pairwise_exterior_angle", implementation, c=c, x=x, y=y)
