"""A geoopt manifold backed by this library (extra ``geoopt``).

``lorentz.geoopt.Lorentz(c)`` subclasses geoopt's Lorentz manifold (whose ``k`` is 1/c) and
replaces its maths with this library's: geoopt.ManifoldParameter, RiemannianAdam and
RiemannianSGD then train on exact distances, maps and transports, stay finite where geoopt's
formulas cancel or divide by zero, and never modify the gradient tensor they are given
(geoopt's own egrad2rgrad flips the sign of its time component in place). geoopt's own
conventions are kept where code relies on them: ``inner(None, u, v)`` and ``inner(x, x)`` are
the ambient Lorentzian form, and arguments broadcast against each other.
"""

from __future__ import annotations

import math

import geoopt
import torch
from array_api_compat import torch as xp

import lorentz

from . import _reference as ref

# a vector whose <x,v>_L is within this many ulps of its terms is tangent up to rounding
_TANGENT_ULPS = 64

__all__ = ["Lorentz"]


def _last(dim: int) -> None:
    if dim != -1:
        raise ValueError(
            f"lorentz.geoopt.Lorentz works on the last dimension (dim=-1), got dim={dim}"
        )


def _tangent(x, v):
    """Where <x,v>_L is zero up to the rounding of its terms: v tangent at x as far as the
    dtype can tell (what geoopt's optimisers step along and transport)."""
    xs, vs = x[..., 1:], v[..., 1:]
    along = torch.sum(xs * vs, dim=-1, keepdim=True)
    terms = torch.linalg.vector_norm(xs, dim=-1, keepdim=True) * torch.linalg.vector_norm(
        vs, dim=-1, keepdim=True
    ) + torch.abs(x[..., :1] * v[..., :1])
    eps = torch.finfo(torch.result_type(x, v)).eps
    return torch.abs(along - x[..., :1] * v[..., :1]) <= _TANGENT_ULPS * eps * terms


def _on_sheet(x, c):
    """Where x is a point of the upper sheet (x0 > 0 and <x,x>_L = -1/c up to rounding): a
    vector passed as ``x`` (geoopt's own tests call inner(v, u)) is not a base point."""
    x0 = x[..., :1]
    form = torch.sum(x[..., 1:] ** 2, dim=-1, keepdim=True) - x0 * x0
    eps = torch.finfo(x.dtype).eps
    return (x0 > 0) & (torch.abs(form + 1 / c) <= _TANGENT_ULPS * eps * (x0 * x0 + 1 / c))


