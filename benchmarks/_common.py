"""Shared by the benchmark scripts: median timing, and writing a table into its own section
of benchmarks/RESULTS.md."""

from __future__ import annotations

import pathlib
import re
import statistics
import time

RESULTS = pathlib.Path(__file__).with_name("RESULTS.md")


def write_section(name: str, text: str, path: pathlib.Path = RESULTS) -> None:
    """Replace (or append) the block between ``<!-- name -->`` and ``<!-- /name -->``."""
    block = f"<!-- {name} -->\n{text.strip()}\n<!-- /{name} -->"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    new = (
        pattern.sub(lambda _: block, old)
        if pattern.search(old)
        else old.rstrip() + "\n\n" + block + "\n"
    )
    path.write_text(new)


def median_time(f, repeat=5) -> float:
    """Median wall time of ``f()`` after one warm-up call (compilation, caches, thread pools)."""
    f()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
