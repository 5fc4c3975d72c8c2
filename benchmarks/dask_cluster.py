"""The core on a dataset larger than each worker's memory: dask.distributed LocalCluster.

    python benchmarks/dask_cluster.py [--rows 20000000] [--limit-mib 600] [--write]

float64 points with 15 space dimensions, generated inside the workers in chunks of 200,000
rows, mapped through logmap0 and dist0 and reduced; prints wall time, throughput and every
worker's peak resident memory against its limit.
"""

from __future__ import annotations

import argparse
import platform
import time

import dask.array as da
import distributed
from _common import write_section

import lorentz


def peak_rss_mib() -> float:
    """Peak resident memory of this process since it started (Linux VmHWM; getrusage's
    ru_maxrss would carry over the peak of the process the worker was forked from)."""
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmHWM:")).split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--limit-mib", type=int, default=600)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    dim, chunk = 15, 200_000
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, memory_limit=args.limit_mib * 2**20, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        space = da.random.default_rng(0).standard_normal((args.rows, dim), chunks=(chunk, dim))
        points = lorentz.from_space(3.0 * space)
        norms = da.linalg.norm(lorentz.logmap0(points)[:, 1:], axis=1)
        start = time.perf_counter()
        total_norm, total_dist = client.compute(
            [norms.sum(), lorentz.dist0(points).sum()], sync=True
        )
        seconds = time.perf_counter() - start
        peaks = sorted(client.run(peak_rss_mib).values())
    text = (
        f"`python benchmarks/dask_cluster.py --rows {args.rows}`: {points.nbytes / 2**30:.2f} GiB of "
        f"float64 points ({args.rows:,} x {dim + 1}) through logmap0 and dist0 on a LocalCluster of "
        f"2 worker processes (1 thread each, {args.limit_mib} MiB limit each), {platform.machine()}: "
        f"{seconds:.1f} s ({args.rows / seconds / 1e6:.2f} M points/s); peak worker memory "
        f"{', '.join(f'{p:.0f}' for p in peaks)} MiB; mean distance {total_dist / args.rows:.6f}, "
        f"mean |log_0 x| {total_norm / args.rows:.6f}."
    )
    print(text)
    if args.write:
        write_section("dask", "## dask LocalCluster\n\n" + text)


if __name__ == "__main__":
    main()