class Lorentz(geoopt.Lorentz):
    """The hyperboloid of curvature -c, time coordinate first, as a geoopt manifold.

    Parameters
    ----------
    c : float
        Curvature is -c (geoopt's ``k`` is 1/c).
    learnable : bool
        Make the curvature a learnable parameter (stored as geoopt's ``k``).
    """

    name = "Lorentz (lorentz-geometry)"

    def __init__(self, c: float = 1.0, learnable: bool = False):
        super().__init__(k=1.0 / c, learnable=learnable)
        # geoopt keeps k in float32; a fixed c is kept exactly (1/float32(1/3) is off by 1e-8)
        self._c = None if learnable else float(c)

    @property
    def c(self):
        return 1.0 / self.k if self._c is None else self._c

    # -- checks (geoopt's assert_check_point_on_manifold / _vector_on_tangent) --------------
    def _check_point_on_manifold(self, x, *, atol=1e-5, rtol=1e-5, dim=-1):
        """<x,x>_L = -1/c and x0 > 0, in x's dtype (geoopt compares with its float32 k and
        fails on float64 points), allowing the rounding of the form's terms far out."""
        _last(dim)
        c = self.c if isinstance(self.c, float) else float(self.c.detach())
        form = lorentz.inner(x, x, keepdim=True)
        terms = torch.sum(x * x, dim=-1, keepdim=True)
        slack = atol + rtol / c + 8 * torch.finfo(x.dtype).eps * terms
        ok = bool(((form + 1 / c).abs() <= slack).all() and (x[..., :1] > 0).all())
        return ok, None if ok else f"'x' minkowski quadratic form is not equal to {-1 / c}"

    def _check_vector_on_tangent(self, x, u, *, atol=1e-5, rtol=1e-5, dim=-1):
        """<x,u>_L = 0, allowing the rounding of its terms."""
        _last(dim)
        x, u = torch.broadcast_tensors(x, u)
        form = lorentz.inner(x, u, keepdim=True)
        terms = torch.sum((x * u).abs(), dim=-1, keepdim=True)
        ok = bool((form.abs() <= atol + (rtol + 8 * torch.finfo(form.dtype).eps) * terms).all())
        return ok, None if ok else "Minkowski inner product is not equal to zero"

    # -- metric ------------------------------------------------------------------------------
    def dist(self, x, y, *, keepdim=False, dim=-1):
        _last(dim)
        return lorentz.dist(x, y, c=self.c, keepdim=keepdim)

    def dist0(self, x, *, keepdim=False, dim=-1):
        _last(dim)
        return lorentz.dist0(x, c=self.c, keepdim=keepdim)

    def inner(self, x, u, v=None, *, keepdim=False, dim=-1):
        """<u,v>_L (``v`` defaults to ``u``), as geoopt defines it: the ambient Lorentzian form
        -u0 v0 + us.vs, whatever ``x`` is (geoopt ignores it; ``inner(None, u, v)`` is allowed
        and ``inner(x, x)`` is -1/c). Where ``u`` and ``v`` are both tangent at the point ``x``
        (up to rounding) the same value is formed from their space parts instead, without
        cancellation: far out the ambient form loses eps x0^2 relative, and RiemannianAdam's
        second moment, built from it, collapsed (a 2-D WordNet embedding went to NaN at
        x0 ~ 1e9)."""
        _last(dim)
        v = u if v is None else v
        out_dtype = torch.result_type(u, v)
        u, v = torch.broadcast_tensors(u, v)
        ambient = lorentz.inner(u.to(torch.float64), v.to(torch.float64), keepdim=True)
        if x is None:
            out = ambient
        else:
            x, u, v = torch.broadcast_tensors(x, u, v)
            xs, us, vs = (a[..., 1:].to(torch.float64) for a in (x, u, v))
            c = self.c
            exact = ref.tangent_inner(xs, ref.time(xs, c, xp=xp), us, vs, c, xp=xp)
            both = _tangent(x, u) & _tangent(x, v) & _on_sheet(x, c)
            out = torch.where(both, exact, ambient)
        out = out.to(out_dtype)
        return out if keepdim else out[..., 0]

    def inner0(self, v=None, *, keepdim=False, dim=-1):
        """<v, o>_L = -v0 / sqrt(c) with the origin o, c exact (geoopt's sqrt(k) is rounded
        to float32)."""
        _last(dim)
        c = self.c
        out = -v[..., :1] / (math.sqrt(c) if isinstance(c, float) else torch.sqrt(c))
        return out if keepdim else out[..., 0]

    def norm(self, u, *, keepdim=False, dim=-1):
        _last(dim)
        return lorentz.norm(u, keepdim=keepdim)

    # -- projections and gradients -----------------------------------------------------------
    def projx(self, x, *, dim=-1):
        _last(dim)
        return lorentz.project(x, c=self.c)

    def proju(self, x, v, *, dim=-1):
        """Onto T_x, ``x`` and ``v`` broadcast against each other. A vector tangent up to
        rounding (what geoopt's optimizers step along and transport) keeps its space part and
        gets its time part re-derived, the library's convention: the Lorentz-orthogonal
        projection v + c<x,v>_L x would multiply the rounding of v0 by ~ c x0^2 (1e2 relative
        at x0 = 1e9, where a 2-D WordNet run's steps overflowed). Other vectors
        (RiemannianSGD starts its momentum from the Euclidean gradient) are projected
        orthogonally."""
        _last(dim)
        x, v = torch.broadcast_tensors(x, v)
        projected = lorentz.project_tangent(x, v, c=self.c)
        xs, vs = x[..., 1:], v[..., 1:]
        along = torch.sum(xs * vs, dim=-1, keepdim=True)
        x0 = lorentz.project(x, c=self.c)[..., :1]  # re-derived from xs, as everywhere
        kept = torch.cat([along / x0, vs], dim=-1)
        return torch.where(_tangent(x, v), kept, projected)

    def egrad2rgrad(self, x, u, *, dim=-1):
        """Riemannian gradient: the Euclidean one with its time component negated (the
        metric's inverse), projected onto T_x. A new tensor: ``u`` is left as it was."""
        _last(dim)
        flipped = torch.cat([-u[..., :1], u[..., 1:]], dim=-1)
        return lorentz.project_tangent(x, flipped, c=self.c)

    # -- maps --------------------------------------------------------------------------------
    def expmap(self, x, u, *, norm_tan=True, project=True, dim=-1):
        _last(dim)
        if norm_tan:
            u = self.proju(x, u)
        return lorentz.expmap(x, u, c=self.c)  # on the hyperboloid by construction

    def expmap0(self, u, *, project=True, dim=-1):
        _last(dim)
        return lorentz.expmap0(u, c=self.c)

    def logmap(self, x, y, *, dim=-1):
        _last(dim)
        return lorentz.logmap(x, y, c=self.c)

    def logmap0(self, y, *, dim=-1):
        _last(dim)
        return lorentz.logmap0(y, c=self.c)

    def logmap0back(self, x, *, dim=-1):
        """log_x(o), the origin seen from x."""
        _last(dim)
        return lorentz.logmap(x, self._origin_like(x), c=self.c)

    def retr(self, x, u, *, dim=-1):
        return self.expmap(x, u, dim=dim)

    def cdist(self, x, y, **kwargs):
        """Distances of every row of x (..., B1, n+1) to every row of y (..., B2, n+1), exact
        (never negative; geoopt's acosh of the ambient form loses all digits of near pairs)."""
        return lorentz.pairwise_dist(x, y, c=self.c)

    def geodesic_unit(self, t, x, u, *, dim=-1, project=True):
        """The unit-speed geodesic from x in the direction u/|u| at time t."""
        _last(dim)
        u = self.proju(x, u)
        direction = u / lorentz.norm(u, keepdim=True)
        return lorentz.expmap(x, t * direction, c=self.c)

    def origin(self, *size, dtype=None, device=None, seed=42):
        """The origin (1/sqrt(c), 0, ..., 0), as :meth:`projx` of zeros gives it (default
        dtype and device, as in geoopt: those of ``k``)."""
        dtype = self.k.dtype if dtype is None else dtype
        device = self.k.device if device is None else device
        c = self.c if isinstance(self.c, float) else float(self.c.detach())
        shape = torch.Size(size[0] if len(size) == 1 and not isinstance(size[0], int) else size)
        space = torch.zeros(*shape[:-1], shape[-1] - 1, dtype=dtype, device=device)
        return geoopt.ManifoldTensor(lorentz.from_space(space, c=c), manifold=self)

    def _origin_like(self, x):
        return lorentz.from_space(torch.zeros_like(x[..., 1:]), c=self.c)

    def transp(self, x, y, v, *, dim=-1):
        """Parallel transport of v, first projected onto T_x: geoopt's RiemannianSGD starts its
        momentum buffer from the Euclidean gradient, which is not tangent, and the transport
        of a tangent vector is only defined for tangent vectors."""
        _last(dim)
        return lorentz.transport(x, y, self.proju(x, v), c=self.c)

    def transp_follow_expmap(self, x, u, v, *, dim=-1):
        return self.transp(x, self.expmap(x, u, dim=dim), v, dim=dim)

    transp_follow_retr = transp_follow_expmap

    def transp0(self, y, u, *, dim=-1):
        """Parallel transport of u from the origin to y (u first projected onto T_o)."""
        _last(dim)
        o = self._origin_like(y)
        return lorentz.transport(o, y, self.proju(o, u), c=self.c)

    def transp0back(self, x, u, *, dim=-1):
        """Parallel transport of u from x to the origin (u first projected onto T_x)."""
        _last(dim)
        return lorentz.transport(x, self._origin_like(x), self.proju(x, u), c=self.c)

    def expmap_transp(self, x, u, v, *, dim=-1):
        y = self.expmap(x, u, dim=dim)
        return y, self.transp(x, y, v, dim=dim)

    retr_transp = expmap_transp
