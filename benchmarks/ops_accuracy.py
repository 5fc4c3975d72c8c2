"""Accuracy of the operations for hyperbolic models against mpmath: a sweep of each (max
error, and max error over the contract's bound), and the hard cases where the formulas in
public code (transcribed in the tests) fail, and the public counterparts (geomstats and geoopt
where installed, and the transcriptions) on the sweep's inputs. Prints the tables of
docs/numerics.md.

    python benchmarks/ops_accuracy.py [--cases 20]
"""

import argparse
import math

import numpy as np
from mpmath import mp, mpf

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
    meru_oxy_angle,
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


def frechet_variance_mp(points, weights, c):
    """sum_i w_i d^2(m, x_i) / sum_i w_i at mpref's Fréchet mean m (rounded to float64: the
    variance is stationary in m, so that rounding moves it by O(eps^2))."""
    with mp.workdps(mpref.DIGITS):
        m = [float(t) for t in mpref.frechet_mean(points, weights, c)]
        ws = [mpf(float(w)) for w in weights]
        return mp.fsum(w * mpref.dist(m, q, c) ** 2 for w, q in zip(ws, points)) / mp.fsum(ws)


def cases(name, rng, dtype):
    """(lorentz call, oracle, args, kinds, absolute, {"c": c, ...}) for one random case."""
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
            {"c": c, "t": t},
        )
    if name in ("centroid", "frechet_mean", "frechet_variance"):
        spread = 10.0 ** rng.uniform(-6, 0) * max(1.0, np.linalg.norm(x[1:].astype(float)))
        pts = lift(x[1:].astype(float) + spread * rng.standard_normal((4, n)), c, dtype)
        w = rng.uniform(0.1, 2, 4).astype(dtype)
        f, o = {
            "centroid": (lorentz.centroid, mpref.centroid),
            "frechet_mean": (lorentz.frechet_mean, mpref.frechet_mean),
            "frechet_variance": (lorentz.frechet_variance, frechet_variance_mp),
        }[name]
        return (
            lambda p, v: f(p, v, c=c),
            lambda p, v: o(p, v, c),
            (pts, w),
            ("point", "vector"),
            False,
            {"c": c},
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
            {"c": c},
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
            {"c": c},
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
            {"c": c},
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
            {"c": c},
        )
    if name == "wrapped_normal_log_prob":
        s = (10.0 ** rng.uniform(-1, 0.5, n)).astype(dtype)
        return (
            lambda z, m, q: lorentz.wrapped_normal_log_prob(z, m, q, c=c),
            lambda z, m, q: mpref.wrapped_normal_log_prob(z, m, q, c),
            (y, x, s),
            ("point", "point", "vector"),
            False,
            {"c": c},
        )
    if name == "sqdist":
        return (
            lambda a, b: lorentz.sqdist(a, b, c=c),
            lambda a, b: mpref.sqdist(a, b, c),
            (x, y),
            ("point", "point"),
            False,
            {"c": c},
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
            {"c": c},
        )
    raise KeyError(name)


NAMES = [
    "geodesic",
    "centroid",
    "frechet_mean",
    "frechet_variance",
    "busemann",
    "hyperplane_dist",
    "mlr_logits",
    "wrapped_normal_sample",
    "wrapped_normal_log_prob",
    "sqdist",
    "pairwise_exterior_angle",
]


def load_peers():
    """geomstats's Hyperboloid and geoopt's Lorentz where importable (None otherwise, with a
    printed note)."""
    peers = {}
    try:
        if not hasattr(np, "trapz"):
            # geomstats 2.8.0's numpy backend imports numpy.trapz, removed in numpy 2.4
            np.trapz = np.trapezoid
        import geomstats
        from geomstats.geometry.hyperboloid import Hyperboloid
        from geomstats.learning.frechet_mean import FrechetMean, variance

        peers["geomstats"] = (geomstats.__version__, Hyperboloid, FrechetMean, variance)
    except ImportError as e:
        print(f"geomstats not importable ({e}): its rows are skipped")
    try:
        import geoopt
        import torch

        peers["geoopt"] = (geoopt.__version__, geoopt.manifolds.Lorentz, torch)
    except ImportError as e:
        print(f"geoopt not importable ({e}): its rows are skipped")
    return peers


