"""Wall time of the operations for hyperbolic models on numpy (float64 and float32, CPU),
median of a few runs: a quick table for docs/operations.md (the asv suite, bench_ops.py,
covers every backend).

    python benchmarks/ops_timing.py [--size 10000] [--dim 16]
"""

import argparse
import time

import numpy as np

import lorentz


def median_time(f, repeat=5):
    f()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        runs.append(time.perf_counter() - t)
    return sorted(runs)[len(runs) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=10_000)
    p.add_argument("--dim", type=int, default=16)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    n, d = a.size, a.dim
    print(f"| operation (N = {n}, n = {d}) | float64 | float32 |")
    print("|---|---|---|")
    t64, t32 = timings(rng, n, d, "float64"), timings(rng, n, d, "float32")
    for name, seconds in t64.items():
        print(f"| {name} | {seconds * 1e3:.1f} ms | {t32[name] * 1e3:.1f} ms |")


def timings(rng, n, d, dtype):
    x = lorentz.from_space(rng.standard_normal((n, d))).astype(dtype)
    y = lorentz.from_space(rng.standard_normal((n, d))).astype(dtype)
    s = np.full(d, 0.5, dtype)
    e = rng.standard_normal((n, d)).astype(dtype)
    w = np.concatenate([[0.3], rng.standard_normal(d)]).astype(dtype)
    k = 100
    ops = {
        "dist (for scale)": lambda: lorentz.dist(x, y, implementation="reference"),
        "geodesic": lambda: lorentz.geodesic(x, y, 0.3),
        "centroid (N/100 sets of 100)": lambda: lorentz.centroid(x.reshape(n // k, k, d + 1)),
        "frechet_mean (N/100 sets of 100)": lambda: lorentz.frechet_mean(
            x.reshape(n // k, k, d + 1)
        ),
        "busemann": lambda: lorentz.busemann(x, y),
        "hyperplane_dist": lambda: lorentz.hyperplane_dist(x, w),
        "mlr_logits (10 classes)": lambda: lorentz.mlr_logits(x, np.zeros(10, dtype), y[:10, 1:]),
        "wrapped_normal_sample": lambda: lorentz.wrapped_normal_sample(x, s, e),
        "wrapped_normal_log_prob": lambda: lorentz.wrapped_normal_log_prob(y, x, s),
        "sqdist": lambda: lorentz.sqdist(x, y),
        "pairwise_sqdist (1000 x 1000)": lambda: lorentz.pairwise_sqdist(x[:1000], y[:1000]),
        "pairwise_exterior_angle (1000 x 1000)": lambda: lorentz.pairwise_exterior_angle(
            x[:1000], y[:1000]
        ),
        "pairwise_dist (1000 x 1000, for scale)": lambda: lorentz.pairwise_dist(
            x[:1000], y[:1000], implementation="reference"
        ),
    }
    return {name: median_time(f, repeat=3) for name, f in ops.items()}


if __name__ == "__main__":
    main()
