"""The Triton kernels against MERU-style eager torch and torch.compile of it, on one GPU.

    python benchmarks/gpu.py [--write] [--json out.json]
    TRITON_INTERPRET=1 python benchmarks/gpu.py --smoke   # tiny sizes on the CPU: checks the script

Same inputs for every row (float32, space components ~ N(0, 0.3^2), 512 dims, curv 1):
pairwise_dist (and pairwise_sqdist, pairwise_exterior_angle) 16384 x 16384, expmap0 of
2,097,152 tangent vectors, MERU's loss forward and backward at B = 32768 (and B = 131072, which eager torch cannot hold). Each result is checked
against the library's reference in float64 (on the first 1024 rows where the full problem is
too large for float64). The "schemes" section forces each precision scheme of the all-pairs
kernels (docs/gpu-precision.md) for float32, bfloat16 and float16 inputs, beside the GEMM alone
in float32 and bfloat16; its errors are per pair (max |got - want| / want), with near pairs
among the checked rows. Times by triton.testing.do_bench (median); peak GiB is
max_memory_allocated above what was allocated before the call. Prints one table and, with
--json, writes the rows; --write puts the table, card and versions into RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
from _common import write_section
from benchmarks.bench_elementwise import ARGS, bind

import lorentz
from benchmarks import textbook
from lorentz.meru import meru_loss

CURV, SCALE = 1.0, 10.0
CHECK_ROWS = 1024


# ---------------------------------------------------------------- MERU-style eager torch


def meru_time(x):
    return torch.sqrt(1 / CURV + torch.sum(x**2, dim=-1, keepdim=True))


def meru_pairwise_dist(x, y, eps=1e-8):
    xyl = x @ y.T - meru_time(x) @ meru_time(y).T
    return torch.acosh(torch.clamp(-CURV * xyl, min=1 + eps)) / CURV**0.5


def meru_expmap0(u, eps=1e-8):
    r = CURV**0.5 * torch.norm(u, dim=-1, keepdim=True)
    return torch.sinh(torch.clamp(r, min=eps, max=10.397)) * u / torch.clamp(r, min=eps)


def meru_oxy_angle(x, y, eps=1e-8):
    x0, y0 = meru_time(x)[:, 0], meru_time(y)[:, 0]
    c_xyl = CURV * (torch.sum(x * y, dim=-1) - x0 * y0)
    acos_numer = y0 + c_xyl * x0
    acos_denom = torch.sqrt(torch.clamp(c_xyl**2 - 1, min=eps))
    return torch.acos(
        torch.clamp(acos_numer / (torch.norm(x, dim=-1) * acos_denom + eps), -1 + eps, 1 - eps)
    )


def textbook_sqdist(x, y):
    """Law et al.'s squared Lorentzian distance as written: -2/c - 2<x, y>_L, one GEMM."""
    return -2.0 / CURV - 2.0 * (x[:, 1:] @ y[:, 1:].T - x[:, :1] @ y[:, :1].T)


def textbook_angle(x, y, eps=1e-8):
    """HyCoCLIP's oxy_angle_eval (acos of a GEMM form), transposed to (N, M)."""
    c_xyl = CURV * (x[:, 1:] @ y[:, 1:].T - x[:, :1] @ y[:, :1].T)
    numer = y[:, :1].T + c_xyl * x[:, :1]
    denom = torch.sqrt(torch.clamp(c_xyl**2 - 1, min=eps))
    cos = numer / (torch.linalg.norm(x[:, 1:], dim=-1, keepdim=True) * denom + eps)
    return torch.acos(torch.clamp(cos, -1 + eps, 1 - eps))


def meru_half_aperture(x, min_radius=0.1, eps=1e-8):
    arg = 2 * min_radius / (torch.norm(x, dim=-1) * CURV**0.5 + eps)
    return torch.asin(torch.clamp(arg, -1 + eps, 1 - eps))


def meru_style_loss(image, text):
    logits = -SCALE * meru_pairwise_dist(image, text)
    labels = torch.arange(image.shape[0], device=image.device)
    contrastive = 0.5 * (
        torch.nn.functional.cross_entropy(logits, labels)
        + torch.nn.functional.cross_entropy(logits.T, labels)
    )
    angle = meru_oxy_angle(text, image)
    entailment = torch.clamp(angle - meru_half_aperture(text), min=0).mean()
    return contrastive + 0.2 * entailment


# ---------------------------------------------------------------- measurement


def bench(fn, device):
    if device == "cuda":
        import triton.testing

        return triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median")
    fn()
    t = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - t)


