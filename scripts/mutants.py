"""Mutation testing: plant one realistic bug at a time in a copy of the library and run the tests
that exist for that code; a mutant the tests miss ("survived") is a gap in the suite.

    python scripts/mutants.py [--only NAME ...] [--write]

Each mutant is one textual change (the text must occur exactly once in its file) with the test
selection that should catch it. The run copies src/, tests/ and pyproject.toml to a temporary
folder per mutant, so the working tree is never touched. Slow (about half a minute a mutant on
2 cores, numba compiles included): it is not part of CI. ``--write`` puts the table into
docs/testing.md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from _common import write_section


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # under src/lorentz
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments


REF = ("tests/test_accuracy.py", "tests/test_nan.py")
ALLPAIRS = ("tests/test_allpairs.py",)
NUMBA = (
    "tests/test_numba.py",
    "tests/test_validation.py",
    "tests/test_dispatch.py",
    "tests/test_nan.py",
)

MUTANTS = [
    # the reference formulas
    Mutant(
        "cosh_minus_one: wedge term without c",
        "_reference.py",
        "(sq(diff, xp=xp) + c * nb * sq(d_perp, xp=xp))",
        "(sq(diff, xp=xp) + nb * sq(d_perp, xp=xp))",
        REF,
    ),
    Mutant(
        "cosh_minus_one: sign of xs.ys on opposite sides",
        "_reference.py",
        "a * ny / (y0 + a) - xy)",
        "a * ny / (y0 + a) + xy)",
        REF,
    ),
    Mutant(
        "distance: acosh(1+u) halved",
        "_reference.py",
        "return 2.0 * xp.asinh(sqrt0(u / 2.0, xp=xp))",
        "return xp.asinh(sqrt0(u / 2.0, xp=xp))",
        REF,
    ),
    Mutant(
        "dist0: divided by c, not sqrt(c)",
        "_reference.py",
        "return xp.asinh(s * norm0(x[..., 1:], xp=xp)) / s",
        "return xp.asinh(s * norm0(x[..., 1:], xp=xp)) / (s * s)",
        REF,
    ),
    Mutant(
        "expmap0: sqrt(c) dropped",
        "_reference.py",
        "t = _sqrt(c, xp=xp) * norm0(us, xp=xp)",
        "t = norm0(us, xp=xp)",
        REF,
    ),
    Mutant(
        "logmap0: sqrt(c) dropped",
        "_reference.py",
        "asinhc(_sqrt(c, xp=xp) * norm0(ys, xp=xp), xp=xp)",
        "asinhc(norm0(ys, xp=xp), xp=xp)",
        REF,
    ),
    Mutant(
        "transport: 1 + u for 2 + u",
        "_reference.py",
        "k = c * yv / (2.0 + u)",
        "k = c * yv / (1.0 + u)",
        REF,
    ),
    Mutant(
        "half_aperture: K for 2K", "_reference.py", "k2 = 2.0 * min_radius", "k2 = min_radius", REF
    ),
    Mutant(
        "exterior_angle: radial term dropped",
        "_reference.py",
        "return atan2_0(sine, along - u * nx, xp=xp)",
        "return atan2_0(sine, along, xp=xp)",
        REF,
    ),
    Mutant(
        "to_poincare: sqrt(c) dropped",
        "_reference.py",
        "xs / (1.0 + _sqrt(c, xp=xp) * time(xs, c, xp=xp))",
        "xs / (1.0 + time(xs, c, xp=xp))",
        REF,
    ),
    Mutant("sqrt0: NaN mapped to 0", "_guarded.py", "xp.where(q == q, 0.0, q))", "0.0)", REF),
    Mutant(
        "sinhc: value 0 at t = 0",
        "_guarded.py",
        "return xp.where(nz, sinh(safe, xp=xp) / safe, 1.0)",
        "return xp.where(nz, sinh(safe, xp=xp) / safe, 0.0)",
        REF,
    ),
    # the all-pairs reference
    Mutant(
        "all-pairs: recompute skipped",
        "_allpairs.py",
        "    return recompute(out, cand, xs, right.s, c, xp=xp, distance=out_dtype is not None)",
        "    return out",
        ALLPAIRS,
    ),
    Mutant(
        "all-pairs: threshold without c",
        "_allpairs.py",
        "* (c * x0) * ymax",
        "* x0 * ymax",
        ALLPAIRS,
    ),
    Mutant(
        "all-pairs: flagged pairs' gradient along D only",
        "_allpairs.py",
        "(c * w) * (diff - xg * dot / (den * x0g))",
        "(c * w) * diff",
        ALLPAIRS,
    ),
    Mutant(
        "all-pairs: column log-sum-exp not rescaled",
        "_allpairs.py",
        "col_sum = col_sum * xp.exp(col_max - new_max) +",
        "col_sum = col_sum +",
        ALLPAIRS,
    ),
    Mutant(
        "all-pairs: knn tile offset lost",
        "_allpairs.py",
        "            idx = idx + col\n",
        "            idx = idx\n",
        ALLPAIRS,
    ),
    # numba
    Mutant(
        "numba: GEMM bound without c",
        "_numba/kernels.py",
        "    slack = (xs.shape[1] + 4) * EPS64 * c\n",
        "    slack = (xs.shape[1] + 4) * EPS64\n",
        NUMBA,
    ),
    Mutant(
        "numba: knn query-block offset lost",
        "_numba/kernels.py",
        "    slack = (qs.shape[1] + 4) * EPS64 * c\n    r = row0 + i",
        "    slack = (qs.shape[1] + 4) * EPS64 * c\n    r = i",
        NUMBA,
    ),
    Mutant(
        "numba: expmap0 x0 from k s, not k^2 s",
        "_numba/kernels.py",
        "math.sqrt(1.0 / c + k * k * s)",
        "math.sqrt(1.0 / c + k * s)",
        NUMBA,
    ),
    Mutant(
        "numba: float32 log of w, not 1 + w",
        "_numba/kernels.py",
        "math.log(np.float32(1.0 + w))",
        "math.log(np.float32(w))",
        NUMBA,
    ),
    Mutant(
        "numba: expmap0 host writes into the input",
        "_numba/ops.py",
        "K.expmap0_rows(flat, c, out, flat.size < SERIAL_WORK)\n    return out.reshape(u.shape)",
        "K.expmap0_rows(flat, c, flat, flat.size < SERIAL_WORK)\n    return flat.reshape(u.shape)",
        NUMBA,
    ),
    Mutant(
        "numba: NaN enters knn",
        "_numba/kernels.py",
        "if u >= best_u[r, k - 1] or u != u:",
        "if u >= best_u[r, k - 1]:",
        NUMBA,
    ),
    # dispatch and validation
    Mutant(
        "dispatch: implementation='numba' runs the reference",
        "_registry.py",
        'cannot run here: {missing}")\n        return implementation',
        'cannot run here: {missing}")\n        return "reference"',
        ("tests/test_dispatch.py", "tests/test_numba.py"),
    ),
    Mutant(
        "validation: infinite c accepted",
        "_arguments.py",
        "if not (math.isfinite(c) and c > 0):",
        "if not (c > 0):",
        ("tests/test_validation.py",),
    ),
    Mutant(
        "validation: integer arrays accepted",
        "_arguments.py",
        '    if not xp.isdtype(a.dtype, "real floating"):',
        "    if False:",
        ("tests/test_validation.py",),
    ),
    # MERU's loss
    Mutant(
        "meru_loss: entailment weight dropped",
        "meru/_loss.py",
        '"loss": contrastive + entail_weight * entailment,',
        '"loss": contrastive + entailment,',
        ("tests/test_meru.py", "tests/test_allpairs.py"),
    ),
    Mutant(
        "meru_loss: second direction's positives from the first",
        "meru/_loss.py",
        "xp.mean(back - pos_back))",
        "xp.mean(back - pos))",
        ("tests/test_meru.py", "tests/test_allpairs.py"),
    ),
    Mutant(
        "meru_loss: cone of the image, not the caption",
        "meru/_loss.py",
        "entailment = _entailment(caption, pi, eta_inter, curv, xp)",
        "entailment = _entailment(pi, caption, eta_inter, curv, xp)",
        ("tests/test_meru.py",),
    ),
    # geoopt
    Mutant(
        "geoopt: learnable c read as k",
        "geoopt.py",
        "return 1.0 / self.k if self._c is None else self._c",
        "return self.k if self._c is None else self._c",
        ("tests/test_geoopt.py",),
    ),
    Mutant(
        "geoopt: transp without proju",
        "geoopt.py",
        "return lorentz.transport(x, y, self.proju(x, v), c=self.c)",
        "return lorentz.transport(x, y, v, c=self.c)",
        ("tests/test_geoopt.py",),
    ),
    # Triton (interpreter) and dask
    Mutant(
        "triton: recompute tolerance 5e-1",
        "_triton/ops.py",
        "TOL = 5e-7",
        "TOL = 5e-1",
        ("tests/test_triton.py", "-k", "pairwise_dist or knn"),
    ),
    Mutant(
        "dask: knn block offset lost",
        "_dask.py",
        "return d, i + offset",
        "return d, i",
        ("tests/test_dask.py",),
    ),
]


def run(m: Mutant) -> tuple[bool, float]:
    """(killed, seconds): the mutant's tests fail (killed) or pass (survived)."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc")
        shutil.copytree(ROOT / "src", tmp / "src", ignore=ignore)
        shutil.copytree(ROOT / "tests", tmp / "tests", ignore=ignore)
        shutil.copy(ROOT / "pyproject.toml", tmp)
        target = tmp / "src" / "lorentz" / m.path
        text = target.read_text()
        if text.count(m.old) != 1:
            raise SystemExit(
                f"{m.name}: the text to mutate occurs {text.count(m.old)} times in {m.path}"
            )
        target.write_text(text.replace(m.old, m.new))
        env = dict(os.environ, PYTHONPATH=str(tmp / "src"), LORENTZ_EXAMPLES="50")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        return proc.returncode != 0, time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="run the mutants whose names contain these words")
    ap.add_argument("--write", action="store_true", help="write the table into docs/testing.md")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if not args.only or any(w in m.name for w in args.only)]
    rows, killed = [], 0
    for m in chosen:
        dead, seconds = run(m)
        killed += dead
        rows.append(
            f"| {m.name} | `{m.path}` | {'killed' if dead else '**survived**'} | {seconds:.0f} s |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(["| mutant | file | result | time |", "|---|---|---|---|", *rows])
    summary = f"{killed} of {len(chosen)} mutants killed ({100 * killed / len(chosen):.0f}%)."
    print(summary)
    if args.write:
        write_section(
            "mutants",
            f"`python scripts/mutants.py --write`: {summary}\n\n{table}",
            ROOT / "docs" / "testing.md",
        )


if __name__ == "__main__":
    main()
