"""Accuracy of the operations for hyperbolic models against mpmath: a sweep of each (max
error, and max error over the contract's bound), and the hard cases where the formulas in
public code (transcribed in the tests) fail. Prints the tables of docs/operations.md.

    python benchmarks/ops_accuracy.py [--cases 20]
"""

import argparse
import math

import numpy as np

import lorentz
from lorentz.testing import mpref
from lorentz.testing._builders import tight_cluster
from lorentz.testing._contract import BOUND, error, movement
from lorentz.testing._peers import (
    busemann_textbook,
    centroid_textbook,
    hycoclip_oxy_angle_eval,
    hyperbolic_cv_lorentz_mlr,
    lou_et_al,
)

MAX_NORM = {"float32": 1e3, "float64": 1e4}


def lift(xs, c, dtype):
    xs = np.asarray(xs, np.float64).astype(dtype)
    x0 = np.sqrt(1 / c + np.sum(xs.astype(np.float64) ** 2, axis=-1, keepdims=True))
    return np.concatenate([x0.astype(dtype), xs], axis=-1)


def unit(rng, n):
    v = rng.standard_normal(n)
    return v / np.linalg.norm(v)


def point(rng, n, c, dtype, lo=1e-3):
    return lift(
        unit(rng, n) * math.exp(rng.uniform(math.log(lo), math.log(MAX_NORM[dtype]))), c, dtype
    )


def near(rng, x, c, dtype):
    xs = x[1:].astype(np.float64)
    step = 10.0 ** rng.uniform(-7, 0) * max(1.0, np.linalg.norm(xs))
    return lift(xs + step * unit(rng, xs.size), c, dtype)


def cases(name, rng, dtype):
    """(lorentz call, oracle, args, kinds, absolute) for one random case."""
    c = float(rng.choice([1.0, 0.3, 3.0]))
    n = int(rng.integers(2, 5))
    x = point(rng, n, c, dtype)
    y = near(rng, x, c, dtype) if rng.random() < 0.5 else point(rng, n, c, dtype)
    if name == "geodesic":
        t = float(np.float32(rng.uniform(-1, 2)))
        return (
            lambda a, b: lorentz.geodesic(a, b, t, c=c),
            lambda a, b: mpref.geodesic(a, b, t, c),
            (x, y),
            ("point", "point"),
            False,
        )
    if name in ("centroid", "frechet_mean"):
        spread = 10.0 ** rng.uniform(-6, 0) * max(1.0, np.linalg.norm(x[1:].astype(float)))
        pts = lift(x[1:].astype(float) + spread * rng.standard_normal((4, n)), c, dtype)
        w = rng.uniform(0.1, 2, 4).astype(dtype)
        f, o = (
            (lorentz.centroid, mpref.centroid)
            if name == "centroid"
            else (lorentz.frechet_mean, mpref.frechet_mean)
        )
        return (
            lambda p, v: f(p, v, c=c),
            lambda p, v: o(p, v, c),
            (pts, w),
            ("point", "vector"),
            False,
        )
    if name == "busemann":
        xs = x[1:].astype(float)
        v = (
            xs / np.linalg.norm(xs) + 10.0 ** rng.uniform(-9, 0) * unit(rng, n)
            if rng.random() < 0.5
            else unit(rng, n)
        )
        d = np.concatenate([[0.0], v]).astype(dtype)
        return (
            lambda a, b: lorentz.busemann(a, b, c=c),
            lambda a, b: mpref.busemann(a, b, c),
            (x, d),
            ("point", "point"),
            False,
        )
    if name == "hyperplane_dist":
        off = rng.uniform(-4, 4)
        w = np.concatenate([[math.sinh(off)], math.cosh(off) * unit(rng, n)]).astype(dtype)
        return (
            lambda a, b: lorentz.hyperplane_dist(a, b, c=c),
            lambda a, b: mpref.hyperplane_dist(a, b, c),
            (x, w),
            ("point", "vector"),
            False,
        )
    if name == "mlr_logits":
        a = rng.uniform(-3, 3, 3).astype(dtype)
        z = rng.standard_normal((3, n)).astype(dtype)
        return (
            lambda p, q, r: lorentz.mlr_logits(p, q, r, c=c),
            lambda p, q, r: mpref.mlr_logits(p, q, r, c),
            (x, a, z),
            ("point", "vector", "vector"),
            False,
        )
    if name == "wrapped_normal_sample":
        s = (10.0 ** rng.uniform(-2, 0.5, n)).astype(dtype)
        e = rng.standard_normal(n).astype(dtype)
        return (
            lambda m, q, r: lorentz.wrapped_normal_sample(m, q, r, c=c),
            lambda m, q, r: mpref.wrapped_normal_sample(m, q, r, c),
            (x, s, e),
            ("point", "vector", "vector"),
            False,
        )
    if name == "wrapped_normal_log_prob":
        s = (10.0 ** rng.uniform(-1, 0.5, n)).astype(dtype)
        return (
            lambda z, m, q: lorentz.wrapped_normal_log_prob(z, m, q, c=c),
            lambda z, m, q: mpref.wrapped_normal_log_prob(z, m, q, c),
            (y, x, s),
            ("point", "point", "vector"),
            False,
        )
    if name == "sqdist":
        return (
            lambda a, b: lorentz.sqdist(a, b, c=c),
            lambda a, b: mpref.sqdist(a, b, c),
            (x, y),
            ("point", "point"),
            False,
        )
    if name == "pairwise_exterior_angle":
        if not np.any(x[1:]) or np.array_equal(x, y):
            x = point(rng, n, c, dtype)
        return (
            lambda a, b: lorentz.pairwise_exterior_angle(a[None], b[None], c=c)[0, 0],
            lambda a, b: mpref.exterior_angle(a, b, c),
            (x, y),
            ("point", "point"),
            True,
        )
    raise KeyError(name)


