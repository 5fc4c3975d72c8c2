"""The all-pairs operations on every user path against the textbook formula written directly in
the same library, side by side in one run on one machine.

    python benchmarks/allpairs.py [--quick] [--write]

Rows (float32 inputs, space components ~ N(0, 0.3^2), c = 1): pairwise_dist on torch CPU
against MERU's formula (matmul, clamp, acosh) at 4096 x 4096 x 128 and 1024 x 1024 x 512; the
same on numpy without numba (the array-API reference) against numpy's sgemm + arccosh; on jax
(x64) under jit with float64 inputs against the textbook jnp formula under jit; MERU's loss,
forward + backward, B = 1024, 512 dims, on torch CPU against MERU's loss formula (both with
the entailment term, weight 0.2); knn on torch
CPU (1,000 queries x 200,000 keys x 64, k = 10) against a blockwise matmul + topk, with peak
extra memory. Times are medians of 7 runs after a warm-up. Errors: the largest relative error against
mpmath (lorentz.testing.mpref, 50 digits, on the rounded inputs) over 64 pairs of each result:
the diagonal of a near copy of x (pairs ~1e-3 apart, where the GEMM form cancels) and random
off-diagonal pairs.
"""

from __future__ import annotations

import argparse
import os
import platform
import threading
import time

import numpy as np
from _common import median_time, write_section
from benchmarks.textbook import meru_loss_formula, meru_pairwise

import lorentz
import lorentz.meru

rng = np.random.default_rng(0)
REPEAT = 7  # medians of 7 runs: this 2-core machine's timings move by 20% from run to run


def space(n, dim, dtype=np.float32):
    return (0.3 * rng.normal(size=(n, dim))).astype(dtype)


def near_copy(s):
    return (s.astype(np.float64) + 1e-3 * rng.normal(size=s.shape) / np.sqrt(s.shape[1])).astype(
        s.dtype
    )


