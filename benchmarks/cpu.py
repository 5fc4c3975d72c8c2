"""CPU benchmarks of the numba kernels against what users run today, side by side in one run.

    python benchmarks/cpu.py [--quick] [--write]

Rows: pairwise distance 4096 x 4096 (float32, 128 dims): numpy sgemm + arccosh (the textbook
formula), a MERU-style eager torch transcription on the CPU, lorentz's reference path and its
numba kernel; knn (k = 10, 1,000 queries, 200,000 keys): lorentz's reference pairwise_dist +
argpartition against the numba knn, with peak extra memory; expmap0 / logmap0 of 1,000,000 x 128
against a plain numpy copy of the same bytes. Each time is the median of several runs after a
warm-up (numba compiles on first use); each result is checked against the float64 reference.
"""

from __future__ import annotations

import argparse
import os
import platform
import tracemalloc

import numpy as np
from _common import median_time as timeit
from _common import write_section

import lorentz

rng = np.random.default_rng(0)


def points(n, dim, dtype=np.float32, scale=0.3):
    """Points whose space components are drawn from N(0, scale^2)."""
    return lorentz.from_space((scale * rng.normal(size=(n, dim))).astype(dtype))


def numpy_textbook(x, y):
    g = x[:, 1:] @ y[:, 1:].T
    return np.arccosh(np.maximum(np.outer(x[:, 0], y[:, 0]) - g, 1))


def meru_torch(x, y, curv=1.0, eps=1e-8):
    """MERU's pairwise_dist, transcribed: space components in, time derived, acosh of the GEMM."""
    import torch

    xt = torch.sqrt(1 / curv + torch.sum(x**2, dim=-1, keepdim=True))
    yt = torch.sqrt(1 / curv + torch.sum(y**2, dim=-1, keepdim=True))
    inner = x @ y.T - xt @ yt.T
    return torch.acosh(torch.clamp(-curv * inner, min=1 + eps)) / curv**0.5


def rel_err_near(f, dim, dtype=np.float32):
    """Max relative error of f(x, y) on near pairs (distance ~1e-3), against float64 exact."""
    x = points(256, dim, dtype, scale=1.0)
    y = lorentz.from_space(
        (x[:, 1:].astype(np.float64) + 1e-3 * rng.normal(size=(256, dim)) / np.sqrt(dim)).astype(
            dtype
        )
    )
    exact = lorentz.pairwise_dist(
        x.astype(np.float64), y.astype(np.float64), implementation="reference"
    )
    got = np.asarray(f(x, y), dtype=np.float64)
    mask = np.eye(256, dtype=bool)
    return float(np.max(np.abs(got[mask] - exact[mask]) / exact[mask]))


