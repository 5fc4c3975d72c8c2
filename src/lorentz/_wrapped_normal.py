"""The wrapped normal distribution (Nagano et al., ICML 2019): a normal in the tangent space
at the origin, moved to the mean by parallel transport and wrapped by the exponential map."""

from __future__ import annotations

import math

from . import _reference as ref
from . import _registry
from ._arguments import _broadcast, is_concrete, prepare, to_work
from ._boosts import boost
from ._guarded import maybe, select_rows, sinhc, sq
from ._params import vectors
from ._typing import Array


def _sc(c, xp):
    return math.sqrt(c) if isinstance(c, float) else xp.sqrt(c)


def _at_origin(vs, *, xp):
    """The tangent vector at the origin with space part vs."""
    return xp.concat([xp.zeros_like(vs[..., :1]), vs], axis=-1)


def log_sinhc(t, *, xp):
    """log(sinh(t) / t) for t >= 0: t - log(2t) + log1p(-e^-2t) past t = 1 (sinh overflows
    at t = 710 in float64, 89 in float32; this does not), log(sinhc(t)) below (~t^2/6)."""
    big = t > 1.0
    tb = xp.where(big, t, 1.0)
    return xp.where(
        big,
        tb - xp.log(2.0 * tb) + xp.log1p(-xp.exp(-2.0 * tb)),
        xp.log(sinhc(xp.where(big, 0.0, t), xp=xp)),
    )


def sample_ref(mean, scale, noise, c, *, xp):
    """boost(exp_o(v), mu, +1) = exp_mu(PT_{o -> mu}(v)), v = (0, scale * noise): exact for
    every mean and step. (Transport followed by expmap, each within its own contract, erred
    by 1.1e-12 for a step of 15 from |mu_s| = 2.3e3; and expmap's gradient with respect to
    its base point is 0 across the step at the origin.)"""
    sc = _sc(c, xp)
    mean, v = xp.broadcast_arrays(mean, _at_origin(scale * noise, xp=xp))
    ys = ref.expmap0(v, c, xp=xp)[..., 1:]
    # a step past the representable radius: exp_o(v) is +-inf, which the boost would make
    # inf - inf; those rows take transport and expmap, whose overflow is +-inf
    odd = xp.any(xp.isinf(ys), axis=-1, keepdims=True)

    def plain(safe):
        y = xp.where(odd, 0.0, ys) if safe else ys
        return ref.from_space(boost(sc * y, sc * mean[..., 1:], 1.0, xp=xp) / sc, c, xp=xp)

    def wide():
        origin = ref.from_space(xp.zeros_like(v[..., 1:]), c, xp=xp)
        return ref.expmap(mean, ref.transport(origin, mean, v, c, xp=xp), c, xp=xp)

    return select_rows(odd if maybe(odd, xp=xp) else None, plain, wide, xp=xp)


def log_prob_ref(z, mean, scale, c, *, xp):
    """log N(v; 0, diag(scale^2)) - (n - 1) log(sinh(t)/t), v = PT_{mu -> o}(log_mu(z))_s =
    log_o(boost(z, mu, -1))_s, t = sqrt(c) d(mu, z)."""
    z, mean = xp.broadcast_arrays(z, mean)
    sc = _sc(c, xp)
    # log_mu then transport to o loses eps |log_mu(z)| ~ eps x0 d (7e-13 at |mu_s| = 9e3),
    # as the transport undoes the tilt of the tangent space; the boost does not
    zs = boost(sc * z[..., 1:], sc * mean[..., 1:], -1.0, xp=xp) / sc
    v = ref.logmap0(_at_origin(zs, xp=xp), c, xp=xp)[..., 1:]
    n = v.shape[-1]
    t = sc * ref.dist(mean, z, c, xp=xp)
    w = v / scale
    gauss = (
        -0.5 * n * math.log(2.0 * math.pi)
        - xp.sum(xp.log(scale), axis=-1, keepdims=True)
        - 0.5 * sq(w, xp=xp)
    )
    return gauss - (n - 1) * log_sinhc(t, xp=xp)


def _space_args(xp, n, batch, dtype, **arrays):
    """Validate (..., n) arrays of the points' library; returns them in the compute dtype and
    the promoted dtype."""
    out = []
    shapes = {"the points": batch}
    for name, a in arrays.items():
        a = vectors(name, a, xp, n)
        shapes[name] = tuple(a.shape[:-1])
        dtype = xp.result_type(dtype, a.dtype)
        out.append(a)
    _broadcast(shapes)
    return to_work(xp, *out), dtype


def _check_scale(xp, scale):
    if is_concrete(scale) and bool(xp.any(scale <= 0)):
        raise ValueError("scale must be > 0 (standard deviations in the tangent space)")