def public_forms(name, args, params, dtype, peers):
    """{label: call} of the public counterparts of ``name`` on the case's inputs, each in the
    input dtype where the code allows. geomstats's Hyperboloid is curvature -1 only: points
    and tangent vectors are scaled by sqrt(c) in the input dtype (one more rounding) and the
    result scaled back."""
    c = params["c"]
    cd = np.dtype(dtype).type(c)
    sc = np.dtype(dtype).type(math.sqrt(c))
    forms = {}
    gs = peers.get("geomstats")
    go = peers.get("geoopt")
    if gs:
        _, Hyperboloid, FrechetMean, gs_variance = gs
    if go:
        _, Lorentz, torch = go

        def t_(a):
            return torch.from_numpy(np.ascontiguousarray(a))

        man = Lorentz(k=1 / c)

        def n_(a):
            return a.detach().numpy()

    def origin(n):
        return np.concatenate([[1.0 / math.sqrt(c)], np.zeros(n)]).astype(dtype)

    if name == "geodesic":
        x, y = args
        t = params["t"]
        if gs:
            H = Hyperboloid(x.size - 1)
            forms["geomstats: metric.geodesic(x, end_point=y)(t)"] = lambda: (
                H.metric.geodesic(initial_point=x * sc, end_point=y * sc)(np.array([t]))[0] / sc
            )
        if go:
            forms["geoopt: expmap(x, t logmap(x, y))"] = lambda: n_(
                man.expmap(t_(x), t * man.logmap(t_(x), t_(y)))
            )
    elif name == "centroid":
        pts, w = args
        forms["HyperbolicCV normalised sum"] = lambda: centroid_textbook(w[:, None] * pts, cd)
    elif name == "frechet_mean":
        pts, w = args
        if gs:
            H = Hyperboloid(pts.shape[1] - 1)
            forms["geomstats: FrechetMean (defaults)"] = lambda: (
                FrechetMean(H).fit(pts * sc, weights=w).estimate_ / sc
            )
        forms["Lou et al.'s iteration"] = lambda: lou_et_al(pts * sc, w) / sc
    elif name == "frechet_variance":
        pts, w = args
        if gs:
            H = Hyperboloid(pts.shape[1] - 1)

            def gs_var():
                m = FrechetMean(H).fit(pts * sc, weights=w).estimate_
                return gs_variance(H, pts * sc, m, weights=w) / cd

            forms["geomstats: variance at FrechetMean (defaults)"] = gs_var
    elif name == "busemann":
        x, v = args
        forms["textbook log(x0 - xs.v)"] = lambda: busemann_textbook(x, v, cd)
    elif name == "mlr_logits":
        x, a, z = args
        forms["HyperbolicCV's LorentzMLR"] = lambda: hyperbolic_cv_lorentz_mlr(
            x, a, z, np.dtype(dtype).type(1 / c)
        )
    elif name == "wrapped_normal_sample":
        mu, s, e = args
        v = np.concatenate([[0.0], s * e]).astype(dtype)
        o = origin(mu.size - 1)
        if gs:
            H = Hyperboloid(mu.size - 1)

            def gs_sample():
                u = H.metric.parallel_transport(v * sc, o * sc, end_point=mu * sc)
                return H.metric.exp(u, mu * sc) / sc

            forms["geomstats: exp(mu, parallel_transport(v, o, mu))"] = gs_sample
        if go:
            forms["geoopt: expmap(mu, transp(o, mu, v))"] = lambda: n_(
                man.expmap(t_(mu), man.transp(t_(o), t_(mu), t_(v)))
            )
    elif name == "wrapped_normal_log_prob":
        z, mu, s = args
        o = origin(mu.size - 1)
        n = mu.size - 1

        def density(vs, t):
            # vs: the space part of PT_{mu -> o}(log_mu z), t = sqrt(c) d(mu, z), in dtype
            gauss = -n / 2 * math.log(2 * math.pi) - np.sum(np.log(s)) - np.sum((vs / s) ** 2) / 2
            return gauss - (n - 1) * np.log(np.sinh(t) / t) if t else gauss

        if gs:
            H = Hyperboloid(n)

            def gs_logp():
                u = H.metric.log(z * sc, mu * sc)
                vs = H.metric.parallel_transport(u, mu * sc, end_point=o * sc)[1:] / sc
                return density(vs, H.metric.dist(mu * sc, z * sc))

            forms["geomstats: log, parallel_transport, dist"] = gs_logp
        if go:

            def go_logp():
                u = man.logmap(t_(mu), t_(z))
                vs = n_(man.transp(t_(mu), t_(o), u))[1:]
                return density(vs, sc * n_(man.dist(t_(mu), t_(z))))

            forms["geoopt: logmap, transp, dist"] = go_logp
    elif name == "sqdist":
        x, y = args

        def lip(a, b):
            return -a[0] * b[0] + a[1:] @ b[1:]

        forms["-2/c - 2<x,y>_L"] = lambda: -2 / cd - 2 * lip(x, y)
        if gs:
            H = Hyperboloid(x.size - 1)
            forms["geomstats: -2/c - 2 Minkowski inner_product"] = lambda: (
                -2 / cd - 2 * H.embedding_space.metric.inner_product(x, y)
            )
        if go:
            forms["geoopt: -2/c - 2 inner"] = lambda: (
                -2 / cd - 2 * n_(man.inner(t_(x), t_(x), t_(y)))
            )
    elif name == "pairwise_exterior_angle":
        x, y = args
        forms["HyCoCLIP's oxy_angle_eval"] = lambda: hycoclip_oxy_angle_eval(
            x[None, 1:], y[None, 1:], cd
        )[0, 0]
        if go:
            forms["MERU's oxy_angle"] = lambda: n_(meru_oxy_angle(t_(x[1:]), t_(y[1:]), cd))
    return forms


