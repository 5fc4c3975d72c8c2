"""Squared Lorentzian distance (Law et al., ICML 2019) and the all-pairs exterior angle."""

from __future__ import annotations

import math

import numpy as np

from . import _reference as ref
from . import _registry
from ._arguments import _broadcast, check_fits, flag, is_concrete, to_work
from ._dask import is_dask
from ._guarded import atan2_0, sq, sqrt0
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
        return _gemm_rows(_gemm_sqdist, xs, ys, c, dtype, xp=xp)
    return _all_pairs(ref.sqdist_space, xs, ys, c, xp=xp)


def _angle(xs, ys, c, *, xp):
    x = xp.concat([xp.zeros_like(xs[..., :1]), xs], axis=-1)
    y = xp.concat([xp.zeros_like(ys[..., :1]), ys], axis=-1)
    x, y = xp.broadcast_arrays(x, y)
    return ref.exterior_angle(x, y, c, xp=xp)


# squared space lengths outside [ANGLE_LO2, ANGLE_HI2] (but 0 for y) leave every pair of their
# row to the exact form: inside, no product of the GEMM form over- or underflows
ANGLE_LO2, ANGLE_HI2 = 2.0**-480, 2.0**480


def angle_bound(g, na, nb, x0, y0, c, n: int, eps: float, *, xp):
    """(W, K, err): the exterior angle is atan2(W, K) with g = xs.ys, na = |xs|^2, nb = |ys|^2,
    W = |xs ^ ys| = sqrt(na nb - g^2) and K = sqrt(c) (x0 g - na y0) (exterior_angle's sine
    and cosine parts times |xs| / (sqrt(c) x0)); err bounds how far the vector (W, K) from a
    GEMM can lie from the exact one, so that the angle errs by at most err / hypot(W, K).

    With eps of the work dtype and the dot product good to n eps |xs||ys|: na nb - g^2 errs by
    at most E = (4n + 12) eps na nb, so W by min(sqrt(E), E / W) (plus its own rounding); K by
    (2n + 8) eps sqrt(c) (x0 |xs||ys| + na y0) (x0 and y0 carry the error of the squared
    lengths, half of it). The numba and Triton kernels take the same bound."""
    w2 = na * nb - g * g
    w = sqrt0(w2, xp=xp)
    sc = math.sqrt(c)
    k = sc * (x0 * g - na * y0)
    e2 = ((4 * n + 12) * eps) * (na * nb)
    dw = xp.minimum(xp.sqrt(e2), e2 / xp.where(w > 0, w, 0.0)) + 2.0 * eps * w
    dk = ((2 * n + 8) * eps) * sc * (x0 * xp.sqrt(na * nb) + na * y0)
    return w, k, dw + dk


def _gemm_angle(xs, ys, c, out_dtype, *, xp):
    """pairwise_exterior_angle of 2-D space parts at matrix-multiply speed: atan2(W, K) of
    :func:`angle_bound` from one GEMM, every pair whose error bound exceeds ``tol`` radians
    recomputed by exterior_angle (pairs at the origin or near y == x, collinear pairs, rows
    outside the squared-length range, NaN rows). Rows outside the range enter the GEMM as
    zeros, so that no product there is inf or NaN, in the value or in its gradient. Eager
    only, as _gemm_sqdist."""
    eps = float(xp.finfo(xs.dtype).eps)
    tol = GEMM_TOL["float64" if out_dtype == xp.float64 else "other"]
    na, nb = sq(xs, xp=xp), xp.matrix_transpose(sq(ys, xp=xp))
    in_x = (na >= ANGLE_LO2) & (na <= ANGLE_HI2)
    in_y = ((nb >= ANGLE_LO2) & (nb <= ANGLE_HI2)) | (nb == 0)
    a = xp.where(in_x, xs, 0.0)
    b = xp.where(xp.matrix_transpose(in_y), ys, 0.0)
    na, nb = xp.where(in_x, na, 0.0), xp.where(in_y, nb, 0.0)
    x0, y0 = xp.sqrt(1.0 / c + na), xp.sqrt(1.0 / c + nb)
    w, k, err = angle_bound(a @ xp.matrix_transpose(b), na, nb, x0, y0, c, xs.shape[-1], eps, xp=xp)
    out = atan2_0(w, k, xp=xp)
    good = (err <= tol * xp.hypot(w, k)) & in_x & in_y
    i, j = xp.nonzero(~good)
    if i.shape[0]:
        out[~good] = _angle(xp.take(xs, i, axis=0), xp.take(ys, j, axis=0), c, xp=xp)[:, 0]
    return out


def _gemm_rows(f, xs, ys, c, out_dtype, *, xp):
    """f (a _gemm_* form) on blocks of rows of xs of at most BLOCK pairs, concatenated."""
    n = xs.shape[-2]
    step = max(1, BLOCK // max(1, ys.shape[-2]))
    # rows far out overflow the GEMM's products (numpy warns): those pairs are recomputed
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        blocks = [
            f(xs[i : min(n, i + step), :], ys, c, out_dtype, xp=xp) for i in range(0, max(1, n), step)
        ]
    return blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=0)


def exterior_angle_rows(x, y, c, *, xp):
    """The reference of lorentz.pairwise_exterior_angle: the GEMM form with recomputed pairs
    where :func:`_gemm_fits`, else every pair by the exact atan2 form of exterior_angle, in
    blocks of rows."""
    dtype = xp.result_type(x, y)
    x, y = to_work(xp, x, y)
    xs, ys = x[..., 1:], y[..., 1:]
    if _gemm_fits(xp, xs, ys, c):
        return _gemm_rows(_gemm_angle, xs, ys, c, dtype, xp=xp)
    return _all_pairs(_angle, xs, ys, c, xp=xp)


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
        when numba is installed, the reference otherwise (batched inputs, other libraries).

    Returns
    -------
    array, shape (..., N, M)
        Angles in :math:`[0, \pi]`; ``out[..., i, j]`` is the angle at ``x[i]`` between the
        geodesic to ``y[j]`` and the ray from the origin through ``x[i]``.

    Notes
    -----
    Same accuracy as :func:`exterior_angle` for every pair (absolute error <= 2e-6 rad
    float32, 1e-12 float64; finite gradients for collinear points, at the origin and at
    ``y == x``). With :math:`g = x_s \cdot y_s`, the angle is
    :math:`\operatorname{atan2}(\sqrt{|x_s|^2 |y_s|^2 - g^2},\ \sqrt{c}\,(x_0 g - |x_s|^2 y_0))`:
    one float64 GEMM gives every pair, and every pair whose a-priori error bound could exceed
    a fifth to a quarter of the contract is recomputed by :func:`exterior_angle`'s exact form (usually the
    diagonal of ``x`` against ``x``, collinear pairs and little else). The numba kernel and,
    for eager 2-D inputs with a scalar ``c`` (numpy, torch, array-api-strict), the reference
    take this path; other inputs (jax, traced, batched) take every pair by the exact form, in
    blocks of rows of 32 MiB. HyCoCLIP's form, an ``acos`` of a quotient built from
    :math:`c\langle x,y\rangle_L`, cancels in numerator and denominator.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, 1.0, 0.0]]))
    >>> y = lorentz.expmap0(np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]))
    >>> np.round(lorentz.pairwise_exterior_angle(x, y), 6).tolist()
    [[0.0, 3.141593]]
    """
    return _registry.call("pairwise_exterior_angle", implementation, c=c, x=x, y=y)
