"""Reconstruction of a graph from an embedding: mean rank and mean average precision.

As Nickel & Kiela evaluate it: for every noun u with hypernyms, all other nouns are sorted by
distance from u; a hypernym's rank is 1 + the number of non-hypernyms nearer than it (the
other hypernyms are not counted against it), MR is the mean over all (u, hypernym) pairs, and
MAP the mean over u of the average precision of that ordering.
"""

from __future__ import annotations

from typing import Callable

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
        d[np.arange(len(rows)), rows] = np.inf  # u itself is never a candidate
        label = np.zeros(d.shape, dtype=bool)
        for r in range(len(rows)):
            label[r, dst[bounds[lo + r] : bounds[lo + r + 1]]] = True
        # positions of the hypernyms in each row's ascending order
        sorted_label = np.take_along_axis(label, np.argsort(d, axis=1, kind="stable"), axis=1)
        r, pos = np.nonzero(sorted_label)
        k = np.concatenate([np.arange(c) for c in sorted_label.sum(axis=1)])  # hypernyms before
        rank_sum += float(np.sum(pos - k + 1))
        precision = (k + 1) / (pos + 1)
        counts = np.bincount(r, minlength=len(rows))
        ap_sum += float(np.sum(np.bincount(r, weights=precision, minlength=len(rows)) / counts))
    return rank_sum / len(src), ap_sum / len(nouns)
