"""Reconstruction of a graph from an embedding: mean rank and mean average precision.

As Nickel & Kiela evaluate it: for every noun u with hypernyms, all other nouns are sorted by
distance from u; a hypernym's rank is 1 + the number of non-hypernyms nearer than it (the
other hypernyms are not counted against it), MR is the mean over all (u, hypernym) pairs, and
MAP the mean over u of the average precision of that ordering. Ties count as not nearer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def mean_rank_and_map(
    distances: Callable[[np.ndarray], np.ndarray],
    edges: np.ndarray,
    n: int,
    *,
    block: int = 256,
    progress: Callable = lambda it, **_: it,
) -> tuple[float, float]:
    """(MR, MAP). ``distances(rows)`` gives the (len(rows), n) distances from those nouns to
    every noun; only the order matters, so any monotone function of the distance does."""
    order = np.argsort(edges[:, 0], kind="stable")
    src, dst = edges[order, 0], edges[order, 1]
    nouns, starts = np.unique(src, return_index=True)
    bounds = np.append(starts, len(src))
    rank_sum, ap_sum = 0.0, 0.0
    for lo in progress(range(0, len(nouns), block), desc="reconstruction", leave=False):
        rows = nouns[lo : lo + block]
        d = np.array(distances(rows), dtype=np.float64)
        for r, u in enumerate(rows):
            row = d[r]
            row[u] = np.inf  # u itself is never a candidate
            hyper = np.sort(row[dst[bounds[lo + r] : bounds[lo + r + 1]]])
            # nearer[j]: nouns strictly nearer than the j-th nearest hypernym, from where each
            # noun falls among the hypernyms (no sort of the whole row: O(n log h), not n log n)
            falls = np.searchsorted(hyper, row, side="right")
            nearer = np.cumsum(np.bincount(falls, minlength=len(hyper) + 1))[: len(hyper)]
            before = np.searchsorted(hyper, hyper, side="left")  # hypernyms strictly nearer
            rank_sum += float(np.sum(nearer - before + 1))
            ap_sum += float(np.mean((before + 1) / (nearer + 1)))
    return rank_sum / len(src), ap_sum / len(nouns)