def mp_error(d, x, y, samples=64):
    """Max relative error of the (N, M) distances d against mpmath on the diagonal (near pairs
    when y is a near copy of x) and random pairs."""
    from lorentz.testing import mpref

    d = np.asarray(d, dtype=np.float64)
    k = min(samples // 2, d.shape[0], d.shape[1])
    pairs = [(i, i) for i in range(k)] + [
        (int(i), int(j))
        for i, j in zip(rng.integers(0, d.shape[0], k), rng.integers(0, d.shape[1], k))
    ]
    worst = 0.0
    for i, j in pairs:
        exact = float(mpref.dist(x[i], y[j]))
        worst = max(worst, abs(d[i, j] - exact) / exact if exact else abs(d[i, j]))
    return worst


def peak_rss_mb(f):
    """Peak resident memory above the level before the call, sampled every millisecond."""
    import psutil

    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.001)

    t = threading.Thread(target=watch)
    t.start()
    out = f()
    done.set()
    t.join()
    return out, (peak[0] - base) / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    a = ap.parse_args()
    import jax
    import torch

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    sizes = [(512, 128), (256, 512)] if a.quick else [(4096, 128), (1024, 512)]
    rows = []

    for n, dim in sizes:
        xs, ys = space(n, dim), space(n, dim)
        ys[: n // 2] = near_copy(xs[: n // 2])
        x, y = lorentz.from_space(xs), lorentz.from_space(ys)

        # torch CPU
        tx, ty, txs, tys = (torch.from_numpy(v) for v in (x, y, xs, ys))
        t_text = median_time(lambda: meru_pairwise(txs, tys), REPEAT)
        t_lib = median_time(lambda: lorentz.pairwise_dist(tx, ty), REPEAT)
        rows.append(
            (
                f"torch CPU pairwise_dist {n}x{n}x{dim}",
                "MERU's formula",
                t_text,
                t_lib,
                mp_error(meru_pairwise(txs, tys).numpy(), x, y),
                mp_error(lorentz.pairwise_dist(tx, ty).numpy(), x, y),
            )
        )

        # numpy without numba: the array-API reference
        def np_text():
            g = xs @ ys.T
            x0 = np.sqrt(1 + np.sum(xs * xs, 1))
            y0 = np.sqrt(1 + np.sum(ys * ys, 1))
            return np.arccosh(np.maximum(np.outer(x0, y0) - g, 1))

        t_text = median_time(np_text, REPEAT)
        t_lib = median_time(lambda: lorentz.pairwise_dist(x, y, implementation="reference"), REPEAT)
        rows.append(
            (
                f"numpy (no numba) pairwise_dist {n}x{n}x{dim}",
                "sgemm + arccosh",
                t_text,
                t_lib,
                mp_error(np_text(), x, y),
                mp_error(lorentz.pairwise_dist(x, y, implementation="reference"), x, y),
            )
        )

        # jax, float64 inputs, under jit
        jx, jy = jnp.asarray(x.astype(np.float64)), jnp.asarray(y.astype(np.float64))

        @jax.jit
        def jax_text(x, y):
            g = x[:, 1:] @ y[:, 1:].T - jnp.outer(x[:, 0], y[:, 0])
            return jnp.arccosh(jnp.maximum(-g, 1.0))

        jax_lib = jax.jit(lambda x, y: lorentz.pairwise_dist(x, y))
        t_text = median_time(lambda: jax_text(jx, jy).block_until_ready(), REPEAT)
        t_lib = median_time(lambda: jax_lib(jx, jy).block_until_ready(), REPEAT)
        x64, y64 = x.astype(np.float64), y.astype(np.float64)
        rows.append(
            (
                f"jax jit float64 pairwise_dist {n}x{n}x{dim}",
                "textbook jnp",
                t_text,
                t_lib,
                mp_error(jax_text(jx, jy), x64, y64),
                mp_error(jax_lib(jx, jy), x64, y64),
            )
        )

    # MERU's loss, forward + backward
    b, dim = (256, 512) if a.quick else (1024, 512)
    image, text = torch.from_numpy(space(b, dim)), torch.from_numpy(space(b, dim))
    curv = torch.tensor(1.0, requires_grad=True)
    scale = torch.tensor(10.0, requires_grad=True)

    def step(loss_fn):
        i, t = image.clone().requires_grad_(), text.clone().requires_grad_()
        loss = loss_fn(i, t)
        loss.backward()
        return loss

    t_text = median_time(lambda: step(lambda i, t: meru_loss_formula(i, t, curv, scale)), REPEAT)
    t_lib = median_time(
        lambda: step(
            lambda i, t: lorentz.meru.meru_loss(i, t, curv=curv, logit_scale=scale)["loss"]
        ),
        REPEAT,
    )
    rows.append(
        (f"torch CPU meru_loss fwd+bwd B={b}, {dim} dims", "MERU's loss", t_text, t_lib, None, None)
    )

    # knn
    n_q, n_k, dim, k = (100, 20_000, 64, 10) if a.quick else (1000, 200_000, 64, 10)
    qs, ks = torch.from_numpy(space(n_q, dim)), torch.from_numpy(space(n_k, dim))
    q, keys = lorentz.from_space(qs), lorentz.from_space(ks)

    def topk_text(block=4096):
        best_d = best_i = None
        for col in range(0, n_k, block):
            d = meru_pairwise(qs, ks[col : col + block])
            dv, di = torch.topk(d, k, dim=1, largest=False)
            di = di + col
            if best_d is not None:
                dv, order = torch.topk(torch.cat([best_d, dv], 1), k, dim=1, largest=False)
                di = torch.gather(torch.cat([best_i, di], 1), 1, order)
            best_d, best_i = dv, di
        return best_d, best_i

    t_text = median_time(topk_text, REPEAT)
    t_lib = median_time(lambda: lorentz.knn(q, keys, k), REPEAT)
    _, mem_text = peak_rss_mb(topk_text)
    _, mem_lib = peak_rss_mb(lambda: lorentz.knn(q, keys, k))
    rows.append(
        (
            f"torch CPU knn {n_q}x{n_k}x{dim}, k={k}",
            "blockwise matmul + topk",
            t_text,
            t_lib,
            None,
            None,
        )
    )

    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, jax {jax.__version__}"
    lines = [
        f"`python benchmarks/allpairs.py` ({machine}; float32 inputs unless said, medians of 7"
        " after a warm-up; errors: max relative against mpmath over near and random pairs):",
        "",
        "| work | textbook | textbook time | lorentz time | ratio | textbook error | lorentz error |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, base, t0, t1, e0, e1 in rows:
        err = "| - | - |" if e0 is None else f"| {e0:.1e} | {e1:.1e} |"
        lines.append(
            f"| {name} | {base} | {t0 * 1e3:.0f} ms | {t1 * 1e3:.0f} ms | {t1 / t0:.2f}x {err}"
        )
    lines.append("")
    lines.append(
        f"knn peak extra memory: lorentz {mem_lib:.0f} MiB, blockwise matmul + topk {mem_text:.0f} MiB."
    )
    text = "\n".join(lines)
    print(text)
    if a.write:
        write_section("allpairs", "## All-pairs operations on every path\n\n" + text)


if __name__ == "__main__":
    main()
