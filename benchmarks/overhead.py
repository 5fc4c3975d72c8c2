"""Per-call overhead of lorentz.dist on one pair of points, against the same formula written
directly in numpy or torch, side by side in one run on one machine.

    python benchmarks/overhead.py [--write]
    PYTHONPATH=<tree>/src python benchmarks/overhead.py --operations

(a) is ``lorentz.dist(x, y)`` as users call it (validation, namespace look-up, dispatch);
(b) is lorentz's reference formula (``_reference.cosh_minus_one`` and ``_scaled_dist``: the
cancellation-free u = -c<x,y>_L - 1, then 2 asinh(sqrt(u/2))/sqrt(c), time coordinates re-derived
from the space parts) in plain numpy or torch calls, with no checks. Both sides accumulate float32
inputs in float64 and return the input dtype, as the library does. Times are medians of rounds
that alternate (a) and (b), so that load from other processes falls on both alike.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import statistics
import timeit

import numpy as np
import torch
from _common import median_time, write_section

import lorentz


def formula(xs, ys, c, m):
    """lorentz's reference dist from the space parts, written with module ``m`` (numpy or torch)."""

    def dot(a, b):
        return m.sum(a * b, axis=-1, keepdims=True)

    nx, ny, xy = dot(xs, xs), dot(ys, ys), dot(xs, ys)
    x0, y0 = m.sqrt(1.0 / c + nx), m.sqrt(1.0 / c + ny)
    diff = xs - ys
    shorter = nx <= ny
    b, nb = m.where(shorter, xs, ys), m.where(shorter, nx, ny)
    nz = nb != 0
    d_perp = diff - m.where(nz, dot(b, diff) / m.where(nz, nb, 1.0), 0.0) * b
    same_side = (dot(diff, diff) + c * nb * dot(d_perp, d_perp)) / (x0 * y0 + 1.0 / c + xy)
    a = 1.0 / math.sqrt(c)
    opposite = c * (nx * y0 / (x0 + a) + a * ny / (y0 + a) - xy)
    half_u = m.where(xy >= 0, same_side, opposite) / 2.0
    pos = half_u > 0
    root = m.where(pos, m.sqrt(m.where(pos, half_u, 1.0)), 0.0)
    return (2.0 * m.asinh(root) / math.sqrt(c))[..., 0]


def numpy_dist(x, y, c=1.0):
    xs, ys = (a[..., 1:].astype(np.float64, copy=False) for a in (x, y))
    return formula(xs, ys, c, np).astype(x.dtype, copy=False)


def torch_dist(x, y, c=1.0):
    return formula(x[..., 1:].double(), y[..., 1:].double(), c, torch).to(x.dtype)


def per_call(fa, fb, rounds, number):
    """Median seconds per call of fa and of fb over ``rounds`` alternating rounds."""

    def loop(f):
        return lambda: [f() for _ in range(number)]

    a, b = [], []
    for _ in range(rounds):
        a.append(median_time(loop(fa), repeat=3) / number)
        b.append(median_time(loop(fb), repeat=3) / number)
    return statistics.median(a), statistics.median(b)


def operations(number: int = 500, repeat: int = 40) -> None:
    """Microseconds per call of public functions on one small input: the least of ``repeat``
    loops of ``number`` calls (the least, not the median: two trees are compared in two
    processes, ``PYTHONPATH=<tree>/src``, so alternating rounds are not possible)."""
    x = lorentz.expmap0(np.array([0.0, 0.3, 0.2]))
    y = lorentz.expmap0(np.array([0.0, -0.1, 0.4]))
    calls = {
        "inner": lambda: lorentz.inner(x, y),
        "norm": lambda: lorentz.norm(x),
        "to_space": lambda: lorentz.to_space(x),
        "geodesic": lambda: lorentz.geodesic(x, y, 0.3),
        "busemann": lambda: lorentz.busemann(x, y),
        "hyperplane_dist": lambda: lorentz.hyperplane_dist(x, np.array([0.1, 1.0, 0.0])),
        "centroid": lambda: lorentz.centroid(np.stack([x, y])),
        "dist": lambda: lorentz.dist(x, y),
    }
    print(lorentz.__file__)
    for name, f in calls.items():
        t = min(timeit.repeat(f, number=number, repeat=repeat)) / number
        print(f"{name}: {1e6 * t:.1f} us", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--operations",
        action="store_true",
        help="per-call times of functions without kernels (compare two trees by PYTHONPATH)",
    )
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--number", type=int, default=100, help="calls per timed loop")
    ap.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    args = ap.parse_args()
    if args.operations:
        operations()
        return
    rng = np.random.default_rng(0)
    cases = [
        ("numpy", "float64", None, np.asarray, numpy_dist),
        ("numpy", "float64", "reference", np.asarray, numpy_dist),
        ("numpy", "float32", None, np.asarray, numpy_dist),
        ("torch", "float64", None, torch.from_numpy, torch_dist),
        ("torch", "float32", None, torch.from_numpy, torch_dist),
    ]
    table = [
        "| library | dtype | n | (a) lorentz.dist (us) | (b) direct formula (us) | a / b |",
        "|---|---|---|---|---|---|",
    ]
    worst = 0.0
    for n in (2, 16):
        xs, ys = rng.normal(size=(2, n))
        for lib, dtype, impl, wrap, direct in cases:
            x = wrap(lorentz.from_space(xs).astype(dtype))
            y = wrap(lorentz.from_space(ys).astype(dtype))
            kw = {} if impl is None else {"implementation": impl}
            call = functools.partial(lorentz.dist, x, y, **kw)
            bare = functools.partial(direct, x, y)
            got, want = call(), bare()
            assert got.dtype == want.dtype
            assert np.allclose(np.asarray(got), np.asarray(want), rtol=1e-6)
            ta, tb = per_call(call, bare, args.rounds, args.number)
            worst = max(worst, ta / tb)
            name = lib if impl is None else f'{lib}, implementation="{impl}"'
            table.append(
                f"| {name} | {dtype} | {n} | {1e6 * ta:.1f} | {1e6 * tb:.1f} | {ta / tb:.2f} |"
            )
            print(table[-1], flush=True)
    cpu = platform.processor() or platform.machine()
    machine = f"{cpu}, {os.cpu_count()} cores, {platform.system()}"
    versions = f"numpy {np.__version__}, torch {torch.__version__}"
    text = "\n".join(table) + f"\n\nLargest a / b: {worst:.2f} (the target is at most 2)."
    print(f"\n{text}\n\nmachine: {machine}; {versions}")
    if args.write:
        write_section(
            "overhead", HEADER.format(machine=machine, versions=versions, number=args.number) + text
        )


HEADER = """## Per-call overhead on one pair

Produced by `python benchmarks/overhead.py --write` on {machine}
({versions}), all rows in one run. One pair of points of shape (n+1,), c = 1. (a) is
`lorentz.dist(x, y)` as users call it: the numba kernel for numpy arrays and torch CPU tensors
(so a / b < 1 there: the same formula, compiled; for torch through its custom operator), the
array-API reference with `implementation="reference"`. (b) is the same formula as lorentz's reference written directly
in numpy or torch, with no validation or dispatch; float32 inputs are accumulated in float64 on
both sides. Times are medians of alternating rounds of {number}-call loops, so load from other
processes falls on (a) and (b) alike: absolute times move with it, the ratios much less.
a / b is the price of the namespace look-up, validation and dispatch.

"""

if __name__ == "__main__":
    main()
