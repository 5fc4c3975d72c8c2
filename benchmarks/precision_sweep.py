"""Accuracy sweep of the all-pairs GPU precision schemes without a GPU: the plain torch
emulation of their arithmetic (lorentz._triton.precision.emulate: the same pieces, exact level
sums, float-float promotion, float32 epilogue and per-pair bound as the Triton kernel) on
millions of pairs, against the float64 cancellation-free distance of the rounded inputs (the
numba kernels, good to 1e-12).

For each scheme, input dtype, dimension and kind of data it reports: pairs, the fraction the
bound sends to the exact float64 recompute, the worst relative error of d among the pairs it
lets through (the contract: 2e-6 for float32 results; 1/8 eps of the input dtype for half
inputs, before the result's own rounding to that dtype), and how many pairs had a GEMM error
above their bound E (must be 0).

    python benchmarks/precision_sweep.py            # 2048 x 2048 pairs per row of the table
    python benchmarks/precision_sweep.py --rows 512 # quicker
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import lorentz
from lorentz._triton import precision


def data(kind: str, n: int, k: int, dtype, gen):
    """Two row sets; the second holds near copies of the first's first half.
    meru: N(0, 0.3^2) per coordinate (MERU's embeddings, space norm ~ 0.3 sqrt(k));
    far: the same scaled to space norms up to 1e3 (float32) or 30 (half);
    spiky: one coordinate per row 100x the others (a wide range inside a row)."""
    f64 = torch.float64
    base = 0.3 * torch.randn(n, k, generator=gen, dtype=f64)
    if kind == "far":
        top = 1e3 if dtype == torch.float32 else 30.0
        base *= torch.logspace(0, np.log10(top), n, dtype=f64)[:, None] / base.norm(dim=1,
                                                                                 keepdim=True)
    if kind == "spiky":
        base[torch.arange(n), torch.randint(0, k, (n,), generator=gen)] *= 100.0
    half = n // 2
    step = torch.logspace(-6, -1, half, dtype=f64)[:, None]
    near = base[:half] * (1 + step * torch.randn(half, k, generator=gen, dtype=f64))
    return base.to(dtype), torch.cat([near, base[half:]]).to(dtype)


def reference(xs, ys, c):
    x, y = xs.double().numpy(), ys.double().numpy()
    x = np.concatenate([np.sqrt(1 / c + (x * x).sum(1, keepdims=True)), x], 1)
    y = np.concatenate([np.sqrt(1 / c + (y * y).sum(1, keepdims=True)), y], 1)
    return torch.as_tensor(lorentz.pairwise_dist(x, y, c=c, implementation="numba"))


def run(scheme, dtype, k, kind, c, rows, seed):
    gen = torch.Generator().manual_seed(seed)
    xs, ys = data(kind, rows, k, dtype, gen)
    t = time.perf_counter()
    d, redo, err, g = precision.emulate(xs, ys, c, scheme)
    want = reference(xs, ys, c)
    exact_g = xs.double() @ ys.double().T  # exact products, float64 sum: K eps64 |x||y|
    slack = 1e-15 * xs.double().norm(dim=1)[:, None] * ys.double().norm(dim=1)[None, :]
    violations = int(((g - exact_g).abs() > err + slack).sum())
    rel = (d - want).abs() / want.clamp_min(1e-300)
    through = ~redo
    worst = float(rel[through].max()) if through.any() else 0.0
    return {"pairs": rel.numel(), "flagged": float(redo.double().mean()), "worst": worst,
            "violations": violations, "seconds": time.perf_counter() - t}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(2)
    table = [("split", torch.float32), ("half", torch.float16), ("half", torch.bfloat16)]
    print("| scheme | inputs | dims | data | c | pairs | recomputed | worst rel err of d "
          "(not recomputed) | contract | pairs above their bound |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    total = 0
    seed = 0
    for scheme, dtype in table:
        contract = 2e-6 if scheme == "split" else 0.125 * torch.finfo(dtype).eps
        for k in (512, 1024):
            for kind in ("meru", "far", "spiky"):
                for c in (1.0, 0.37):
                    seed += 1
                    r = run(scheme, dtype, k, kind, c, args.rows, seed)
                    total += r["pairs"]
                    name = str(dtype).rsplit(".", 1)[-1]
                    print(f"| {scheme} | {name} | {k} | {kind} | {c} | {r['pairs']:,} | "
                          f"{100 * r['flagged']:.3f}% | {r['worst']:.2e} | {contract:.1e} | "
                          f"{r['violations']} |", flush=True)
    print(f"\n{total:,} pairs in all")


if __name__ == "__main__":
    main()
