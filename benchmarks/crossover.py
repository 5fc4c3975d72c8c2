"""Where the numba kernels start to beat the reference, per operation (sets the automatic
choice in lorentz/_registry.py). python benchmarks/crossover.py"""

import timeit

import numpy as np

import lorentz

rng = np.random.default_rng(0)


def best(f, number=20):
    f()
    return min(timeit.repeat(f, number=number, repeat=5)) / number


def points(n, dim=16):
    return lorentz.from_space(rng.normal(size=(n, dim)).astype(np.float32))


print("| op | work | reference (us) | numba (us) |\n|---|---|---|---|")
for n in (1, 4, 16, 64, 256, 1024):
    x, y = points(n), points(n)
    for op, f, work in [
        ("dist", lambda impl: lorentz.dist(x, y, implementation=impl), n),
        (
            "pairwise_dist",
            lambda impl: lorentz.pairwise_dist(x[: max(1, n // 8)], y, implementation=impl),
            max(1, n // 8) * n,
        ),
        ("expmap0", lambda impl: lorentz.expmap0(x, implementation=impl), x.size),
        ("logmap0", lambda impl: lorentz.logmap0(x, implementation=impl), x.size),
        ("knn", lambda impl: lorentz.knn(x, y, 1, implementation=impl), n * n),
    ]:
        r, b = best(lambda: f("reference")), best(lambda: f("numba"))
        print(f"| {op} | {work} | {1e6 * r:.1f} | {1e6 * b:.1f} |")
