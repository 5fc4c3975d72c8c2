"""Hyperplanes: signed distances (Cho et al., AISTATS 2019) and multinomial logistic
regression logits in HyperbolicCV's parametrisation (Bdeir et al., ICLR 2024)."""

from __future__ import annotations

import math

from . import _registry
from ._arguments import flag, is_concrete, prepare, to_work
from ._guarded import dot, sinh, sq
from ._params import vectors
from ._typing import Array


def _sc(c, xp):
    return math.sqrt(c) if isinstance(c, float) else xp.sqrt(c)


def hyperplane_dist_ref(x, w, c, *, xp):
    """asinh(sqrt(c) <w,x>_L / |w|_L) / sqrt(c), with x0 re-derived from xs."""
    xs = x[..., 1:]
    x0 = xp.sqrt(1.0 / c + sq(xs, xp=xp))
    ws = w[..., 1:]
    lip = dot(ws, xs, xp=xp) - w[..., :1] * x0
    wn = xp.sqrt(sq(ws, xp=xp) - w[..., :1] * w[..., :1])
    sc = _sc(c, xp)
    return xp.asinh(sc * lip / wn) / sc


def hyperplane_dist(
    x: Array, normal: Array, *, c: float | Array = 1.0, keepdim: bool = False
) -> Array:
    r"""Signed distance from ``x`` to the hyperplane :math:`H_w = \{y : \langle w, y\rangle_L
    = 0\}` through the origin's Lorentz-orthogonal complement of the normal :math:`w`
    (Cho et al., AISTATS 2019):

    .. math:: d_\pm(x, H_w) = \frac{1}{\sqrt{c}}\operatorname{asinh}
              \frac{\sqrt{c}\,\langle w, x\rangle_L}{\|w\|_L},

    positive on the side where :math:`\langle w, x\rangle_L > 0`.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Points (only the space parts are read).
    normal : array, shape (..., n+1)
        Space-like normals, :math:`\langle w, w\rangle_L > 0` (every component is read; the
        scale does not matter).
    c : float or array
        Curvature is :math:`-c`.
    keepdim : bool
        Keep the reduced last axis.

    Returns
    -------
    array, shape (...)

    Notes
    -----
    The inner product is accumulated in float64 (exact products for float32 inputs); its
    cancellation for points near the hyperplane is the answer's own sensitivity to the
    inputs, within which the result keeps the contract (2e-6 / 1e-12 relative, or 4x the
    answer's movement under one rounding of the inputs). A normal that is not space-like
    raises ``ValueError`` (when values are concrete).

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> w = np.array([np.sinh(1.0), np.cosh(1.0), 0.0])  # the hyperplane 1 from the origin
    >>> round(float(lorentz.hyperplane_dist(np.array([1.0, 0.0, 0.0]), w)), 12)
    -1.0
    """
    keepdim = flag("keepdim", keepdim)
    return _registry.call("hyperplane_dist", c=c, keepdim=keepdim, x=x, normal=normal)


def bind(c, *, x, normal):
    """The registry's preparation of hyperplane_dist's arguments: a space-like normal,
    <w,w>_L > 0 in the compute dtype, as the distance reads it."""
    xp, (x, w), c, dtype, _ = prepare(c, x=x, normal=normal)
    if is_concrete(w):
        lw = sq(w[..., 1:], xp=xp) - w[..., :1] * w[..., :1]
        if bool(xp.any(lw <= 0)):
            raise ValueError("normal must be space-like, <w,w>_L > 0 (it names a hyperplane)")
    return xp, (x, w), c, dtype, ()


def mlr_logits_ref(x, a, z, c, *, xp):
    """(..., K) logits of points x (..., n+1), a (K,), z (K, n): |z| asinh(S) / sqrt(c),

        S = sqrt(c) alpha / |z| = sinh(b - A) - sqrt(c) sinh(A) r^2 / (x0 + x0'),

    A = sqrt(c) a, p = xs.z_hat, b = asinh(sqrt(c) p), r = |xs - p z_hat|, x0' = sqrt(1/c + p^2)
    (cosh(A) sqrt(c) p - sinh(A) sqrt(c) x0 with sqrt(c) p = sinh b, sqrt(c) x0' = cosh b).
    HyperbolicCV's alpha = cosh(A) xs.z - sinh(A) |z| x0 is a difference of two numbers of size
    e^A |xs|; this one cancels only by b - A, the point's own distance to the hyperplane."""
    sc = _sc(c, xp)
    zn = xp.sqrt(sq(z, xp=xp))  # (K, 1)
    zh = z / zn
    X = x[..., None, 1:]  # (..., 1, n)
    p = dot(X, zh, xp=xp)  # (..., K, 1)
    r2 = sq(X - p * zh, xp=xp)
    x0 = xp.sqrt(1.0 / c + sq(X, xp=xp))
    x0p = xp.sqrt(1.0 / c + p * p)
    A = sc * a[:, None]
    b = xp.asinh(sc * p)
    s = sinh(b - A, xp=xp) - sc * sinh(A, xp=xp) * r2 / (x0 + x0p)
    return (zn * xp.asinh(s) / sc)[..., 0]