def peak_gib(fn, device):
    if device != "cuda":
        return float("nan")
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**30


def rel_err(got, want):
    got, want = got.double(), want.double()
    return float((got - want).abs().max() / want.abs().max())


def run_case(name, fns, check, device):
    """fns: label -> (callable returning the result, callable to time). One row per label."""
    rows = []
    for label, (result, timed) in fns.items():
        try:
            err = check(result())
            ms = bench(timed, device)
            gib = peak_gib(timed, device)
        except torch.OutOfMemoryError:
            err, ms, gib = float("nan"), float("nan"), float("inf")
            torch.cuda.empty_cache()
        except Exception as e:  # a failing row is reported, and the other rows still run
            print(f"{name}: {label} FAILED {type(e).__name__}: {str(e)[:300]}", flush=True)
            err, ms, gib = float("nan"), float("nan"), float("nan")
        rows.append(
            {"work": name, "implementation": label, "ms": ms, "peak_gib": gib, "max_rel_err": err}
        )
        print(f"{name:34s} {label:16s} {ms:10.3f} ms {gib:8.3f} GiB  err {err:.1e}", flush=True)
    return rows


def elementwise_inputs(rows, dim, device):
    """The arrays of benchmarks/benchmarks/bench_elementwise.py, drawn on the device."""
    g = torch.Generator(device=device).manual_seed(7)

    def normal(cols):
        return 0.3 * torch.randn(rows, cols, device=device, generator=g)

    x, y = lorentz.from_space(normal(dim)), lorentz.from_space(normal(dim))
    v = torch.cat([torch.zeros(rows, 1, device=device), normal(dim)], 1)
    u = lorentz.project_tangent(x, normal(dim + 1))
    return {"x": x, "y": y, "v": v, "u": u, "p": lorentz.to_poincare(x)}


def elementwise(rows, dim, device):
    """Each elementwise operation as users call it (implementation=None: the Triton kernels
    where there are some, the reference otherwise) against the textbook formula in eager torch
    and against the memory floor: a device copy of the same bytes (inputs read and output
    written once; forward + backward also reads the inputs and the output's gradient again
    and writes the inputs' gradients, 3 inputs + 2 outputs)."""
    data = elementwise_inputs(rows, dim, device)
    copy_ms = bench(lambda: data["x"].clone(), device)
    per_byte = copy_ms / (2 * data["x"].nbytes)
    out = []
    for op, names in ARGS.items():
        arrays = [data[k] for k in names]
        few = [a[:CHECK_ROWS] for a in arrays]
        ours, theirs = bind(lorentz, op), bind(textbook, op)
        want = ours(*(a.double() for a in few))
        in_bytes = sum(a.nbytes for a in arrays)
        out_bytes = ours(*arrays).nbytes

        def step(f, arrays=arrays):
            leaves = [a.detach().requires_grad_() for a in arrays]
            f(*leaves).sum().backward()
            return leaves[0].grad

        with torch.no_grad():
            out += run_case(
                f"{op} {rows}x{dim}",
                {
                    "textbook eager": (lambda f=theirs: f(*few), lambda f=theirs: f(*arrays)),
                    "lorentz": (lambda f=ours: f(*few), lambda f=ours: f(*arrays)),
                },
                lambda got, want=want: rel_err(got, want),
                device,
            )
        out.append(
            {
                "work": f"{op} {rows}x{dim}",
                "implementation": "copy floor",
                "ms": per_byte * (in_bytes + out_bytes),
                "peak_gib": float("nan"),
                "max_rel_err": float("nan"),
            }
        )
        grad_want = step(ours, [a.double() for a in few])
        out += run_case(
            f"{op} {rows}x{dim} fwd+bwd",
            {
                "textbook eager": (lambda f=theirs: step(f, few), lambda f=theirs: step(f)),
                "lorentz": (lambda f=ours: step(f, few), lambda f=ours: step(f)),
            },
            lambda got, want=grad_want: rel_err(got, want),
            device,
        )
        out.append(
            {
                "work": f"{op} {rows}x{dim} fwd+bwd",
                "implementation": "copy floor",
                "ms": per_byte * (3 * in_bytes + 2 * out_bytes),
                "peak_gib": float("nan"),
                "max_rel_err": float("nan"),
            }
        )
    return out


