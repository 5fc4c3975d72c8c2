"""``python -m lorentz check``: every operation on every installed backend against the
mpmath reference, as a table (backend, dtype, op, max error, bound, pass/fail).

The inputs are hard on purpose: near pairs far from the origin (where the textbook
acosh(-c<x,y>_L) loses everything), points at the origin, tangent norms from 1e-6 to 50,
curvatures 0.1 to 10. Bounds are the library's accuracy contract (README).
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
from dataclasses import dataclass

import numpy as np

BOUND = {"float32": 2e-6, "float64": 1e-12}
MAX_NORM = {"float32": 1e3, "float64": 1e4}
BACKENDS = ("numpy", "torch", "jax", "array_api_strict", "cupy")


@dataclass
class Row:
    backend: str
    dtype: str
    op: str
    error: float
    bound: float

    @property
    def ok(self) -> bool:
        return self.error <= self.bound


def _namespace(name: str):
    """The array namespace of an installed backend, or None."""
    try:
        if name == "numpy":
            return importlib.import_module("array_api_compat.numpy")
        if name == "torch":
            importlib.import_module("torch")
            return importlib.import_module("array_api_compat.torch")
        if name == "cupy":
            importlib.import_module("cupy").cuda.runtime.getDeviceCount()
            return importlib.import_module("array_api_compat.cupy")
        if name == "jax":
            jax = importlib.import_module("jax")
            jax.config.update("jax_enable_x64", True)
            return importlib.import_module("jax.numpy")
        return importlib.import_module(name)
    except Exception:  # not installed, or installed without a usable device
        return None


def _lift(xs, c, dtype):
    xs = xs.astype(dtype)
    x0 = np.sqrt(1 / c + np.sum(xs.astype(np.float64) ** 2, -1, keepdims=True))
    return np.concatenate([x0.astype(dtype), xs], -1)


def _samples(rng, dtype: str, count: int):
    """count cases per op: (c, x, y, u, v) with u tangent at the origin, v tangent at x."""
    n = 4
    out = []
    for i in range(count):
        c = float(np.exp(rng.uniform(np.log(0.1), np.log(10)))) if i % 3 else 1.0
        r = (
            0.0
            if i % 10 == 0
            else float(np.exp(rng.uniform(np.log(1e-6), np.log(MAX_NORM[dtype]))))
        )
        d = rng.normal(size=n)
        xs = r * d / np.linalg.norm(d)
        step = float(np.exp(rng.uniform(np.log(1e-7), 0))) * max(1.0, r)
        e = rng.normal(size=n)
        ys = xs + step * e / np.linalg.norm(e) if i % 2 else rng.normal(size=n) * r
        x, y = _lift(xs, c, dtype), _lift(ys, c, dtype)
        t = float(np.exp(rng.uniform(np.log(1e-6), np.log(50)))) / math.sqrt(c)
        w = rng.normal(size=n)
        u = np.concatenate([[0.0], t * w / np.linalg.norm(w)]).astype(dtype)
        xf = x.astype(np.float64)
        vs = rng.normal(size=n)
        v = np.concatenate([[xf[1:] @ vs / xf[0]], vs]).astype(dtype)
        out.append((c, x, y, u, v))
    return out


# sample fields for each kind of registry input the self-check draws
FIELDS = {
    "point": "x",
    "pair": "xy",
    "distinct": "xy",
    "tangent0": "u",
    "tangent": "xv",
    "transport": "xyv",
}


def _ops():
    """name: (library call, mpmath oracle, sample fields, angle?) for every registered
    operation with an oracle and inputs the self-check draws."""
    import lorentz
    from lorentz._registry import OPERATIONS
    from lorentz.testing import mpref

    return {
        name: (getattr(lorentz, name), getattr(mpref, op.oracle), FIELDS[op.inputs], op.angle)
        for name, op in OPERATIONS.items()
        if op.oracle and op.inputs in FIELDS
    }


def _ulp(dtype):
    t = np.dtype(dtype).type
    return lambda v: float(np.spacing(abs(t(v))))


def run(samples: int = 40, seed: int = 0) -> list[Row]:
    from lorentz.testing import mpref, to_numpy

    spaces = {name: ns for name in BACKENDS if (ns := _namespace(name)) is not None}
    if importlib.util.find_spec("numba") is not None:
        spaces = {"numpy": spaces["numpy"], "numba": spaces["numpy"], **spaces}
    from lorentz._registry import OPERATIONS, has_kernel

    numba_ops = {name for name in OPERATIONS if has_kernel("numba", name, "numpy")}
    rows = []
    for dtype in ("float32", "float64"):
        cases = _samples(np.random.default_rng(seed), dtype, samples)
        for op, (lib, ref, fields, angle) in _ops().items():
            refs: list = []
            bounds: list[float | None] = []
            inputs: list = []
            for c, x, y, u, v in cases:
                args = [dict(x=x, y=y, u=u, v=v)[f] for f in fields]
                try:
                    r = ref(*args, c)
                except ValueError:  # angle undefined (origin, y == x)
                    continue
                inputs.append((c, args))
                refs.append(r)
                bounds.append(None)
            for backend, xp in spaces.items():
                if backend == "numba" and op not in numba_ops:
                    continue
                # "numpy" is the array-API reference; "numba" the compiled kernels on numpy
                kw = (
                    {"implementation": backend}
                    if backend == "numba"
                    else ({"implementation": "reference"} if op in numba_ops else {})
                )
                worst, worst_bound = 0.0, BOUND[dtype]
                for k, ((c, args), r) in enumerate(zip(inputs, refs)):
                    out = to_numpy(lib(*(xp.asarray(a) for a in args), c=c, **kw))
                    err = mpref.error(out.tolist() if out.ndim else float(out), r, absolute=angle)
                    bound = BOUND[dtype]
                    if err > bound:
                        known = bounds[k]
                        if known is None:  # the answer's own sensitivity, computed once
                            moved = mpref.movement(
                                lambda *a, ref=ref, c=c: ref(*a, c),
                                args,
                                _ulp(dtype),
                                absolute=angle,
                            )
                            known = bounds[k] = max(bound, 4 * moved)
                        bound = known
                    if err / bound > worst / worst_bound:
                        worst, worst_bound = err, bound
                rows.append(Row(backend, dtype, op, worst, worst_bound))
    return rows


def format_table(rows: list[Row]) -> str:
    """One line per (dtype, op), one column of max error per backend (Markdown)."""
    backends = list(dict.fromkeys(r.backend for r in rows))
    keys = list(dict.fromkeys((r.dtype, r.op) for r in rows))
    cell = {(r.dtype, r.op, r.backend): r for r in rows}
    lines = [
        "| dtype | op | " + " | ".join(backends) + " | bound | result |",
        "|---|---|" + "---|" * len(backends) + "---|---|",
    ]
    for dtype, op in keys:
        got = [cell[dtype, op, b] for b in backends if (dtype, op, b) in cell]
        errs = " | ".join(
            f"{cell[dtype, op, b].error:.1e}" if (dtype, op, b) in cell else "-" for b in backends
        )
        ok = all(r.ok for r in got)
        lines.append(
            f"| {dtype} | {op} | {errs} | {min(r.bound for r in got):.0e} | "
            f"{'pass' if ok else 'FAIL'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m lorentz check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--samples", type=int, default=40, help="cases per op and dtype")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.samples < 1:  # no case checked would print a table that cannot fail
        parser.error(f"--samples must be at least 1, got {args.samples}")
    try:
        import mpmath  # noqa: F401
    except ImportError:
        print("the self-check needs mpmath: pip install 'lorentz-geometry[check]'", file=sys.stderr)
        return 2
    rows = run(args.samples, args.seed)
    print(format_table(rows))
    failed = [r for r in rows if not r.ok]
    backends = sorted({r.backend for r in rows})
    print(
        f"\n{len(rows) - len(failed)}/{len(rows)} pass on {', '.join(backends)}"
        " (errors: relative, angles absolute in rad; mpmath at 60 digits on the rounded inputs)"
    )
    return 1 if failed else 0
