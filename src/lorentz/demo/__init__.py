"""``python -m lorentz demo``: embed the WordNet mammal hierarchy (or all nouns) and
reconstruct it, in the Lorentz model and in Euclidean space, beside the published numbers.

Needs the ``demo`` extra (geoopt, torch, matplotlib, tqdm).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict
from functools import partial
from pathlib import Path

from .. import wordnet

# (model, dim, MR, MAP, source): the published reconstruction numbers
PUBLISHED = {
    "mammals": [("Poincare", 5, 1.26, 0.927, "Nickel & Kiela 2017, Fig. 2")],
    "nouns": [
        ("Poincare", 10, 4.02, 0.865, "Nickel & Kiela 2018, Table 2"),
        ("Lorentz", 10, 2.95, 0.928, "Nickel & Kiela 2018, Table 2"),
    ],
}
EPOCHS = {"mammals": 800, "nouns": 20}
SPARSE = {"mammals": False, "nouns": True}  # row-wise updates: see embedding.Settings.sparse
QUICK_EPOCHS = 100
INTERRUPTED = 130  # the shell's code for a process ended by SIGINT (128 + 2)


def _at_least_one(text: str) -> int:
    """An argparse type: an integer >= 1 (0 or a negative count is a mistake, never a default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m lorentz demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=sorted(wordnet.FILES), default="mammals")
    p.add_argument(
        "--dim",
        type=_at_least_one,
        nargs="+",
        help="dimensions to embed in, each at least 1 (default: 2 5 10 for mammals, 10 for nouns)",
    )
    p.add_argument(
        "--epochs",
        type=_at_least_one,
        help=f"training epochs, at least 1 (default {EPOCHS} by dataset, {QUICK_EPOCHS} with --quick)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out",
        type=Path,
        default=Path("demo-out"),
        help="folder for the JSON and PNG (created if missing)",
    )
    p.add_argument("--quick", action="store_true", help="a short run (for CI): fewer epochs")
    p.add_argument(
        "--workers",
        type=_at_least_one,
        default=min(2, os.cpu_count() or 1),
        help="trainings run side by side in this many processes (default: 2, or 1 core)",
    )
    args = p.parse_args(argv)
    _check_out(p, args.out)
    return args


def _check_out(p: argparse.ArgumentParser, out: Path) -> None:
    """The output folder exists (or is made) and takes files, before any training: a bad
    --out found after an hour of training would lose it."""
    if out.exists() and not out.is_dir():
        p.error(f"argument --out: {out} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as e:
        p.error(f"argument --out: cannot write into {out}: {e.strerror or e}")


def _quiet(iterable, **_):
    return iterable


def _result_line(r: dict) -> str:
    return f"{r['geometry']:>9} d={r['dim']:<3} MR {r['MR']:7.3f}  MAP {r['MAP']:.4f}  ({r['train_seconds']:.0f} s)"


def _run(job):
    """Train one (geometry, dim) and reconstruct; a worker process runs this (one torch thread
    each: the small tensors here gain 1.14x from a second thread, a second job gains 2x).
    With ``bars`` each job draws its progress bars at its own line (``slot``) and writes its
    result line itself, between the bars; without, the caller prints the result."""
    import torch
    from tqdm.auto import tqdm

    from .embedding import Settings, train
    from .reconstruction import mean_rank_and_map

    dataset, geometry, dim, epochs, seed, threads, slot, bars = job
    if threads:
        torch.set_num_threads(threads)
    names, edges = wordnet.load(dataset)
    start = time.perf_counter()
    progress = partial(tqdm, position=slot) if bars else _quiet
    settings = Settings(dim=dim, epochs=epochs, seed=seed, sparse=SPARSE[dataset])
    model = train(edges, len(names), geometry, settings, progress)
    seconds = time.perf_counter() - start
    mr, map_ = mean_rank_and_map(model.distances_from, edges, len(names), progress=progress)
    result = dict(geometry=geometry, dim=dim, MR=mr, MAP=map_, train_seconds=seconds)
    if bars:
        tqdm.write(_result_line(result))
    points = model.points.detach().numpy() if (geometry, dim) == ("lorentz", 2) else None
    return result, points


def _worker_init(lock) -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides what stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from tqdm.auto import tqdm

    tqdm.set_lock(lock)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored while worker processes are spawned: they inherit it, so a Ctrl-C while
    one is still starting (before its initializer runs) cannot interrupt it with a traceback."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued jobs and end the running ones now, reaping every worker."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    if hasattr(pool, "terminate_workers"):  # Python 3.14
        pool.terminate_workers()
    else:  # earlier: the processes the pool holds (it has no public handle on them)
        for p in processes:
            p.terminate()
    for p in processes:
        p.join(timeout=5)
        if p.is_alive():
            p.kill()
            p.join()


def _run_parallel(work, workers: int, bars: bool) -> list:
    """The jobs' results in the order of ``work``, ``workers`` at a time in spawned processes
    (not forked: a forked torch can hang on its thread pool). On Ctrl-C (or any error) the
    queued jobs are cancelled and the workers terminated before it propagates."""
    from tqdm.auto import tqdm

    context = multiprocessing.get_context("spawn")
    lock = context.RLock()  # one lock for every process's progress bar
    tqdm.set_lock(lock)
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(lock,)
    )
    try:
        with _sigint_ignored():  # the workers are spawned by submit
            futures = {pool.submit(_run, job): k for k, job in enumerate(work)}
        done: list = [None] * len(work)
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                done[futures[f]] = f.result()
                if not bars:  # one line per finished job, from this process only
                    print(_result_line(done[futures[f]][0]), flush=True)
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown()
    return done


