"""LorentzIndex on FAISS flat, IVF and HNSW indexes against exact lorentz.knn.

    python benchmarks/faiss_index.py [--keys 1000000] [--write]

float32 points with 128 space dimensions (MERU-like: clustered, radii up to ~5), 1,000
queries, k = 10. Per index: build time (training included), query throughput, recall@10
against exact knn (numba when installed). With --write the table goes into RESULTS.md.
"""

from __future__ import annotations

import argparse
import platform
import time

import faiss
import numpy as np
from _common import write_section

import lorentz
from lorentz.faiss import LorentzIndex

INDEXES = [("Flat", {}), ("IVF1024,Flat", {"nprobe": 8}), ("IVF1024,Flat", {"nprobe": 32}),
           ("HNSW32", {"efSearch": 64}), ("HNSW32", {"efSearch": 256})]  # fmt: skip


def points(rows: int, dim: int, rng, centres) -> np.ndarray:
    """Around 1,000 centres, at radii 1 to 5 from the origin, as embeddings of a hierarchy."""
    near = centres[rng.integers(len(centres), size=rows)]
    space = near + 0.35 * rng.standard_normal((rows, dim), dtype=np.float32)
    return lorentz.from_space(space.astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    direction = rng.standard_normal((1000, args.dim)).astype(np.float32)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    centres = direction * rng.uniform(1.0, 5.0, (1000, 1)).astype(np.float32)
    keys = points(args.keys, args.dim, rng, centres)
    queries = points(args.queries, args.dim, rng, centres)
    k = 10
    lorentz.knn(queries[:2], keys[:100], k)  # compile outside the timing
    start = time.perf_counter()
    _, exact = lorentz.knn(queries, keys, k)
    exact_s = time.perf_counter() - start
    rows = [("lorentz.knn (exact)", "", "", f"{args.queries / exact_s:,.0f}", "1.000")]
    built = {}
    for spec, params in INDEXES:
        if spec not in built:
            start = time.perf_counter()
            index = LorentzIndex(args.dim + 1, spec)
            index.add(keys)
            built[spec] = (index, time.perf_counter() - start)
        index, build_s = built[spec]
        inner = faiss.downcast_index(index.index.index)
        for name, value in params.items():
            setattr(faiss.extract_index_ivf(inner) if name == "nprobe" else inner.hnsw, name, value)
        start = time.perf_counter()
        _, found = index.search(queries, k)
        search_s = time.perf_counter() - start
        recall = np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact)])
        setting = ", ".join(f"{n}={v}" for n, v in params.items())
        rows.append(
            (spec, setting, f"{build_s:.1f}", f"{args.queries / search_s:,.0f}", f"{recall:.3f}")
        )
        print(rows[-1], flush=True)
    table = "\n".join(
        [
            f"`python benchmarks/faiss_index.py --keys {args.keys}`: {args.keys:,} keys and "
            f"{args.queries:,} queries, float32, {args.dim} space dimensions, k = {k}, "
            f"faiss {faiss.__version__}, {platform.machine()} with {faiss.omp_get_max_threads()} "
            "threads. Query rate includes the exact re-ranking of 4k candidates.",
            "",
            "| index | setting | build (s) | queries/s | recall@10 |",
            "|---|---|---|---|---|",
            *("| " + " | ".join(r) + " |" for r in rows),
        ]
    )
    print(table)
    if args.write:
        write_section("faiss", "## FAISS index\n\n" + table)


if __name__ == "__main__":
    main()