NAMES = [
    "geodesic",
    "centroid",
    "frechet_mean",
    "busemann",
    "hyperplane_dist",
    "mlr_logits",
    "wrapped_normal_sample",
    "wrapped_normal_log_prob",
    "sqdist",
    "pairwise_exterior_angle",
]


def sweep(count):
    print(
        "| operation | float32 max error | float32 max error / bound | float64 max error | float64 max error / bound |"
    )
    print("|---|---|---|---|---|")
    for name in NAMES:
        row = [name]
        for dtype in ("float32", "float64"):
            rng = np.random.default_rng(16)
            worst = worst_ratio = 0.0
            for _ in range(count):
                f, oracle, args, kinds, absolute = cases(name, rng, dtype)
                try:
                    ref = oracle(*args)
                except (ValueError, ZeroDivisionError):
                    continue
                err = error(f(*args), ref, absolute=absolute)
                bound = BOUND[dtype]
                if err > bound:
                    bound = max(bound, 4 * movement(oracle, args, kinds, dtype, absolute=absolute))
                worst, worst_ratio = max(worst, err), max(worst_ratio, err / bound)
            row += [f"{worst:.2g}", f"{worst_ratio:.2g}"]
        print("| " + " | ".join(row) + " |")


def hard_cases():
    """(case, public form's error, ours), float32 unless said."""
    rows = []
    for dtype in ("float32", "float64"):
        x = tight_cluster(dtype)
        ref = mpref.centroid(x, None, 1.0)
        with np.errstate(all="ignore"):
            theirs = error(centroid_textbook(x, 1.0), ref)
        rows.append(
            (
                f"centroid, 8 points 1e-3 apart, 15 from the origin, {dtype}: normalised sum (HyperbolicCV, fully-hyperbolic-nn)",
                theirs,
                error(lorentz.centroid(x), ref),
            )
        )
        ref = mpref.frechet_mean(x, None, 1.0)
        with np.errstate(all="ignore"):
            lou = lou_et_al(x, np.ones(8, dtype=dtype))
        rows.append(
            (
                f"Fréchet mean, same cluster, {dtype}: Lou et al.'s iteration",
                error(lou, ref) if np.all(np.isfinite(lou)) else math.nan,
                error(lorentz.frechet_mean(x), ref),
            )
        )
    for dtype, r in (("float32", 1e3), ("float64", 1e4)):
        x = lift([r, 0.0], 1.0, dtype)
        v = np.array([0.0, 1.0, 0.0], dtype=dtype)
        ref = mpref.busemann(x, v)
        with np.errstate(all="ignore"):
            theirs = error(busemann_textbook(x, v, 1.0), ref)
        rows.append(
            (
                f"Busemann at space norm {r:g} on the ray, {dtype}: log(x0 - xs.v)",
                theirs,
                error(lorentz.busemann(x, v), ref),
            )
        )
    a, z = np.array([6.0], np.float32), np.array([[1.0, 0.0]], np.float32)
    xs = np.array([math.sinh(6.001), 0.5])
    x = lift(xs, 1.0, "float32")
    ref = mpref.mlr_logits(x, a, z)
    rows.append(
        (
            "MLR logit 1e-3 from the hyperplane at offset 6: HyperbolicCV's LorentzMLR",
            error(hyperbolic_cv_lorentz_mlr(x, a, z, 1.0), ref),
            error(lorentz.mlr_logits(x, a, z), ref),
        )
    )
    x = np.stack([lift([3.0, 0.0], 1.0, "float32"), lift([100.0, 0.0], 1.0, "float32")])
    y = np.stack([lift([3.0, 0.001], 1.0, "float32"), lift([100.0, 0.01], 1.0, "float32")])
    with np.errstate(all="ignore"):
        theirs = hycoclip_oxy_angle_eval(x[:, 1:], y[:, 1:]).T
        gemm = -2.0 - 2.0 * (x[:, 1:] @ y[:, 1:].T - np.outer(x[:, 0], y[:, 0]))
    ours = lorentz.pairwise_exterior_angle(x, y)
    sq = lorentz.pairwise_sqdist(x, y)
    for i in range(2):
        ref = mpref.exterior_angle(x[i], y[i])
        rows.append(
            (
                f"exterior angle, space norm {x[i, 1]:g}, step {y[i, 2]:g} across (rad, absolute): HyCoCLIP's oxy_angle_eval",
                error(theirs[i, i], ref, absolute=True),
                error(ours[i, i], ref, absolute=True),
            )
        )
        ref = mpref.sqdist(x[i], y[i])
        rows.append(
            (
                "squared Lorentzian distance, same pair: -2/c - 2<x,y>_L by GEMM",
                error(gemm[i, i], ref),
                error(sq[i, i], ref),
            )
        )
    print("| case | public form | lorentz |")
    print("|---|---|---|")
    for case, theirs, ours in rows:
        print(f"| {case} | {'NaN' if math.isnan(theirs) else f'{theirs:.2g}'} | {ours:.2g} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--cases", type=int, default=20)
    args = p.parse_args()
    hard_cases()
    print()
    sweep(args.cases)
