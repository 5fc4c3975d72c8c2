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
        base *= torch.logspace(0, np.log10(top), n, dtype=f64)[:, None] / base.norm(
            dim=1, keepdim=True
        )
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
    r = precision.sweep_case(xs, ys, c, scheme, reference(xs, ys, c))
    r["seconds"] = time.perf_counter() - t
    return r


def loss_run(scheme, dtype, k, b, scale, seed):
    """MERU's symmetric contrastive loss (image i against caption i, logits -scale d) over b x b
    pairs as the Triton path computes it under ``scheme``: d from the emulated kernel with the
    flagged pairs exact, the gradients by lorentz._triton.ops._pair_grads (the backward's
    products by the scheme's arithmetic, near pairs exact); against torch autograd through the
    float64 reference. Returns the relative error of the loss and the worst gradient error
    relative to the gradient's largest component, and the same for one rounding of the
    inputs to ``dtype`` (the answer's movement: the half contract is 4x that)."""
    from lorentz._triton import ops

    gen = torch.Generator().manual_seed(seed)
    image = 0.3 * torch.randn(b, k, generator=gen, dtype=torch.float64)
    # captions near their image, as far from it as from the others: a loss of order log b
    text = 0.7 * image + 0.2 * torch.randn(b, k, generator=gen, dtype=torch.float64)
    image, text = image.to(dtype), text.to(dtype)
    c = torch.tensor(1.0, dtype=torch.float64)

    def exact(x, y):
        x, y = x.clone().requires_grad_(), y.clone().requires_grad_()
        d = lorentz.pairwise_dist(
            lorentz.from_space(x), lorentz.from_space(y), implementation="reference"
        )
        loss = contrastive(d, scale)
        loss.backward()
        return loss.detach(), x.grad, y.grad

    want, gx_want, gy_want = exact(image.double(), text.double())
    d, redo, _, _ = precision.emulate(image, text, 1.0, scheme)
    d_exact = reference(image, text, 1.0)
    d = torch.where(redo, d_exact, d)
    dd = d.clone().requires_grad_()
    loss = contrastive(dd, scale)
    loss.backward()
    x, y = image.double(), text.double()
    x0, y0 = torch.sqrt(1.0 + (x * x).sum(1)), torch.sqrt(1.0 + (y * y).sum(1))
    gx, gy, _ = ops._pair_grads(x, y, x0, y0, c, d, dd.grad, scheme)
    gx, gy = gx.to(dtype).double(), gy.to(dtype).double()  # returned in the inputs' dtype
    bump = torch.finfo(dtype).eps / 2
    pert = 1 + bump * (2 * torch.rand(x.shape, generator=gen, dtype=torch.float64) - 1)
    moved, mx, _ = exact(x * pert, y)

    def rel(a, w):
        return float((a - w).abs().max() / w.abs().max())

    loss = float(loss.detach())
    return {
        "loss": abs(loss - float(want)) / abs(float(want)),
        "grad": max(rel(gx, gx_want), rel(gy, gy_want)),
        "moved": abs(float(moved) - float(want)) / abs(float(want)),
        "grad_moved": rel(mx, gx_want),
        "flagged": float(redo.double().mean()),
    }


def contrastive(d, scale):
    logits = -scale * d
    pos = torch.diagonal(logits)
    return 0.5 * (
        (torch.logsumexp(logits, 1) - pos).mean() + (torch.logsumexp(logits, 0) - pos).mean()
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(2)
    table = [("split", torch.float32), ("half", torch.float16), ("half", torch.bfloat16)]
    print(
        "| scheme | inputs | dims | data | c | pairs | recomputed | worst rel err of d "
        "(not recomputed) | contract | pairs above their bound |"
    )
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
                    print(
                        f"| {scheme} | {name} | {k} | {kind} | {c} | {r['pairs']:,} | "
                        f"{100 * r['flagged']:.3f}% | {r['worst']:.2e} | {contract:.1e} | "
                        f"{r['violations']} |",
                        flush=True,
                    )
    print(f"\n{total:,} pairs in all")
    print(
        "\nMERU's contrastive loss, B x B pairs, logit scale 2, d from the emulated kernel, "
        "gradients by the backward's products (ops._pair_grads)\n"
    )
    print(
        "| scheme | inputs | dims | B | recomputed | loss rel err | gradient err / max |grad| "
        "| one input rounding moves: loss | gradient |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    b = max(16, args.rows // 2)
    for scheme, dtype in table:
        for k in (512, 1024):
            seed += 1
            r = loss_run(scheme, dtype, k, b, 2.0, seed)
            name = str(dtype).rsplit(".", 1)[-1]
            print(
                f"| {scheme} | {name} | {k} | {b} | {100 * r['flagged']:.3f}% | "
                f"{r['loss']:.1e} | {r['grad']:.1e} | {r['moved']:.1e} | "
                f"{r['grad_moved']:.1e} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
