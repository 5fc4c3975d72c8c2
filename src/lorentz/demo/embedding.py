"""Embedding a hierarchy by its transitive closure (Nickel & Kiela 2017, 2018).

Every (noun, hypernym) pair (u, v) is a softmax over distances: the loss is
-log(exp(-d(u, v)) / sum over v' of exp(-d(u, v'))), v' ranging over v and a sample of nouns,
drawn as N&K draw them, that are neither u nor its hypernyms (u's hyponyms are negatives: that
is what teaches a noun's hypernyms to rank before its own descendants).
Points are geoopt ManifoldParameters on ``lorentz.geoopt.Lorentz`` (exact distances, exp maps
and transports from this library), trained with geoopt's RiemannianAdam; the Euclidean
baseline is the same model on geoopt's Euclidean manifold with N&K's squared distance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geoopt
import numpy as np
import torch

import lorentz
from lorentz.geoopt import Lorentz


@dataclass(frozen=True)
class Settings:
    dim: int = 5
    epochs: int = 200
    batch: int = 1024
    negatives: int = 10
    lr: float = 0.1
    burn_in: int = 10  # epochs at lr / 10 first, so the points spread before they move fast
    seed: int = 0
    # update only the rows of a batch (geoopt's SparseRiemannianAdam, as N&K's code does):
    # a dense step over all 82,115 nouns cost ~0.3 s, 20 epochs over an hour on 2 cores
    sparse: bool = False


class Embedding(torch.nn.Module):
    """n points of a manifold, "lorentz" (curvature -1, ambient dim + 1) or "euclidean"."""

    def __init__(
        self, n: int, dim: int, geometry: str, generator: torch.Generator, sparse: bool = False
    ):
        super().__init__()
        self.sparse = sparse
        init = 1e-3 * (2 * torch.rand(n, dim, generator=generator, dtype=torch.float64) - 1)
        if geometry == "lorentz":
            zero = torch.zeros(n, 1, dtype=torch.float64)
            point = lorentz.expmap0(torch.cat([zero, init], dim=-1))
            self.points = geoopt.ManifoldParameter(point, manifold=Lorentz(1.0))
        elif geometry == "euclidean":
            self.points = geoopt.ManifoldParameter(init, manifold=geoopt.Euclidean())
        else:
            raise ValueError(f"geometry must be 'lorentz' or 'euclidean', got {geometry!r}")
        self.geometry = geometry

    def distance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        if self.sparse:  # a sparse gradient: the rows of u and v only
            x = torch.nn.functional.embedding(u, self.points, sparse=True)
            y = torch.nn.functional.embedding(v, self.points, sparse=True)
        else:
            x, y = self.points[u], self.points[v]
        if self.geometry == "lorentz":
            return lorentz.dist(x, y)
        return torch.sum((x - y) ** 2, dim=-1)

    def bound(self, radius: float = 50.0) -> None:
        """Pull points farther than ``radius`` from the origin back to it, along their ray: a
        long run (many epochs) must not drift to where cosh overflows."""
        if self.geometry != "lorentz":
            return
        with torch.no_grad():
            v = lorentz.logmap0(self.points)
            r = torch.linalg.vector_norm(v, dim=-1, keepdim=True)
            self.points.copy_(lorentz.expmap0(v * torch.clamp(radius / r, max=1.0)))

    def distances_from(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n) distances, for the reconstruction metrics."""
        p = self.points.detach().numpy()
        if self.geometry == "lorentz":
            return lorentz.pairwise_dist(p[rows], p)
        return np.sum((p[rows, None, :] - p[None, :, :]) ** 2, axis=-1)


def learning_rate(settings: Settings, epoch: int) -> float:
    """lr / 10 during the burn-in, then lr decaying linearly to lr / 100. Adam's normalised
    steps move a point by about lr each step however small its gradient; at a constant lr
    the 2-D embedding drifts outward for good (past radius 700, where float64 overflows, in
    200 epochs at lr 0.1)."""
    if epoch < settings.burn_in:
        return settings.lr / 10
    done = (epoch - settings.burn_in) / max(1, settings.epochs - settings.burn_in)
    return settings.lr * (1 - 0.99 * done)


def hypernym_keys(edges: np.ndarray, n: int) -> torch.Tensor:
    """Sorted keys u * n + v of every (noun, hypernym) pair and u * n + u: not negatives for u."""
    keys = np.concatenate([edges[:, 0] * n + edges[:, 1], np.arange(n) * (n + 1)])
    return torch.from_numpy(np.unique(keys))


def train(
    edges: np.ndarray,
    n: int,
    geometry: str,
    settings: Settings,
    progress: Callable = lambda it, **_: it,
) -> Embedding:
    generator = torch.Generator().manual_seed(settings.seed)
    model = Embedding(n, settings.dim, geometry, generator, settings.sparse)
    adam = geoopt.optim.SparseRiemannianAdam if settings.sparse else geoopt.optim.RiemannianAdam
    optimizer = adam(model.parameters(), lr=settings.lr)
    pairs, known = torch.from_numpy(edges), hypernym_keys(edges, n)
    # N&K's sampler: nouns by (1 + times seen as a hypernym)^0.75, so that inner nouns, the
    # hard negatives, come up often (uniform sampling stalls at mean rank 5.5 on mammals)
    popularity = torch.from_numpy(1.0 + np.bincount(edges[:, 1], minlength=n)) ** 0.75
    bar = progress(range(settings.epochs), desc=f"{geometry} d={settings.dim}", leave=False)
    for epoch in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(settings, epoch)
        for batch in torch.randperm(len(pairs), generator=generator).split(settings.batch):
            u, v = pairs[batch, 0], pairs[batch, 1]
            negative = torch.multinomial(
                popularity, len(batch) * settings.negatives, replacement=True, generator=generator
            ).view(len(batch), settings.negatives)
            candidates = torch.cat([v[:, None], negative], dim=1)
            logits = -model.distance(u[:, None].expand_as(candidates), candidates)
            # a sampled hypernym of u (or u itself) is no negative: out of the softmax
            key = u[:, None] * n + negative
            excluded = known[torch.searchsorted(known, key).clamp_(max=len(known) - 1)] == key
            excluded = torch.cat([torch.zeros_like(excluded[:, :1]), excluded], dim=1)
            logits = logits.masked_fill(excluded, float("-inf"))
            loss = torch.nn.functional.cross_entropy(logits, torch.zeros_like(u))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.bound()  # once an epoch: a point moves at most ~lr per step in between
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss.item():.3f}")
    return model
