"""The elementwise operations on every user path against the textbook formula written directly in
the same array library, side by side in one run on one machine.

    python benchmarks/elementwise.py [--ops dist,expmap0] [--paths numpy,torch,jax]
        [--dtypes float32,float64] [--rows N] [--quick] [--write]

Operations: dist, dist0, expmap0, logmap0, expmap, logmap, transport, half_aperture
(min_radius 0.1), exterior_angle, to_poincare, from_poincare, c = 1.0. Inputs: N points
(default 200,000) with 128 space dimensions, space components ~ N(0, 0.3^2) made into points
with lorentz.from_space; tangent vectors at the origin (time 0, space ~ N(0, 0.3^2)); tangent
vectors at x from lorentz.project_tangent; Poincare points from lorentz.to_poincare. The
textbook side is benchmarks/benchmarks/textbook.py: one array-API function per operation
(MERU's formulas where MERU has the operation, geoopt's elsewhere), the same code on every
library.

Paths: numpy, forward only, lorentz as users call it (the numba kernels where numba is
installed, the array-API reference otherwise); torch CPU eager,
forward and forward + backward (the sum of the output, backward to every array input); jax with
x64 enabled (float32 inputs stay float32), forward under jax.jit and forward + backward as
jax.jit(jax.grad(...)). Times are the best of 3 after a warm-up (numba and jax compile on first
use); --quick is 20,000 rows and 1 run. The error column checks lorentz, so that a fast wrong
path would show: the largest over rows of max|got - ref| / max|ref| along the last axis, against
lorentz's float64 reference (numpy, implementation="reference") on the same inputs upcast; for
forward + backward, of the gradients against the float64 reference's torch gradients.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import inspect
import os
import platform
import sys
import time

import numpy as np
from _common import write_section
from benchmarks.bench_elementwise import ARGS, C, bind, inputs

import lorentz
from benchmarks import textbook

OPS = tuple(ARGS)
PATHS = ("numpy", "torch", "jax")
DTYPES = ("float32", "float64")
DIM = 128


def best_time(f, repeat):
    """Best wall time of ``f()`` over ``repeat`` runs after one warm-up call: the least
    disturbed run, on a machine where other processes take the cores now and then."""
    f()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def rel_err(got, ref):
    """max over rows of max|got - ref| / max|ref| along the last axis (per element for scalar
    outputs); NaN when lorentz returned one."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if ref.ndim == 1:
        got, ref = got[:, None], ref[:, None]
    scale = np.max(np.abs(ref), axis=-1)
    err = np.max(np.abs(got - ref), axis=-1)
    return float(np.max(err / np.where(scale > 0, scale, 1.0)))


def reference_fn(op):
    """lorentz's ``op`` forced onto the array-API reference where it takes ``implementation``
    (whatever the default picks, the check is against the same formula every time)."""
    fn = bind(lorentz, op)
    if "implementation" in inspect.signature(getattr(lorentz, op)).parameters:
        fn = functools.partial(fn, implementation="reference")
    return fn


def reference(op, arrays):
    """lorentz's float64 reference result on ``arrays`` upcast."""
    return reference_fn(op)(*(a.astype(np.float64) for a in arrays))


def reference_grads(op, arrays):
    """lorentz's float64 reference gradients of the summed output, by torch autograd."""
    import torch

    leaves = [torch.from_numpy(a.astype(np.float64)).requires_grad_() for a in arrays]
    reference_fn(op)(*leaves).sum().backward()
    return [t.grad.numpy() for t in leaves]


def numpy_rows(op, arrays, ref, repeat):
    t0 = best_time(lambda: bind(textbook, op)(*arrays), repeat)
    t1 = best_time(lambda: bind(lorentz, op)(*arrays), repeat)
    return [("forward", t0, t1, rel_err(bind(lorentz, op)(*arrays), ref))]


def torch_rows(op, arrays, ref, grad_ref, repeat):
    import torch

    ts = [torch.from_numpy(a) for a in arrays]
    t0 = best_time(lambda: bind(textbook, op)(*ts), repeat)
    t1 = best_time(lambda: bind(lorentz, op)(*ts), repeat)
    rows = [("forward", t0, t1, rel_err(bind(lorentz, op)(*ts).numpy(), ref))]

    def step(f):
        # fresh leaves each run (sharing the inputs' memory), so no .grad accumulates and each
        # graph is freed by its backward
        leaves = [t.detach().requires_grad_() for t in ts]
        f(*leaves).sum().backward()
        return [t.grad for t in leaves]

    t0 = best_time(lambda: step(bind(textbook, op)), repeat)
    t1 = best_time(lambda: step(bind(lorentz, op)), repeat)
    grads = step(bind(lorentz, op))
    err = max(rel_err(g.numpy(), r) for g, r in zip(grads, grad_ref(), strict=True))
    rows.append(("forward + backward", t0, t1, err))
    return rows


def jax_rows(op, arrays, ref, grad_ref, repeat):
    import jax

    js = [jax.numpy.asarray(a) for a in arrays]
    argnums = tuple(range(len(js)))
    f0, f1 = jax.jit(bind(textbook, op)), jax.jit(bind(lorentz, op))
    t0 = best_time(lambda: f0(*js).block_until_ready(), repeat)
    t1 = best_time(lambda: f1(*js).block_until_ready(), repeat)
    rows = [("forward", t0, t1, rel_err(f1(*js), ref))]

    def grad(m):
        f = bind(m, op)
        return jax.jit(jax.grad(lambda *a: f(*a).sum(), argnums=argnums))

    g0, g1 = grad(textbook), grad(lorentz)
    t0 = best_time(lambda: jax.block_until_ready(g0(*js)), repeat)
    t1 = best_time(lambda: jax.block_until_ready(g1(*js)), repeat)
    err = max(rel_err(g, r) for g, r in zip(g1(*js), grad_ref(), strict=True))
    rows.append(("forward + backward", t0, t1, err))
    return rows


