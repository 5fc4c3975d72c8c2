"""asv benchmarks of the CPU implementations (float32, 128 dims)."""

import numpy as np

import lorentz

from . import SMOKE


def _points(n, dim=128, seed=0):
    rng = np.random.default_rng(seed)
    return lorentz.from_space((0.3 * rng.normal(size=(n, dim))).astype(np.float32))


class PairwiseDist:
    params = (["reference", "numba"], [16] if SMOKE else [256, 1024])
    param_names = ["implementation", "n"]

    def setup(self, implementation, n):
        self.x, self.y = _points(n), _points(n, seed=1)
        lorentz.pairwise_dist(self.x[:2], self.y[:2], implementation=implementation)

    def time_pairwise_dist(self, implementation, n):
        lorentz.pairwise_dist(self.x, self.y, implementation=implementation)


class Knn:
    params = (["reference", "numba"],)
    param_names = ["implementation"]

    def setup(self, implementation):
        self.q, self.k = _points(100), _points(500 if SMOKE else 20_000, seed=1)
        lorentz.knn(self.q[:2], self.k[:20], 2, implementation=implementation)

    def time_knn(self, implementation):
        lorentz.knn(self.q, self.k, 10, implementation=implementation)

    def peakmem_knn(self, implementation):
        lorentz.knn(self.q, self.k, 10, implementation=implementation)


class OriginMaps:
    params = (["reference", "numba"],)
    param_names = ["implementation"]

    def setup(self, implementation):
        rows = 1_000 if SMOKE else 100_000
        self.u = np.zeros((rows, 129), np.float32)
        self.u[:, 1:] = np.random.default_rng(0).normal(size=(rows, 128)) * 0.3
        self.p = lorentz.expmap0(self.u)
        lorentz.expmap0(self.u[:2], implementation=implementation)
        lorentz.logmap0(self.p[:2], implementation=implementation)

    def time_expmap0(self, implementation):
        lorentz.expmap0(self.u, implementation=implementation)

    def time_logmap0(self, implementation):
        lorentz.logmap0(self.p, implementation=implementation)