def mlr_logits(x: Array, a: Array, z: Array, *, c: float | Array = 1.0) -> Array:
    r"""Logits of multinomial logistic regression on the hyperboloid in the parametrisation
    of HyperbolicCV's ``LorentzMLR`` (Bdeir et al., ICLR 2024): class :math:`k` has the
    hyperplane with normal :math:`w_k = (\sinh(\sqrt{c}\,a_k)|z_k|,\ \cosh(\sqrt{c}\,a_k)z_k)`
    (:math:`\|w_k\|_L = |z_k|`, offset :math:`a_k` from the origin along :math:`z_k`), and

    .. math:: \operatorname{logit}_k(x) = |z_k|\ d_\pm(x, H_{w_k})
              = \frac{|z_k|}{\sqrt{c}}\operatorname{asinh}\frac{\sqrt{c}\,\alpha_k}{|z_k|},
              \quad \alpha_k = \langle w_k, x\rangle_L.

    Parameters
    ----------
    x : array, shape (..., n+1)
        Points (only the space parts are read).
    a : array, shape (K,)
        Offsets (HyperbolicCV's ``LorentzMLR.a``).
    z : array, shape (K, n)
        Space directions (HyperbolicCV's ``LorentzMLR.z``), nonzero.
    c : float or 0-d array
        Curvature is :math:`-c` (HyperbolicCV's manifold has ``k = 1/c``).

    Returns
    -------
    array, shape (..., K)

    Notes
    -----
    Equal to HyperbolicCV's outputs on the same weights (their ``alpha`` reads the stored
    :math:`x_0`; here it is derived from :math:`x_s`). Their :math:`\alpha_k` subtracts two
    numbers of size :math:`e^{\sqrt{c}|a_k|}|x_s|`; here
    :math:`\sqrt{c}\,\alpha_k/|z_k| = \sinh(b - \sqrt{c}a_k) - \sqrt{c}\sinh(\sqrt{c}a_k)\,
    r^2/(x_0 + x_0')` with :math:`b = \operatorname{asinh}(\sqrt{c}\,x_s\cdot\hat z_k)`,
    :math:`r` the part of :math:`x_s` across :math:`\hat z_k` and
    :math:`x_0' = \sqrt{1/c + (x_s\cdot\hat z_k)^2}`: it cancels only by the point's own
    distance to the hyperplane. Memory: a temporary of shape (..., K, n). A zero row of
    ``z`` raises ``ValueError`` (when values are concrete).

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> x = lorentz.expmap0(np.array([[0.0, 2.0, 0.0]]))
    >>> np.round(lorentz.mlr_logits(x, np.array([0.0, 1.0]), np.array([[1.0, 0.0], [2.0, 0.0]])), 9).tolist()
    [[2.0, 2.0]]
    """
    return _registry.call("mlr_logits", c=c, x=x, a=a, z=z)


def mlr_bind(c, *, x, a, z):
    """The registry's preparation of mlr_logits' arguments: points, offsets (K,) and space
    directions (K, n), nonzero; c a scalar."""
    xp, (xw,), cc, dtype, _ = prepare(c, cast=False, x=x)
    if not isinstance(cc, float) and cc.ndim > 1:
        raise ValueError(f"c must be a scalar for mlr_logits, got shape {tuple(cc.shape[:-1])}")
    n = x.shape[-1] - 1
    a = vectors("a", a, xp, min_dim=1)
    z = vectors("z", z, xp, n, min_dim=2)
    if a.ndim != 1 or z.ndim != 2 or a.shape[0] != z.shape[0]:
        raise ValueError(
            f"a must have shape (K,) and z shape (K, {n}), got {tuple(a.shape)} "
            f"and {tuple(z.shape)}"
        )
    dtype = xp.result_type(dtype, a.dtype, z.dtype)
    xw, a, z = to_work(xp, xw, a, z)
    if is_concrete(z) and bool(xp.any(sq(z, xp=xp) == 0)):
        raise ValueError("z has a zero row: its class has no hyperplane")
    return xp, (xw, a, z), cc, dtype, ()