def versions():
    out = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    for name in ("numba", "torch", "jax", "array_api_compat"):
        if importlib.util.find_spec(name) is not None:
            out.append(f"{name.replace('_', '-')} {__import__(name).__version__}")
    return ", ".join(out) + f", lorentz {lorentz.__version__}"


def names(text, allowed, flag):
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in allowed]
    if unknown or not chosen:
        sys.exit(
            f"{flag}: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(allowed)}"
        )
    return chosen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", default=",".join(OPS), help="comma-separated operations")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated: numpy,torch,jax")
    ap.add_argument("--dtypes", default=",".join(DTYPES), help="comma-separated: float32,float64")
    ap.add_argument("--rows", type=int, default=None, help="points per array (default 200000)")
    ap.add_argument("--quick", action="store_true", help="20,000 rows, 1 run (smoke test)")
    ap.add_argument("--write", action="store_true", help="write the tables into RESULTS.md")
    a = ap.parse_args()
    ops, dtypes = names(a.ops, OPS, "--ops"), names(a.dtypes, DTYPES, "--dtypes")
    paths = []
    for path in names(a.paths, PATHS, "--paths"):
        if path != "numpy" and importlib.util.find_spec(path) is None:
            print(f"{path} is not installed: path skipped")
        else:
            paths.append(path)
    rows_n = a.rows or (20_000 if a.quick else 200_000)
    repeat = 1 if a.quick else 3
    if "jax" in paths:
        import jax

        jax.config.update("jax_enable_x64", True)  # float64 exists; float32 inputs stay float32
    needs_grad_ref = bool({"torch", "jax"} & set(paths))
    if needs_grad_ref and importlib.util.find_spec("torch") is None:
        sys.exit("the gradient errors are measured against torch float64: install torch")

    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}"
    )
    numba = importlib.util.find_spec("numba") is not None
    print(
        f"machine: {machine}\n{versions()}\n{rows_n} x {DIM + 1}, c = {C}, best of {repeat}",
        flush=True,
    )

    results = {p: [] for p in paths}
    for dtype in dtypes:
        data = inputs(rows_n, DIM, np.dtype(dtype))
        for op in ops:
            arrays = [data[k] for k in ARGS[op]]
            ref = reference(op, arrays)
            grad_ref = functools.cache(lambda op=op, arrays=arrays: reference_grads(op, arrays))
            for path in paths:
                if path == "numpy":
                    got = numpy_rows(op, arrays, ref, repeat)
                elif path == "torch":
                    got = torch_rows(op, arrays, ref, grad_ref, repeat)
                else:
                    got = jax_rows(op, arrays, ref, grad_ref, repeat)
                for row in got:
                    results[path].append((op, dtype, *row))
                    print(
                        f"{path:5} {op:14} {dtype} {row[0]:18} textbook {row[1] * 1e3:9.2f} ms"
                        f"  lorentz {row[2] * 1e3:9.2f} ms  err {row[3]:.1e}",
                        flush=True,
                    )
                del got
                gc.collect()  # the torch and jax buffers of this row go before the next one
            del ref, grad_ref
            gc.collect()
        del data

    titles = {
        "numpy": (
            "numpy, forward (lorentz: the numba kernels, every operation here)"
            if numba
            else "numpy, forward (lorentz: the array-API reference; numba not installed)"
        ),
        "torch": "torch CPU, eager",
        "jax": "jax, under jax.jit (x64 enabled)",
    }
    blocks = []
    for path in paths:
        lines = [
            f"### {titles[path]}",
            "",
            (
                "| op | dtype | pass | textbook (ms) | lorentz (ms) | lorentz / textbook "
                "| lorentz max rel err |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for op, dtype, which, t0, t1, err in results[path]:
            lines.append(
                f"| {op} | {dtype} | {which} | {t0 * 1e3:.2f} | {t1 * 1e3:.2f} "
                f"| {t1 / t0:.2f} | {err:.1e} |"
            )
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    print(f"\n{text}", flush=True)
    if a.write:
        command = " ".join(["python benchmarks/elementwise.py", *sys.argv[1:]])
        header = HEADER.format(
            rows=rows_n,
            dims=DIM + 1,
            machine=machine,
            versions=versions(),
            repeat=repeat,
            command=command,
        )
        write_section("elementwise", header + text)


HEADER = """## Elementwise operations on every path

Produced by `{command}` on {machine} ({versions}),
all rows in one run. Inputs {rows} x {dims} (128 space dims, space components ~ N(0, 0.3^2)),
c = 1; best of {repeat} after a warm-up. The textbook is benchmarks/benchmarks/textbook.py, one
array-API function per operation (MERU's formulas where MERU has them, geoopt's elsewhere), run
on each library. Forward + backward: the sum of the output, backward to every array input
(torch autograd; jax.jit(jax.grad)). Errors: lorentz's largest normwise relative error per row
against its float64 reference on the same inputs (forward), against the float64 reference's
torch gradients (forward + backward; 0 in the torch float64 rows when the default is the
reference itself).

"""

if __name__ == "__main__":
    main()
