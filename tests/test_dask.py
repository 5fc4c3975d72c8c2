"""dask arrays through the core: lazy, chunked as the inputs, equal to the numpy results; and a
dataset larger than each worker's memory limit mapped through a LocalCluster."""

from __future__ import annotations

import dask.array as da
import distributed
import numpy as np
import pytest

import lorentz
from lorentz.testing import assert_close

ROWS, CHUNK = 1000, 250


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    space = lambda: rng.standard_normal((ROWS, 8)) * rng.uniform(0.1, 30, (ROWS, 1))
    x, y = lorentz.from_space(space()), lorentz.from_space(space())
    u = lorentz.project_tangent(x, rng.standard_normal((ROWS, 9)))
    return x, y, u


OPS = {
    "project": lambda x, y, u: lorentz.project(x),
    "expmap0": lambda x, y, u: lorentz.expmap0(lorentz.logmap0(y)),
    "logmap0": lambda x, y, u: lorentz.logmap0(x),
    "expmap": lambda x, y, u: lorentz.expmap(x, u),
    "logmap": lambda x, y, u: lorentz.logmap(x, y),
    "dist": lambda x, y, u: lorentz.dist(x, y),
    "dist0": lambda x, y, u: lorentz.dist0(x),
    "transport": lambda x, y, u: lorentz.transport(x, y, u),
    "to_poincare": lambda x, y, u: lorentz.to_poincare(x),
    "from_poincare": lambda x, y, u: lorentz.from_poincare(lorentz.to_poincare(x)),
    "to_space": lambda x, y, u: lorentz.to_space(x),
    "from_space": lambda x, y, u: lorentz.from_space(lorentz.to_space(y)),
    "half_aperture": lambda x, y, u: lorentz.half_aperture(x),
    "exterior_angle": lambda x, y, u: lorentz.exterior_angle(x, y),
}


@pytest.mark.parametrize("name", OPS)
def test_lazy_chunked_and_equal_to_numpy(name, data):
    lazy = OPS[name](*(da.from_array(a, chunks=(CHUNK, -1)) for a in data))
    assert isinstance(lazy, da.Array)
    assert lazy.chunks[0] == (CHUNK,) * (ROWS // CHUNK)
    assert all(len(ch) == 1 for ch in lazy.chunks[1:])  # a point is never split
    # dask blocks run the reference formulas, numpy may take the numba kernels: they agree to
    # rounding, 1.1e-13 at most measured here, relative to each value or, for a vector, to its
    # largest component (the contract's measure: a component 1e-20 of its row's largest, as
    # expmap gives far out, differs by 3e-11 of itself and by 1e-31 of the row)
    expected = OPS[name](*data)
    got = lazy.compute()
    if expected.ndim == 2:
        scale = np.abs(expected).max(axis=-1, keepdims=True)
        assert np.all(np.abs(got - expected) <= 1e-13 * scale + 1e-13), name
    else:
        assert_close(got, expected, rtol=1e-13, atol=1e-13)


def test_pairwise_dist_and_knn_blockwise(data):
    x, y, _ = data
    dx, dy = da.from_array(x[:300], chunks=(128, -1)), da.from_array(y, chunks=(300, -1))
    d = lorentz.pairwise_dist(dx, dy)
    assert isinstance(d, da.Array) and d.chunks == ((128, 128, 44), (300,) * 3 + (100,))
    assert_close(d.compute(), lorentz.pairwise_dist(x[:300], y), rtol=1e-14, atol=0)
    kd, ki = lorentz.knn(dx, dy, 7)
    assert isinstance(kd, da.Array) and isinstance(ki, da.Array)
    ed, ei = lorentz.knn(x[:300], y, 7)
    assert np.array_equal(ki.compute(), ei)
    assert_close(kd.compute(), ed, rtol=1e-14, atol=0)


def _peak_rss_bytes() -> int:
    """This process's peak resident memory since it started (Linux VmHWM). Not getrusage's
    ru_maxrss: that survives exec, so a worker would report the peak of the process it was
    forked from (2 GB after the rest of the suite)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


@pytest.mark.slow
def test_local_cluster_dataset_larger_than_worker_memory():
    limit = 600 * 2**20
    rows, dim, chunk = 6_000_000, 15, 200_000  # 768 MB of float64 points, 6 MB chunks
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, memory_limit=limit,
        dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        space = da.random.default_rng(1).standard_normal((rows, dim), chunks=(chunk, dim))
        points = lorentz.from_space(space * 3.0)
        assert points.nbytes > limit
        tangent_norm = da.linalg.norm(lorentz.logmap0(points)[:, 1:], axis=1)
        distance = lorentz.dist0(points)
        total_norm, total_dist, worst = client.compute(
            [tangent_norm.sum(), distance.sum(), da.max(da.abs(tangent_norm - distance))],
            sync=True,
        )
        peaks = client.run(_peak_rss_bytes)
    # |log_0(x)| = d(0, x) for every point
    assert worst < 1e-12 and total_norm == pytest.approx(total_dist, rel=1e-12)
    assert total_dist / rows == pytest.approx(
        np.mean(
            lorentz.dist0(
                lorentz.from_space(3.0 * np.random.default_rng(1).standard_normal((chunk, dim)))
            )
        ),
        rel=0.05,
    )
    assert len(peaks) == 2 and all(p < limit for p in peaks.values()), peaks
