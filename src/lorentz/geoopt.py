"""A geoopt manifold backed by this library (extra ``geoopt``).

``lorentz.geoopt.Lorentz(c)`` subclasses geoopt's Lorentz manifold (whose ``k`` is 1/c) and
replaces its maths with this library's: geoopt.ManifoldParameter, RiemannianAdam and
RiemannianSGD then train on exact distances, maps and transports, stay finite where geoopt's
formulas cancel or divide by zero, and never modify the gradient tensor they are given
(geoopt's own egrad2rgrad flips the sign of its time component in place).
"""

from __future__ import annotations

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
        raise ValueError(f"lorentz.geoopt.Lorentz works on the last dimension (dim=-1), got dim={dim}")


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

    # -- metric ------------------------------------------------------------------------------
    def dist(self, x, y, *, keepdim=False, dim=-1):
        _last(dim)
        return lorentz.dist(x, y, c=self.c, keepdim=keepdim)

    def dist0(self, x, *, keepdim=False, dim=-1):
        _last(dim)
        return lorentz.dist0(x, c=self.c, keepdim=keepdim)

    def inner(self, x, u, v=None, *, keepdim=False, dim=-1):
        """<u,v>_L of tangent vectors at x from their space parts, without cancellation: far
        out the ambient form u.v - u0 v0 loses eps x0^2 relative, and RiemannianAdam's second
        moment, built from it, collapsed (a 2-D WordNet embedding went to NaN at x0 ~ 1e9)."""
        _last(dim)
        v = u if v is None else v
        xs, us, vs = (a[..., 1:].to(torch.float64) for a in (x, u, v))
        c = self.c
        out = ref.tangent_inner(xs, ref.time(xs, c, xp=xp), us, vs, c, xp=xp)
        out = out.to(torch.result_type(u, v))
        return out if keepdim else out[..., 0]

    def norm(self, u, *, keepdim=False, dim=-1):
        _last(dim)
        return lorentz.norm(u, keepdim=keepdim)

    # -- projections and gradients -----------------------------------------------------------
    def projx(self, x, *, dim=-1):
        _last(dim)
        return lorentz.project(x, c=self.c)

    def proju(self, x, v, *, dim=-1):
        """Onto T_x. A vector tangent up to rounding (what geoopt's optimizers step along and
        transport) keeps its space part and gets its time part re-derived, the library's
        convention: the Lorentz-orthogonal projection v + c<x,v>_L x would multiply the
        rounding of v0 by ~ c x0^2 (1e2 relative at x0 = 1e9, where a 2-D WordNet run's
        steps overflowed). Other vectors (RiemannianSGD starts its momentum from the
        Euclidean gradient) are projected orthogonally."""
        _last(dim)
        projected = lorentz.project_tangent(x, v, c=self.c)
        xs, vs = x[..., 1:], v[..., 1:]
        along = torch.sum(xs * vs, dim=-1, keepdim=True)
        terms = torch.linalg.vector_norm(xs, dim=-1, keepdim=True) * torch.linalg.vector_norm(
            vs, dim=-1, keepdim=True) + torch.abs(x[..., :1] * v[..., :1])
        eps = torch.finfo(torch.result_type(x, v)).eps
        tangent = torch.abs(along - x[..., :1] * v[..., :1]) <= _TANGENT_ULPS * eps * terms
        x0 = lorentz.project(x, c=self.c)[..., :1]  # re-derived from xs, as everywhere
        kept = torch.cat([along / x0, vs], dim=-1)
        return torch.where(tangent, kept, projected)

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

    def retr(self, x, u, *, dim=-1):
        return self.expmap(x, u, dim=dim)

    def transp(self, x, y, v, *, dim=-1):
        """Parallel transport of v, first projected onto T_x: geoopt's RiemannianSGD starts its
        momentum buffer from the Euclidean gradient, which is not tangent, and the transport
        of a tangent vector is only defined for tangent vectors."""
        _last(dim)
        return lorentz.transport(x, y, self.proju(x, v), c=self.c)

    def transp_follow_expmap(self, x, u, v, *, dim=-1):
        return self.transp(x, self.expmap(x, u, dim=dim), v, dim=dim)

    transp_follow_retr = transp_follow_expmap

    def expmap_transp(self, x, u, v, *, dim=-1):
        y = self.expmap(x, u, dim=dim)
        return y, self.transp(x, y, v, dim=dim)

    retr_transp = expmap_transp