def wrapped_normal_sample(
    mean: Array, scale: Array, noise: Array, *, c: float | Array = 1.0
) -> Array:
    r"""Samples of the wrapped normal distribution (Nagano et al., ICML 2019) from
    standard-normal ``noise`` drawn by the caller (any library, any generator):

    .. math:: z = \exp_\mu\big(\mathrm{PT}_{o\to\mu}(0, \sigma\odot\varepsilon)\big),

    the normal :math:`\mathcal N(0, \operatorname{diag}\sigma^2)` in the tangent space at the
    origin :math:`o`, parallel-transported to ``mean`` and wrapped onto the hyperboloid.
    Differentiable in ``mean`` and ``scale`` (the reparametrisation trick).

    Parameters
    ----------
    mean : array, shape (..., n+1)
        :math:`\mu`, a point (only the space part is read).
    scale : array, shape (..., n)
        :math:`\sigma > 0`, standard deviations along the space axes at the origin.
    noise : array, shape (..., n)
        :math:`\varepsilon`, standard-normal draws; leading dimensions broadcast with
        ``mean`` and ``scale`` (e.g. shape (S, B, n) for S samples of B distributions).
    c : float or array
        Curvature is :math:`-c`.

    Returns
    -------
    array, shape (..., n+1)

    Notes
    -----
    Transport and exponential map are the library's, exact to the representable radius
    (:func:`transport`, :func:`expmap`). See :func:`wrapped_normal_log_prob` for the density.

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> mu = lorentz.expmap0(np.array([0.0, 1.0, 0.0]))
    >>> z = lorentz.wrapped_normal_sample(mu, np.array([0.1, 0.1]), np.zeros(2))
    >>> bool(np.allclose(z, mu))
    True
    """
    return _registry.call("wrapped_normal_sample", c=c, mean=mean, scale=scale, noise=noise)


def sample_bind(c, *, mean, scale, noise):
    """The registry's preparation of wrapped_normal_sample's arguments: the mean, then the
    scale and noise (..., n) of its library broadcasting against it."""
    xp, (m,), cc, dtype, batch = prepare(c, mean=mean)
    (s, e), dtype = _space_args(xp, mean.shape[-1] - 1, batch, dtype, scale=scale, noise=noise)
    _check_scale(xp, s)
    return xp, (m, s, e), cc, dtype, ()


def wrapped_normal_log_prob(
    z: Array, mean: Array, scale: Array, *, c: float | Array = 1.0
) -> Array:
    r"""Log density of the wrapped normal distribution (Nagano et al., ICML 2019) with
    respect to the hyperbolic volume:

    .. math:: \log p(z) = \log\mathcal N\big(v; 0, \operatorname{diag}\sigma^2\big)
              - (n-1)\log\frac{\sinh(\sqrt{c}\,r)}{\sqrt{c}\,r},

    :math:`v` the space part of :math:`\mathrm{PT}_{\mu\to o}(\log_\mu z)`,
    :math:`r = d(\mu, z)`.

    Parameters
    ----------
    z : array, shape (..., n+1)
        Points (only the space parts are read).
    mean : array, shape (..., n+1)
        :math:`\mu`.
    scale : array, shape (..., n)
        :math:`\sigma > 0`.
    c : float or array
        Curvature is :math:`-c`.

    Returns
    -------
    array, shape (...)

    Notes
    -----
    :math:`\log(\sinh(t)/t)` is evaluated as :math:`t - \log 2t + \operatorname{log1p}
    (-e^{-2t})` past :math:`t = 1`, so it is finite wherever the points are (``sinh``
    overflows at :math:`t = 89` in float32). Log map and transport are exact for every pair
    (:func:`logmap`, :func:`transport`): the result keeps the contract (2e-6 / 1e-12 relative,
    or 4x the answer's movement under one rounding of the inputs), finite with finite
    gradients for means and points out to space norms of 1e3 in float32 and at ``z == mean``.
    It is the density of :func:`wrapped_normal_sample` (how this is checked:
    docs/operations.md).

    Examples
    --------
    >>> import numpy as np, lorentz
    >>> o = np.array([1.0, 0.0, 0.0])
    >>> round(float(lorentz.wrapped_normal_log_prob(o, o, np.ones(2))), 12)  # -log(2 pi)
    -1.837877066409
    """
    return _registry.call(
        "wrapped_normal_log_prob", c=c, keepdim=False, z=z, mean=mean, scale=scale
    )


def log_prob_bind(c, *, z, mean, scale):
    """The registry's preparation of wrapped_normal_log_prob's arguments: the points and the
    mean, then the scale (..., n) broadcasting against them."""
    xp, (zw, m), cc, dtype, batch = prepare(c, z=z, mean=mean)
    (s,), dtype = _space_args(xp, mean.shape[-1] - 1, batch, dtype, scale=scale)
    _check_scale(xp, s)
    return xp, (zw, m, s), cc, dtype, ()
