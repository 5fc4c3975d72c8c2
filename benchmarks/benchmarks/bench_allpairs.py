"""asv: the all-pairs operations on torch CPU and jax against the textbook formula in the same
library (benchmarks/allpairs.py is the side-by-side script with the targets)."""

import numpy as np

import lorentz
import lorentz.meru

from . import SMOKE
from .textbook import meru_loss_formula, meru_pairwise


def _space(n, dim, seed=0):
    return (0.3 * np.random.default_rng(seed).normal(size=(n, dim))).astype(np.float32)


class TorchPairwise:
    params = (["textbook", "lorentz"], [(64, 16)] if SMOKE else [(4096, 128), (1024, 512)])
    param_names = ["formula", "n, dim"]

    def setup(self, formula, shape):
        import torch

        n, dim = shape
        self.xs, self.ys = torch.from_numpy(_space(n, dim)), torch.from_numpy(_space(n, dim, 1))
        self.x, self.y = lorentz.from_space(self.xs), lorentz.from_space(self.ys)
        lorentz.pairwise_dist(self.x[:2], self.y[:2])  # first call: operator registration

    def time_pairwise_dist(self, formula, shape):
        if formula == "textbook":
            meru_pairwise(self.xs, self.ys)
        else:
            lorentz.pairwise_dist(self.x, self.y)


class JaxPairwise:
    params = (["textbook", "lorentz"], [(64, 16)] if SMOKE else [(4096, 128), (1024, 512)])
    param_names = ["formula", "n, dim"]

    def setup(self, formula, shape):
        import jax

        jax.config.update("jax_enable_x64", True)
        jnp = jax.numpy
        n, dim = shape
        self.x = jnp.asarray(lorentz.from_space(_space(n, dim).astype(np.float64)))
        self.y = jnp.asarray(lorentz.from_space(_space(n, dim, 1).astype(np.float64)))

        def textbook(x, y):
            g = x[:, 1:] @ y[:, 1:].T - jnp.outer(x[:, 0], y[:, 0])
            return jnp.arccosh(jnp.maximum(-g, 1.0))

        self.f = jax.jit(
            textbook if formula == "textbook" else lambda x, y: lorentz.pairwise_dist(x, y)
        )
        self.f(self.x, self.y).block_until_ready()

    def time_pairwise_dist(self, formula, shape):
        self.f(self.x, self.y).block_until_ready()


class TorchMeruLoss:
    params = (["textbook", "lorentz"],)
    param_names = ["formula"]

    def setup(self, formula):
        import torch

        b = 32 if SMOKE else 1024
        self.image, self.text = (
            torch.from_numpy(_space(b, 512)),
            torch.from_numpy(_space(b, 512, 1)),
        )
        self.curv = torch.tensor(1.0, requires_grad=True)
        self.scale = torch.tensor(10.0, requires_grad=True)
        lorentz.meru.meru_loss(
            self.image[:2], self.text[:2], curv=self.curv, logit_scale=self.scale
        )

    def time_forward_backward(self, formula):
        i, t = self.image.clone().requires_grad_(), self.text.clone().requires_grad_()
        if formula == "textbook":
            loss = meru_loss_formula(i, t, self.curv, self.scale)
        else:
            loss = lorentz.meru.meru_loss(i, t, curv=self.curv, logit_scale=self.scale)["loss"]
        loss.backward()


class TorchKnn:
    params = (["textbook", "lorentz"],)
    param_names = ["formula"]

    def setup(self, formula):
        import torch

        n_k = 2_000 if SMOKE else 200_000
        self.qs, self.ks = torch.from_numpy(_space(1000, 64)), torch.from_numpy(_space(n_k, 64, 1))
        self.q, self.keys = lorentz.from_space(self.qs), lorentz.from_space(self.ks)
        lorentz.knn(self.q[:2], self.keys[:20], 2)

    def _run(self, formula):
        import torch

        if formula == "lorentz":
            return lorentz.knn(self.q, self.keys, 10)
        best_d = best_i = None
        for col in range(0, self.ks.shape[0], 4096):
            d, i = torch.topk(
                meru_pairwise(self.qs, self.ks[col : col + 4096]), 10, dim=1, largest=False
            )
            if best_d is not None:
                d, order = torch.topk(torch.cat([best_d, d], 1), 10, dim=1, largest=False)
                i = torch.gather(torch.cat([best_i, i + col], 1), 1, order)
            best_d, best_i = d, i
        return best_d, best_i

    def time_knn(self, formula):
        self._run(formula)

    def peakmem_knn(self, formula):
        self._run(formula)
