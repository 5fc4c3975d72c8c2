"""asv benchmarks of the scale-out paths: a FAISS-backed LorentzIndex (extra faiss) and the
core on dask arrays (extra dask). Sizes are small enough for `asv run --quick`; the 1M-key
comparison is benchmarks/faiss_index.py."""

import numpy as np

import lorentz

from . import SMOKE

KEYS = 2_000 if SMOKE else 50_000


def _points(n, dim=128, seed=0):
    rng = np.random.default_rng(seed)
    return lorentz.from_space((0.3 * rng.normal(size=(n, dim))).astype(np.float32))


class FaissIndex:
    params = (["Flat", "IVF16,Flat" if SMOKE else "IVF256,Flat", "HNSW32"],)
    param_names = ["index"]
    timeout = 300

    def setup(self, index):
        from lorentz.faiss import LorentzIndex

        self.keys, self.queries = _points(KEYS), _points(200, seed=1)
        self.index = LorentzIndex(129, index)
        self.index.add(self.keys)
        self.spec = index

    def time_search(self, index):
        self.index.search(self.queries, 10)

    def time_build(self, index):
        from lorentz.faiss import LorentzIndex

        LorentzIndex(129, index).add(self.keys)

    def peakmem_search(self, index):
        self.index.search(self.queries, 10)

    def track_recall_at_10(self, index):
        _, exact = lorentz.knn(self.queries, self.keys, 10)
        _, found = self.index.search(self.queries, 10)
        return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)]))


class Dask:
    def setup(self):
        import dask

        dask.config.set(scheduler="threads")
        self.x = _points(KEYS * 4, dim=16)

    def time_logmap0_dist0_reduce(self):
        import dask.array as da

        x = da.from_array(self.x, chunks=(len(self.x) // 8, -1))
        da.sum(lorentz.dist0(lorentz.expmap0(lorentz.logmap0(x)))).compute()

    def peakmem_logmap0_dist0_reduce(self):
        self.time_logmap0_dist0_reduce()
