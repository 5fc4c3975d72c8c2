"""This library against its peers, side by side in one run on one machine:

    python benchmarks/compare.py [--quick]

Peers: geoopt's Lorentz manifold (k = 1/c), a MERU-style eager torch transcription (space
components, acosh of the GEMM) and the textbook formulas in plain numpy. Operations: dist,
pairwise_dist, expmap/logmap, expmap0/logmap0, transport, float32, on inputs that mix near
pairs (distance 1e-5 to 1e-2) with points far from the origin (space norms up to 1e3). Each
row: median time, ratio to the fastest implementation of the op, and max relative error
against lorentz's float64 reference (itself checked against mpmath by the test suite);
arrays are measured as max|out - ref| / max|ref| per row. Writes the table into
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os

# torch's and numba's OpenMP runtimes spin-wait against each other when both run in one
# process (a 0.4 ms numba dist call took 8 ms right after torch calls): let idle threads sleep
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import platform

import numpy as np
import torch
from _common import median_time as timeit
from _common import write_section

import lorentz

rng = np.random.default_rng(0)
C = 1.0


def inputs(n, dim):
    """x, y (near pairs for half of the rows, far independent points for the rest), u, v
    tangent at x (norms ~1), u0 tangent at the origin; float64 (rounded to float32 later)."""
    r = np.exp(rng.uniform(np.log(1e-2), np.log(1e3), size=(n, 1)))
    d = rng.normal(size=(n, dim))
    xs = r * d / np.linalg.norm(d, axis=1, keepdims=True)
    step = np.exp(rng.uniform(np.log(1e-5), np.log(1e-2), size=(n, 1))) * np.maximum(1, r)
    e = rng.normal(size=(n, dim))
    ys = np.where(
        np.arange(n)[:, None] % 2 == 0,
        xs + step * e / np.linalg.norm(e, axis=1, keepdims=True),
        rng.normal(size=(n, dim)) * r,
    )
    x = lorentz.from_space(xs.astype(np.float32).astype(np.float64))
    y = lorentz.from_space(ys.astype(np.float32).astype(np.float64))
    u = lorentz.project_tangent(x, np.concatenate([np.zeros((n, 1)), rng.normal(size=(n, dim))], 1))
    u = u / lorentz.norm(u, keepdim=True)  # unit Lorentz norm: exp stays representable
    u0 = np.concatenate([np.zeros((n, 1)), rng.normal(size=(n, dim))], 1)
    return x, y, u, u0


def rel_err(out, ref):
    out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
    if ref.ndim == 1 or ref.shape[-1] > 256:  # scalars per row, or a distance matrix
        return float(
            np.nanmax(
                np.where(
                    np.isfinite(out), np.abs(out - ref) / np.maximum(np.abs(ref), 1e-300), np.inf
                )
            )
        )
    scale = np.max(np.abs(ref), axis=-1)
    return float(
        np.nanmax(np.where(np.isfinite(out).all(-1), np.max(np.abs(out - ref), -1) / scale, np.inf))
    )


# -- peers ----------------------------------------------------------------------------------
def numpy_peer():
    def ip(a, b):
        return -a[..., 0] * b[..., 0] + np.sum(a[..., 1:] * b[..., 1:], -1)

    def dist(x, y):
        return np.arccosh(np.maximum(-ip(x, y), 1))

    def expmap(x, u):
        n = np.sqrt(np.maximum(ip(u, u), 1e-15))[..., None]
        return np.cosh(n) * x + np.sinh(n) * u / n

    def logmap(x, y):
        xy = ip(x, y)[..., None]
        v = y + xy * x
        return dist(x, y)[..., None] * v / np.sqrt(np.maximum(ip(v, v), 1e-15))[..., None]

    def transport(x, y, v):
        return v + (ip(y, v) / (1 - ip(x, y)))[..., None] * (x + y)

    o = lambda a: np.concatenate([np.ones_like(a[..., :1]), np.zeros_like(a[..., 1:])], -1)
    return {
        "dist": dist,
        "pairwise_dist": lambda x, y: np.arccosh(
            np.maximum(np.outer(x[:, 0], y[:, 0]) - x[:, 1:] @ y[:, 1:].T, 1)
        ),
        "expmap": expmap,
        "logmap": logmap,
        "expmap0": lambda u: expmap(o(u), u),
        "logmap0": lambda y: logmap(o(y), y),
        "transport": transport,
    }


def geoopt_peer():
    import geoopt

    m = geoopt.Lorentz(k=1 / C)
    t = lambda f: lambda *a: f(*(torch.from_numpy(np.ascontiguousarray(b)) for b in a)).numpy()
    return {
        "dist": t(lambda x, y: m.dist(x, y)),
        "pairwise_dist": t(lambda x, y: m.dist(x[:, None, :], y[None, :, :])),
        "expmap": t(lambda x, u: m.expmap(x, u)),
        "logmap": t(lambda x, y: m.logmap(x, y)),
        "expmap0": t(lambda u: m.expmap0(u)),
        "logmap0": t(lambda y: m.logmap0(y)),
        "transport": t(lambda x, y, v: m.transp(x, y, v)),
    }


def meru_peer():
    def tt(a):
        return torch.from_numpy(np.ascontiguousarray(a[..., 1:]))

    def pairwise(x, y):
        xs, ys = tt(x), tt(y)
        xt = torch.sqrt(1 / C + (xs**2).sum(-1, keepdim=True))
        yt = torch.sqrt(1 / C + (ys**2).sum(-1, keepdim=True))
        return (
            torch.acosh(torch.clamp(-C * (xs @ ys.T - xt @ yt.T), min=1 + 1e-8)) / C**0.5
        ).numpy()

    def exp0(u):
        us = tt(u)
        r = C**0.5 * us.norm(dim=-1, keepdim=True)
        xs = (
            torch.sinh(torch.clamp(r, min=1e-8, max=np.arcsinh(2**15)))
            * us
            / torch.clamp(r, min=1e-8)
        )
        return lorentz.from_space(xs.numpy(), c=C)

    def log0(y):
        ys = tt(y)
        rt = torch.sqrt(1 + C * (ys**2).sum(-1, keepdim=True))
        d = torch.acosh(torch.clamp(rt, min=1 + 1e-8))
        us = d * ys / torch.clamp(C**0.5 * ys.norm(dim=-1, keepdim=True), min=1e-8)
        return np.concatenate([np.zeros_like(us[..., :1].numpy()), us.numpy()], -1)

    return {"pairwise_dist": pairwise, "expmap0": exp0, "logmap0": log0}


def lorentz_numpy():
    L = lorentz
    return {
        "dist": lambda x, y: L.dist(x, y, c=C),
        "pairwise_dist": lambda x, y: L.pairwise_dist(x, y, c=C),
        "expmap": lambda x, u: L.expmap(x, u, c=C),
        "logmap": lambda x, y: L.logmap(x, y, c=C),
        "expmap0": lambda u: L.expmap0(u, c=C),
        "logmap0": lambda y: L.logmap0(y, c=C),
        "transport": lambda x, y, v: L.transport(x, y, v, c=C),
    }


def lorentz_torch():
    t = lambda f: lambda *a: f(*(torch.from_numpy(np.ascontiguousarray(b)) for b in a)).numpy()
    return {k: t(f) for k, f in lorentz_numpy().items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    n, m, dim = (2000, 256, 16) if a.quick else (100_000, 1024, 16)
    torch.set_num_threads(os.cpu_count() or 1)
    x, y, u, u0 = inputs(n, dim)
    args = {
        "dist": (x, y),
        "pairwise_dist": (x[:m], y[:m]),
        "expmap": (x, u),
        "logmap": (x, y),
        "expmap0": (u0,),
        "logmap0": (y,),
        "transport": (x, y, u),
    }
    args = {op: [a_.astype(np.float32) for a_ in v] for op, v in args.items()}
    # the exact answer for the float32 inputs, from the float64 reference path
    ref = {
        op: np.asarray(f(*(a_.astype(np.float64) for a_ in args[op])))
        for op, f in lorentz_numpy().items()
    }
    peers = {
        "lorentz (numpy)": lorentz_numpy(),
        "lorentz (torch)": lorentz_torch(),
        "geoopt": geoopt_peer(),
        "MERU-style torch": meru_peer(),
        "numpy textbook": numpy_peer(),
    }
    rows = []
    for op in args:
        f32 = args[op]
        times = {}
        for name, impls in peers.items():
            if op in impls:
                times[name] = (timeit(lambda: impls[op](*f32)), rel_err(impls[op](*f32), ref[op]))
        fastest = min(t for t, _ in times.values())
        for name, (t, err) in times.items():
            rows.append(f"| {op} | {name} | {1e3 * t:.2f} | {t / fastest:.2f} | {err:.1e} |")
    table = "\n".join(
        [
            "| op | implementation | time (ms) | ratio to fastest | max rel err (float32) |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    print(table)
    write_section(
        "compare",
        f"""## Against peers

`python benchmarks/compare.py` on {machine}, one run; float32 inputs, {dim} dimensions, c = 1;
{n} rows ({m} x {m} for pairwise_dist); half near pairs (distance 1e-5 to 1e-2), space norms
1e-2 to 1e3. Errors against lorentz's float64 reference; "inf" marks a non-finite result.

{table}
""",
    )


if __name__ == "__main__":
    main()
