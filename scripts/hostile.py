"""The hostile-input classification of tests/test_hostile.py over a larger sample, with counts.

Every public function (``lorentz.__all__`` and MERU's functions) is called with one hostile
argument at a time (non-finite, huge, tiny and subnormal components and curvatures, points off
the sheet, masked arrays, lists, ints, strings, wrong shapes, arrays of another library, bad
flags and counts) on numpy, torch, jax and array-api-strict and every implementation that can
express the call; each call ends in a named error, a correct result, a silent wrong answer or
a crash (tests/hostile_cases.py). The sample is hypothesis's, derandomized: the same counts
on every run of the same code.

    python scripts/hostile.py                 # 200 cases per function
    python scripts/hostile.py --examples 50 --show   # and every failure, one line each
    python scripts/hostile.py --write         # the counts into docs/testing.md
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src")]

import test_hostile as T
from hypothesis import HealthCheck, given, settings

from lorentz.testing import _hostile_cases as H

BEGIN, END = "<!-- hostile -->", "<!-- /hostile -->"


def label(o: H.Outcome) -> str:
    """Which known problem a failure is (a KNOWN entry), if any."""
    for name, known in T.KNOWN.items():
        if known.matches(o):
            return name
    return "unexpected"


def sampler(name, examples, op_counts, counts, by_label, failures):
    """The derandomized hypothesis run over one function's cases, tallying every call."""

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(H.cases(H.OPS[name]))
    def sample(case):
        for o in H.run(case):
            counts[o.kind] += 1
            op_counts[o.kind] += 1
            if o.kind in H.FAILURES:
                by_label[(label(o), o.kind)] += 1
                failures.append(o)

    return sample


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=200, help="cases per function (default 200)")
    p.add_argument("--only", nargs="+", choices=sorted(H.OPS), help="these functions only")
    p.add_argument("--show", action="store_true", help="print every failing call")
    p.add_argument("--write", action="store_true", help="write the counts into docs/testing.md")
    args = p.parse_args(argv)
    if args.examples < 1:
        p.error("--examples must be at least 1")
    if args.write and args.only:
        p.error("--write records the counts over every function: not with --only")
    warnings.simplefilter("ignore")  # numpy's warnings on hostile input: results are judged
    counts = collections.Counter()
    by_label = collections.Counter()
    per_op = {}
    failures = []
    start = time.perf_counter()
    for name in args.only or list(H.OPS):
        per_op[name] = collections.Counter()
        sampler(name, args.examples, per_op[name], counts, by_label, failures)()
        if "jax" in sys.modules:  # each compiled shape holds memory maps: 65,530 per process
            sys.modules["jax"].clear_caches()
    seconds = time.perf_counter() - start
    tried = sum(counts.values())
    lines = [
        (
            f"`python scripts/hostile.py --examples {args.examples}`: {tried:,} calls "
            f"({args.examples} cases per function, every backend and implementation that can "
            f"express each), {seconds:.0f} s."
        ),
        "",
        "| tried | named errors | correct results | silent wrong answers | crashes |",
        "|---|---|---|---|---|",
        (
            f"| {tried:,} | {counts['named']:,} | {counts['correct']:,} | {counts['wrong']:,} "
            f"| {counts['crash']:,} |"
        ),
    ]
    if by_label:
        lines += ["", "| failures by cause | silent wrong | crash |", "|---|---|---|"]
        for cause in sorted({c for c, _ in by_label}):
            lines.append(
                f"| {cause} | {by_label[(cause, 'wrong')]:,} | {by_label[(cause, 'crash')]:,} |"
            )
    print("\n".join(lines))
    print(f"\n{'function':<22}" + "".join(f"{k:>9}" for k in H.OUTCOMES))
    for name, c in per_op.items():
        print(f"{name:<22}" + "".join(f"{c[k]:>9}" for k in H.OUTCOMES))
    if args.show:
        print()
        for o in failures:
            print(f"[{label(o)}] " + re.sub(r"\s+", " ", repr(o))[:400])
    if args.write:
        doc = ROOT / "docs" / "testing.md"
        text = doc.read_text()
        block = f"{BEGIN}\n" + "\n".join(lines) + f"\n{END}"
        if BEGIN not in text:
            raise SystemExit(f"{doc} has no {BEGIN} ... {END} block to fill")
        text = re.sub(
            re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL
        )
        doc.write_text(text)
        print(f"\nwrote {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
