"""``python -m lorentz demo``: embed the WordNet mammal hierarchy (or all nouns) and
reconstruct it, in the Lorentz model and in Euclidean space, beside the published numbers.

Needs the ``demo`` extra (geoopt, torch, matplotlib, tqdm).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
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


def parse(argv):
    p = argparse.ArgumentParser(prog="python -m lorentz demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", choices=sorted(wordnet.FILES), default="mammals")
    p.add_argument("--dim", type=int, nargs="+", help="dimensions to embed in (default: 2 5 10 for mammals, 10 for nouns)")
    p.add_argument("--epochs", type=int, help=f"default {EPOCHS} by dataset, {QUICK_EPOCHS} with --quick")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="folder for the JSON and PNG")
    p.add_argument("--quick", action="store_true", help="a short run (for CI): fewer epochs")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="trainings run side by side in this many processes (default: 2, or 1 core)")
    return p.parse_args(argv)


def _run(job):
    """Train one (geometry, dim) and reconstruct; a worker process runs this (one torch thread
    each: the small tensors here gain 1.14x from a second thread, a second job gains 2x)."""
    import torch
    from tqdm.auto import tqdm

    from .embedding import Settings, train
    from .reconstruction import mean_rank_and_map

    dataset, geometry, dim, epochs, seed, threads, slot = job
    if threads:
        torch.set_num_threads(threads)
    names, edges = wordnet.load(dataset)
    start = time.perf_counter()
    progress = partial(tqdm, position=slot)
    settings = Settings(dim=dim, epochs=epochs, seed=seed, sparse=SPARSE[dataset])
    model = train(edges, len(names), geometry, settings, progress)
    seconds = time.perf_counter() - start
    mr, map_ = mean_rank_and_map(model.distances_from, edges, len(names), progress=progress)
    tqdm.write(f"{geometry:>9} d={dim:<3} MR {mr:7.3f}  MAP {map_:.4f}  ({seconds:.0f} s)")
    points = model.points.detach().numpy() if (geometry, dim) == ("lorentz", 2) else None
    return dict(geometry=geometry, dim=dim, MR=mr, MAP=map_, train_seconds=seconds), points


def main(argv=None) -> int:
    from tqdm.auto import tqdm

    from .embedding import Settings
    from .figure import poincare_figure

    args = parse(argv)
    epochs = args.epochs or (QUICK_EPOCHS if args.quick else EPOCHS[args.dataset])
    args.dim = args.dim or ([2, 5, 10] if args.dataset == "mammals" else [10])
    names, edges = wordnet.load(args.dataset)
    n = len(names)
    print(f"WordNet {args.dataset}: {n:,} nouns, {len(edges):,} closure pairs; {epochs} epochs, seed {args.seed}")
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(geometry, dim) for dim in args.dim for geometry in ("lorentz", "euclidean")]
    workers = max(1, min(args.workers, len(jobs)))
    threads = 1 if workers > 1 else 0  # 0: as torch is set
    # costliest first (Lorentz, high dimension) so the workers finish together
    order = sorted(range(len(jobs)), key=lambda i: (jobs[i][0] != "lorentz", -jobs[i][1]))
    work = [(args.dataset, *jobs[i], epochs, args.seed, threads, k % workers) for k, i in enumerate(order)]
    if workers == 1:
        done = [_run(job) for job in work]
    else:  # spawned, not forked: a forked torch can hang on its thread pool
        context = multiprocessing.get_context("spawn")
        lock = context.RLock()  # one lock for every process's progress bar
        tqdm.set_lock(lock)
        with ProcessPoolExecutor(workers, mp_context=context, initializer=tqdm.set_lock,
                                 initargs=(lock,)) as pool:
            done = list(pool.map(_run, work))
    by_job = dict(zip(order, done))
    results = [by_job[i][0] for i in range(len(jobs))]
    for i, (geometry, dim) in enumerate(jobs):
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
    print(f"\nwrote {args.out / (args.dataset + '_metrics.json')}" + (f" and {args.dataset}_2d.png" if 2 in args.dim else ""))
    return 0