def sweep(count):
    peers = load_peers()
    versions = ", ".join(f"{k} {v[0]}" for k, v in peers.items())
    ours, theirs = {}, {}
    for name in NAMES:
        for dtype in ("float32", "float64"):
            rng = np.random.default_rng(16)
            worst = worst_ratio = 0.0
            for _ in range(count):
                f, oracle, args, kinds, absolute, params = cases(name, rng, dtype)
                try:
                    ref = oracle(*args)
                except (ValueError, ZeroDivisionError):
                    continue
                err = error(f(*args), ref, absolute=absolute)
                bound = BOUND[dtype]
                if err > bound:
                    bound = max(bound, 4 * movement(oracle, args, kinds, dtype, absolute=absolute))
                worst, worst_ratio = max(worst, err), max(worst_ratio, err / bound)
                for label, g in public_forms(name, args, params, dtype, peers).items():
                    # worst finite error, cases not finite, cases
                    rec = theirs.setdefault((name, label), {}).setdefault(dtype, [0.0, 0, 0])
                    rec[2] += 1
                    try:
                        with np.errstate(all="ignore"):
                            out = np.asarray(g(), dtype=np.float64)
                    except Exception as e:  # a peer that raises is a result: counted, first shown
                        if not rec[1]:
                            print(f"{label} raised on {name} {dtype}: {type(e).__name__}: {e}")
                        rec[1] += 1
                        continue
                    if not np.all(np.isfinite(out)):
                        rec[1] += 1
                        continue
                    rec[0] = max(rec[0], error(out, ref, absolute=absolute))
            ours[name, dtype] = (worst, worst_ratio)
    print(
        "| operation | float32 max error | float32 max error / bound | float64 max error | float64 max error / bound |"
    )
    print("|---|---|---|---|---|")
    for name in NAMES:
        row = [name]
        for dtype in ("float32", "float64"):
            row += [f"{v:.2g}" for v in ours[name, dtype]]
        print("| " + " | ".join(row) + " |")
    print()
    print(f"public counterparts on the same {count} cases per dtype ({versions or 'none'}):")
    print()
    print("| operation | form | float32 max error | float64 max error |")
    print("|---|---|---|---|")
    for name in NAMES:
        print(
            f"| {name} | lorentz | {ours[name, 'float32'][0]:.2g} | {ours[name, 'float64'][0]:.2g} |"
        )
        for (op, label), recs in theirs.items():
            if op != name:
                continue
            cells = []
            for dtype in ("float32", "float64"):
                worst, bad, n = recs.get(dtype, [math.nan, 0, 0])
                cell = f"{worst:.2g}" if bad < n else "-"
                cells.append(cell + (f" (NaN/inf in {bad} of {n})" if bad else ""))
            print(f"| {name} | {label} | {cells[0]} | {cells[1]} |")


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