def main(argv=None) -> int:
    """Exit codes: 0 done, 2 bad arguments (argparse), 130 interrupted (Ctrl-C)."""
    args = parse(argv)
    try:
        return _main(args)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED


def _main(args) -> int:
    from .embedding import Settings
    from .figure import poincare_figure

    epochs = (
        args.epochs
        if args.epochs is not None
        else (QUICK_EPOCHS if args.quick else EPOCHS[args.dataset])
    )
    args.dim = args.dim or ([2, 5, 10] if args.dataset == "mammals" else [10])
    names, edges = wordnet.load(args.dataset)
    n = len(names)
    print(
        f"WordNet {args.dataset}: {n:,} nouns, {len(edges):,} closure pairs; {epochs} epochs, seed {args.seed}",
        flush=True,
    )
    jobs = [(geometry, dim) for dim in args.dim for geometry in ("lorentz", "euclidean")]
    workers = min(args.workers, len(jobs))
    threads = 1 if workers > 1 else 0  # 0: as torch is set
    # bars only on a terminal (tqdm draws on stderr): in a log or a file, bars of several
    # workers interleave into unreadable output, so each finished job prints one line instead
    bars = sys.stderr.isatty()
    # costliest first (Lorentz, high dimension) so the workers finish together
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i][0] != "lorentz", -jobs[i][1]))
    work = [
        (args.dataset, *jobs[i], epochs, args.seed, threads, k % workers, bars)
        for k, i in enumerate(order)
    ]
    if workers == 1:
        done = []
        for job in work:
            done.append(_run(job))
            if not bars:
                print(_result_line(done[-1][0]), flush=True)
    else:
        done = _run_parallel(work, workers, bars)
    by_job = dict(zip(order, done))
    results = [by_job[i][0] for i in range(len(jobs))]
    for i in range(len(jobs)):
        if by_job[i][1] is not None:
            png = args.out / f"{args.dataset}_2d.png"
            poincare_figure(by_job[i][1], names, edges, png,
                            title=f"WordNet {args.dataset}, Lorentz model, d = 2 (Poincare disk)")  # fmt: skip

    print(f"\n{'model':<26}{'d':>4}{'MR':>9}{'MAP':>8}")
    for r in results:
        print(f"{r['geometry'] + ' (this run)':<26}{r['dim']:>4}{r['MR']:>9.3f}{r['MAP']:>8.4f}")
    for model, dim, mr, map_, source in PUBLISHED[args.dataset]:
        print(f"{model + ' (published)':<26}{dim:>4}{mr:>9.2f}{map_:>8.3f}   {source}")
    report = dict(
        dataset=args.dataset, nouns=n, pairs=len(edges), seed=args.seed,
        settings={k: v for k, v in asdict(Settings(epochs=epochs, seed=args.seed, sparse=SPARSE[args.dataset])).items() if k != "dim"},
        results=results,
        published=[dict(zip(("model", "dim", "MR", "MAP", "source"), p)) for p in PUBLISHED[args.dataset]],
    )  # fmt: skip
    (args.out / f"{args.dataset}_metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\nwrote {args.out / (args.dataset + '_metrics.json')}"
        + (f" and {args.dataset}_2d.png" if 2 in args.dim else "")
    )
    return 0