def peak_extra_mb(f):
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    out = f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result_bytes = sum(a.nbytes for a in (out if isinstance(out, tuple) else (out,)))
    return (peak - base - result_bytes) / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    a = ap.parse_args()
    n_pw, n_q, n_k, n_map = (256, 50, 5000, 10_000) if a.quick else (4096, 1000, 200_000, 1_000_000)
    dim = 128
    rows = []

    # pairwise distance
    x, y = points(n_pw, dim), points(n_pw, dim)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    xt, yt = torch.from_numpy(x[:, 1:].copy()), torch.from_numpy(y[:, 1:].copy())
    pw = {
        "numpy sgemm + arccosh (textbook)": (
            lambda: numpy_textbook(x, y),
            lambda a, b: numpy_textbook(a, b),
        ),
        "MERU-style torch, CPU": (
            lambda: meru_torch(xt, yt),
            lambda a, b: meru_torch(
                torch.from_numpy(a[:, 1:].copy()), torch.from_numpy(b[:, 1:].copy())
            ).numpy(),
        ),
        "lorentz reference": (
            lambda: lorentz.pairwise_dist(x, y, implementation="reference"),
            lambda a, b: lorentz.pairwise_dist(a, b, implementation="reference"),
        ),
        "lorentz numba": (
            lambda: lorentz.pairwise_dist(x, y, implementation="numba"),
            lambda a, b: lorentz.pairwise_dist(a, b, implementation="numba"),
        ),
    }
    sub = max(1, n_pw // 8)  # the reference is timed on 1/8 of the rows and scaled (linear)
    for name, (run, f) in pw.items():
        if "reference" in name:
            t = 8 * timeit(
                lambda: lorentz.pairwise_dist(x[:sub], y, implementation="reference"), repeat=1
            )
            name += f" (timed on {sub} rows, x8)"
        else:
            t = timeit(run, repeat=5)
        rows.append((f"pairwise_dist {n_pw}x{n_pw}", name, t, rel_err_near(f, dim), None))

    # knn
    q, keys = points(n_q, dim), points(n_k, dim)

    q_sub = max(1, n_q // 20)  # the reference is timed on 1/20 of the queries and scaled

    def ref_knn(q=q):
        d = lorentz.pairwise_dist(q, keys, implementation="reference")
        i = np.argpartition(d, 10, axis=1)[:, :10]
        return np.take_along_axis(d, i, 1), i

    def nb_knn():
        return lorentz.knn(q, keys, 10, implementation="numba")

    ref_sub = lambda: ref_knn(q[:q_sub])
    t = 20 * timeit(ref_sub, repeat=1)
    rows.append(
        (
            f"knn k=10, {n_q} x {n_k}",
            f"lorentz reference pairwise_dist + argpartition (timed on {q_sub} queries, x20)",
            t,
            None,
            peak_extra_mb(ref_sub),
        )
    )
    rows.append(
        (
            f"knn k=10, {n_q} x {n_k}",
            "lorentz numba knn",
            timeit(nb_knn, repeat=3),
            None,
            peak_extra_mb(nb_knn),
        )
    )
    d_nb, _ = nb_knn()
    d_ref, _ = ref_sub()
    assert np.allclose(np.sort(d_ref, 1), d_nb[:q_sub], rtol=4e-6), (
        "knn disagrees with the reference"
    )

    # origin maps
    u = np.zeros((n_map, dim + 1), np.float32)
    u[:, 1:] = 0.3 * rng.normal(size=(n_map, dim))
    p = lorentz.expmap0(u)
    for name, f in [
        ("numpy copy of the same bytes", lambda: u.copy()),
        ("lorentz expmap0 reference", lambda: lorentz.expmap0(u, implementation="reference")),
        ("lorentz expmap0 numba", lambda: lorentz.expmap0(u, implementation="numba")),
        ("lorentz logmap0 reference", lambda: lorentz.logmap0(p, implementation="reference")),
        ("lorentz logmap0 numba", lambda: lorentz.logmap0(p, implementation="numba")),
    ]:
        rows.append((f"origin maps {n_map}x{dim + 1}", name, timeit(f, repeat=3), None, None))

    table = [
        "| work | implementation | time (ms) | ratio to first row of its group | max rel err, near pairs | peak extra memory (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    first = {}
    for work, name, t, err, mem in rows:
        first.setdefault(work, t)
        table.append(
            f"| {work} | {name} | {1e3 * t:.1f} | {t / first[work]:.2f} | "
            f"{'' if err is None else f'{err:.1e}'} | {'' if mem is None else f'{mem:.1f}'} |"
        )
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}"
    )
    text = "\n".join(table)
    print(text)
    print(
        f"\nmachine: {machine}; numba threads: {os.environ.get('NUMBA_NUM_THREADS', os.cpu_count())}"
    )
    if a.write:
        write_section("cpu", HEADER.format(machine=machine) + text)


HEADER = """## CPU kernels

Produced by `python benchmarks/cpu.py --write` on {machine}, all rows in one
run (medians after a warm-up; ratios are what to compare, absolute times move with the machine).
"Max rel err" is measured on near pairs (distance ~1e-3, space norms ~11) against the float64
exact distance. The reference rows are timed on a slice and scaled (their work is linear in the
rows); the reference knn's peak memory is that of its slice (its N x M matrix grows with N).

"""

if __name__ == "__main__":
    main()
