"""The documentation's figures (matplotlib, PNG, into docs/img/).

    python scripts/figures.py

error_vs_distance.png: relative error of dist(x, y) against the distance, for this library,
geoopt's Lorentz manifold (k = 1) and the textbook acosh(-<x,y>_L), in float32 and float64,
with x 8 units from the origin and y a geodesic step from it; the reference is mpmath on the
rounded inputs. time_vs_size.png: pairwise_dist time against N (N x N, 128 dims, float32) for
each implementation installed here.
"""

from __future__ import annotations

import os

# numba's and torch's OpenMP runtimes spin against each other otherwise (README, Implementations)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pathlib
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import lorentz
from lorentz.testing import mpref

OUT = pathlib.Path(__file__).resolve().parents[1] / "docs" / "img"


def textbook(x, y):
    inner = -x[..., 0] * y[..., 0] + np.sum(x[..., 1:] * y[..., 1:], axis=-1)
    return np.arccosh(np.maximum(-inner, 1.0))


def geoopt_dist(x, y):
    import geoopt
    import torch

    return geoopt.Lorentz(k=1.0).dist(torch.from_numpy(x), torch.from_numpy(y)).numpy()


def error_vs_distance() -> None:
    rng = np.random.default_rng(0)
    steps = np.logspace(-7, 1.3, 60)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, dtype in zip(axes, (np.float32, np.float64)):
        x64 = lorentz.expmap0(np.array([0.0, 8.0, 0.0, 0.0]))
        rows = {"lorentz": [], "geoopt": [], "textbook": []}
        for d in steps:
            direction = lorentz.project_tangent(
                x64, np.concatenate([[0.0], rng.standard_normal(3)])
            )
            y64 = lorentz.expmap(x64, direction * (d / lorentz.norm(direction)))
            x, y = lorentz.project(x64.astype(dtype)), lorentz.project(y64.astype(dtype))
            exact = float(mpref.dist(x, y))
            for name, f in (
                ("lorentz", lorentz.dist),
                ("geoopt", geoopt_dist),
                ("textbook", textbook),
            ):
                rows[name].append(max(abs(float(f(x, y)) - exact) / exact, 1e-18))
        for name, style in (("lorentz", "o-"), ("geoopt", "s-"), ("textbook", "^-")):
            ax.loglog(steps, rows[name], style, ms=3, lw=1, label=name)
        ax.axhline(np.finfo(dtype).eps, color="0.5", lw=0.8, ls=":")
        ax.set(title=f"{np.dtype(dtype).name}, x at distance 8 from the origin",
               xlabel="d(x, y)")  # fmt: skip
    axes[0].set_ylabel("relative error of dist (floor 1e-18)")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(OUT / "error_vs_distance.png", dpi=110)
    plt.close(fig)


def time_vs_size() -> None:
    import importlib.util

    implementations = ["reference"]
    if importlib.util.find_spec("numba") is not None:
        implementations.append("numba")
    sizes = [64, 128, 256, 512, 1024, 2048, 4096]
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for impl in implementations:
        times = []
        for n in sizes:
            x = lorentz.from_space((0.3 * rng.standard_normal((n, 128))).astype(np.float32))
            lorentz.pairwise_dist(x[:2], x[:2], implementation=impl)
            runs = []
            for _ in range(3):
                t = time.perf_counter()
                lorentz.pairwise_dist(x, x, implementation=impl)
                runs.append(time.perf_counter() - t)
            times.append(statistics.median(runs))
        ax.loglog(sizes, times, "o-", ms=3, label=f"{impl} (numpy arrays)")
    import torch

    times = []
    for n in sizes:
        x = torch.from_numpy(
            lorentz.from_space((0.3 * rng.standard_normal((n, 128))).astype(np.float32))
        )
        lorentz.pairwise_dist(x[:2], x[:2])
        t = time.perf_counter()
        lorentz.pairwise_dist(x, x)
        times.append(time.perf_counter() - t)
    ax.loglog(sizes, times, "s-", ms=3, label="reference (torch CPU)")
    ax.set(xlabel="N (pairwise_dist of N x N points, 128 dims, float32)", ylabel="seconds",
           title="pairwise_dist on 2 CPU cores")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT / "time_vs_size.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    error_vs_distance()
    time_vs_size()
    print(f"wrote {OUT / 'error_vs_distance.png'} and {OUT / 'time_vs_size.png'}")