def inputs(rows, dim, device, seed):
    g = torch.Generator(device=device).manual_seed(seed)
    return 0.3 * torch.randn(rows, dim, device=device, generator=g)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CPU interpreter)")
    parser.add_argument("--write", action="store_true", help="write the table into RESULTS.md")
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument(
        "--only",
        default="pairwise,allpairs_ops,precision,schemes,elementwise,expmap0,loss,loss_schemes",
        help="comma-separated sections to run (default: all)",
    )
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        parser.error("no GPU: run with TRITON_INTERPRET=1 and --smoke")
    dim = 16 if args.smoke else 512
    n_pair = 64 if args.smoke else 16384
    n_exp = 256 if args.smoke else 2_097_152
    batches = [48] if args.smoke else [32768, 131072]
    compiled_dist = torch.compile(meru_pairwise_dist)
    compiled_exp = torch.compile(meru_expmap0)
    compiled_loss = torch.compile(meru_style_loss)
    rows = []
    only = set(args.only.split(","))
    k = min(CHECK_ROWS, n_pair)

    if "pairwise" in only:
        # pairwise distance
        x, y = inputs(n_pair, dim, device, 0), inputs(n_pair, dim, device, 1)
        px, py = lorentz.from_space(x), lorentz.from_space(y)
        want = lorentz.pairwise_dist(px[:k].double(), py.double(), implementation="reference")
        with torch.no_grad():
            rows += run_case(
                f"pairwise_dist {n_pair}x{n_pair}",
                {
                    "eager": (
                        lambda: meru_pairwise_dist(x, y)[:k],
                        lambda: meru_pairwise_dist(x, y),
                    ),
                    "torch.compile": (lambda: compiled_dist(x, y)[:k], lambda: compiled_dist(x, y)),
                    "lorentz triton": (
                        lambda: lorentz.pairwise_dist(px, py, implementation="triton")[:k],
                        lambda: lorentz.pairwise_dist(px, py, implementation="triton"),
                    ),
                },
                lambda got: rel_err(got, want),
                device,
            )
        del x, y, px, py, want

    if "allpairs_ops" in only:
        # the squared Lorentzian distance and the all-pairs exterior angle: the textbook GEMM
        # forms (Law et al.'s -2/c - 2<x,y>_L; HyCoCLIP's oxy_angle_eval, in (N, M) order)
        # against the kernels and the reference's float64 GEMM; near copies of x among the
        # first rows of y, where the textbook forms fail. Angle errors in radians.
        x, y = inputs(n_pair, dim, device, 0), inputs(n_pair, dim, device, 1)
        y[:k] = x[:k] + 1e-3 * torch.randn(k, dim, device=device)
        px, py = lorentz.from_space(x), lorentz.from_space(y)
        ops = {
            "pairwise_sqdist": (textbook_sqdist, lambda got, want: rel_err(got, want)),
            "pairwise_exterior_angle": (
                textbook_angle,
                lambda got, want: float((got.double() - want).abs().max()),
            ),
        }
        with torch.no_grad():
            for op, (text, err) in ops.items():
                f = getattr(lorentz, op)
                want = f(px[:k].double(), py.double(), implementation="reference")
                rows += run_case(
                    f"{op} {n_pair}x{n_pair}",
                    {
                        "textbook": (lambda: text(px[:k], py), lambda: text(px, py)),
                        "lorentz triton": (
                            lambda: f(px[:k], py, implementation="triton"),
                            lambda: f(px, py, implementation="triton"),
                        ),
                        "lorentz reference": (
                            lambda: f(px[:k], py, implementation="reference"),
                            lambda: f(px, py, implementation="reference"),
                        ),
                    },
                    lambda got, want=want, err=err: err(got, want),
                    device,
                )
        del x, y, px, py, want

    if "precision" in only:
        # the pairwise precision question: half-precision inputs, and the reference on CUDA
        # (one float64 GEMM) that a learnable c or batched inputs take
        x, y = inputs(n_pair, dim, device, 0), inputs(n_pair, dim, device, 1)
        px, py = lorentz.from_space(x), lorentz.from_space(y)
        with torch.no_grad():
            for half in (torch.float16, torch.bfloat16):
                hx, hy = px.to(half), py.to(half)
                want = lorentz.pairwise_dist(
                    hx[:k].double(), hy.double(), implementation="reference"
                )
                rows += run_case(
                    f"pairwise_dist {n_pair}x{n_pair} {str(half)[6:]}",
                    {
                        "lorentz triton": (
                            lambda: lorentz.pairwise_dist(hx[:k], hy, implementation="triton"),
                            lambda: lorentz.pairwise_dist(hx, hy, implementation="triton"),
                        ),
                    },
                    lambda got: rel_err(got, want),
                    device,
                )
            want = lorentz.pairwise_dist(px[:k].double(), py.double(), implementation="reference")
            rows += run_case(
                f"pairwise_dist {n_pair}x{n_pair}",
                {
                    "lorentz reference": (
                        lambda: lorentz.pairwise_dist(px[:k], py, implementation="reference"),
                        lambda: lorentz.pairwise_dist(px, py, implementation="reference"),
                    ),
                },
                lambda got: rel_err(got, want),
                device,
            )
        del x, y, px, py, hx, hy, want

    if "schemes" in only:
        # every precision scheme of the all-pairs kernels on this card, forced by the switch
        # (lorentz._triton.precision; the rule's own pick is the "lorentz triton" row above),
        # beside the GEMM it replaces: float32 inputs by float64 and split, half inputs by half
        # and float64; knn of 4096 queries among all keys by the same schemes
        # per-pair relative error, with near copies of x among the first rows of y (moved by
        # 1e-5 ... 1e-1 relative): the pairs where a wrong bound or an inexact tensor-core sum
        # would show
        x, y = inputs(n_pair, dim, device, 0), inputs(n_pair, dim, device, 1)
        steps = torch.logspace(-5, -1, k, device=device)[:, None]
        y[:k] = x[:k] * (1 + steps * torch.randn(k, dim, device=device))
        px, py = lorentz.from_space(x), lorentz.from_space(y)

        def pair_err(got, want):
            return float(((got.double() - want).abs() / want.clamp_min(1e-300)).max())

        cases = [
            (torch.float32, "float64"),
            (torch.float32, "split"),
            (torch.bfloat16, "half"),
            (torch.float16, "half"),
            (torch.bfloat16, "float64"),
        ]
        n_q = min(4096, n_pair)
        with torch.no_grad():
            for dtype in (torch.float32, torch.bfloat16):
                a, b = x.to(dtype), y.to(dtype)
                rows += run_case(
                    f"GEMM alone {n_pair}x{n_pair}x{dim} {str(dtype)[6:]}",
                    {
                        "torch matmul": (lambda: (a[:k] @ b.T).float(), lambda: a @ b.T),
                    },
                    lambda got: 0.0,
                    device,
                )
            for dtype, scheme in cases:
                hx, hy = px.to(dtype), py.to(dtype)
                want = lorentz.pairwise_dist(
                    hx[:k].double(), hy.double(), implementation="reference"
                )
                want_knn = lorentz.knn(
                    hx[:k].double(), hy.double(), 10, implementation="reference"
                )[0]
                os.environ["LORENTZ_TRITON_PRECISION"] = scheme
                try:
                    rows += run_case(
                        f"pairwise_dist {n_pair}x{n_pair} {str(dtype)[6:]}",
                        {
                            f"triton {scheme}": (
                                lambda: lorentz.pairwise_dist(hx[:k], hy, implementation="triton"),
                                lambda: lorentz.pairwise_dist(hx, hy, implementation="triton"),
                            ),
                        },
                        lambda got: pair_err(got, want),
                        device,
                    )
                    rows += run_case(
                        f"knn k=10 {n_q} among {n_pair} {str(dtype)[6:]}",
                        {
                            f"triton {scheme}": (
                                lambda: lorentz.knn(hx[:k], hy, 10, implementation="triton")[0],
                                lambda: lorentz.knn(hx[:n_q], hy, 10, implementation="triton"),
                            ),
                        },
                        lambda got: pair_err(got, want_knn),
                        device,
                    )
                finally:
                    del os.environ["LORENTZ_TRITON_PRECISION"]
        del x, y, px, py, hx, hy, want, want_knn, a, b

    if "elementwise" in only:
        rows += elementwise(256 if args.smoke else 262_144, dim, device)

    if "expmap0" in only:
        # exponential map at the origin
        u = inputs(n_exp, dim, device, 2)
        ut = torch.cat([torch.zeros_like(u[:, :1]), u], 1)
        want = lorentz.expmap0(ut[:CHECK_ROWS].double(), implementation="reference")[:, 1:]
        with torch.no_grad():
            rows += run_case(
                f"expmap0 {n_exp}x{dim}",
                {
                    "eager": (lambda: meru_expmap0(u[:CHECK_ROWS]), lambda: meru_expmap0(u)),
                    "torch.compile": (
                        lambda: compiled_exp(u)[:CHECK_ROWS],
                        lambda: compiled_exp(u),
                    ),
                    "lorentz triton": (
                        lambda: lorentz.expmap0(ut[:CHECK_ROWS], implementation="triton")[:, 1:],
                        lambda: lorentz.expmap0(ut, implementation="triton"),
                    ),
                },
                lambda got: rel_err(got, want),
                device,
            )
        del u, ut, want

    # MERU's loss, forward and backward; checked on the first CHECK_ROWS image-caption pairs
    def step(loss_fn, image, text):
        image.grad = text.grad = None
        loss = loss_fn(image, text)
        loss.backward()
        return torch.cat([loss.detach().reshape(1), image.grad.reshape(-1), text.grad.reshape(-1)])

    def ours(image, text):
        return meru_loss(image, text, curv=CURV, logit_scale=SCALE, implementation="triton")["loss"]

    def reference(image, text):
        return meru_loss(image, text, curv=CURV, logit_scale=SCALE, implementation="reference")[
            "loss"
        ]

    if "loss" in only:
        for b in batches:
            image = inputs(b, dim, device, 3).requires_grad_()
            text = inputs(b, dim, device, 4).requires_grad_()
            k = min(CHECK_ROWS, b)
            few = [a[:k].detach().clone().requires_grad_() for a in (image, text)]
            want = step(reference, *[a.detach().double().requires_grad_() for a in few])
            impls = {
                "eager": meru_style_loss,
                "torch.compile": compiled_loss,
                "lorentz triton": ours,
            }
            if b > 32768:  # eager and compiled torch keep B x B matrices: only ours runs
                impls = {"lorentz triton": ours}
            fns = {
                label: (lambda f=f: step(f, *few), lambda f=f: step(f, image, text))
                for label, f in impls.items()
            }
            rows += run_case(
                f"meru_loss fwd+bwd B={b}", fns, lambda got: rel_err(got, want), device
            )
            del image, text

    if "loss_schemes" in only:
        # MERU's loss forward and backward by each precision scheme, forced by
        # implementation="triton:<scheme>" (float32 by float64 and split, half inputs by half),
        # and the reference on CUDA under the rule (LORENTZ_TRITON_PRECISION forces its
        # scheme there); checked on the first CHECK_ROWS pairs against float64 of the rounded
        # inputs (the gradients come back in the inputs' dtype)
        cases = [
            (torch.float32, "float64"),
            (torch.float32, "split"),
            (torch.bfloat16, "half"),
            (torch.float16, "half"),
        ]
        for b in batches[:1]:
            for dtype, scheme in cases:
                image = inputs(b, dim, device, 3).to(dtype).requires_grad_()
                text = inputs(b, dim, device, 4).to(dtype).requires_grad_()
                k = min(CHECK_ROWS, b)
                few = [a[:k].detach().clone().requires_grad_() for a in (image, text)]
                want = step(reference, *[a.detach().double().requires_grad_() for a in few])

                def forced(i, t, scheme=scheme):
                    return meru_loss(
                        i, t, curv=CURV, logit_scale=SCALE, implementation=f"triton:{scheme}"
                    )["loss"]

                fns = {
                    f"triton:{scheme}": (
                        lambda: step(forced, *few),
                        lambda: step(forced, image, text),
                    )
                }
                os.environ["LORENTZ_TRITON_PRECISION"] = scheme
                try:
                    fns[f"reference ({scheme})"] = (
                        lambda: step(reference, *few),
                        lambda: step(reference, image, text),
                    )
                    rows += run_case(
                        f"meru_loss fwd+bwd B={b} {str(dtype)[6:]}",
                        fns,
                        lambda got: rel_err(got, want),
                        device,
                    )
                finally:
                    del os.environ["LORENTZ_TRITON_PRECISION"]
                del image, text

    card = (
        torch.cuda.get_device_name()
        if device == "cuda"
        else platform.processor() or "CPU (interpreter)"
    )
    import triton

    header = (
        f"{card}; torch {torch.__version__}, triton {triton.__version__}, "
        f"{time.strftime('%Y-%m-%d')}; float32, {dim} dims, N(0, 0.3^2) space components"
    )
    table = [
        "| work | implementation | ms | peak GiB | max rel err vs float64 |",
        "|---|---|---|---|---|",
    ]
    table += [
        f"| {r['work']} | {r['implementation']} | {r['ms']:.3f} | {r['peak_gib']:.3f} | {r['max_rel_err']:.1e} |"
        for r in rows
    ]
    print(header)
    print("\n".join(table))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": header, "rows": rows}, f, indent=1)
    if args.write:
        write_section(
            "gpu", "## GPU kernels (benchmarks/gpu.py)\n\n" + header + "\n\n" + "\n".join(table)
        )


if __name__ == "__main__":
    main()
