"""The WordNet data, the reconstruction metrics, and the demo end to end (--quick)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lorentz import wordnet
from lorentz.demo import main
from lorentz.demo.reconstruction import mean_rank_and_map


def test_mammal_closure_counts():
    names, edges = wordnet.load("mammals")
    assert (len(names), len(edges)) == (1180, 6540)  # Nickel & Kiela's mammal closure
    root = names.index("mammal.n.01")
    # every other noun is below mammal.n.01, which is below nothing
    assert set(edges[edges[:, 1] == root, 0]) == set(range(len(names))) - {root}
    assert root not in edges[:, 0]
    assert len({tuple(e) for e in edges.tolist()}) == len(edges)
    # closed: a hypernym's hypernyms are the noun's hypernyms
    up = {i: set() for i in range(len(names))}
    for a, b in edges.tolist():
        up[a].add(b)
    assert all(up[b] <= up[a] for a in up for b in up[a])
    assert "dog.n.01" in names and "canine.n.02" in {names[b] for b in up[names.index("dog.n.01")]}


def test_noun_closure_counts():
    names, edges = wordnet.load("nouns")
    assert (len(names), len(edges)) == (82115, 743086)
    assert names.count("entity.n.01") == 1


def test_unknown_dataset_is_named():
    with pytest.raises(ValueError, match="dataset"):
        wordnet.load("birds")


def brute_force(d, edges):
    """MR and MAP straight from their definitions, one noun and one hypernym at a time."""
    ranks, aps = [], []
    for u in np.unique(edges[:, 0]):
        hyper = set(edges[edges[:, 0] == u, 1].tolist())
        others = [w for w in range(len(d)) if w != u and w not in hyper]
        ranks += [1 + sum(d[u, w] < d[u, v] for w in others) for v in hyper]
        order = sorted((w for w in range(len(d)) if w != u), key=lambda w: d[u, w])
        hits = [i for i, w in enumerate(order) if w in hyper]
        aps.append(np.mean([(k + 1) / (i + 1) for k, i in enumerate(hits)]))
    return np.mean(ranks), np.mean(aps)


def test_reconstruction_metrics_match_their_definition():
    rng = np.random.default_rng(0)
    n = 30
    edges = np.array(sorted({tuple(rng.choice(n, 2, replace=False)) for _ in range(120)}))
    x = rng.standard_normal((n, 3))
    d = np.sum((x[:, None] - x[None]) ** 2, axis=-1)
    got = mean_rank_and_map(lambda rows: d[rows], edges, n, block=7)
    assert got == pytest.approx(brute_force(d, edges), rel=1e-12)
    # a perfect embedding: hypernyms nearest
    perfect = np.full((n, n), 5.0)
    perfect[edges[:, 0], edges[:, 1]] = 1.0
    assert mean_rank_and_map(lambda rows: perfect[rows], edges, n) == (1.0, 1.0)


def test_demo_quick_beats_euclidean(tmp_path):
    assert main(["--quick", "--dim", "2", "5", "--out", str(tmp_path), "--seed", "1"]) == 0
    report = json.loads((tmp_path / "mammals_metrics.json").read_text())
    by = {(r["geometry"], r["dim"]): r for r in report["results"]}
    for dim in (2, 5):
        lor, euc = by["lorentz", dim], by["euclidean", dim]
        assert lor["MAP"] > euc["MAP"] and lor["MR"] < euc["MR"], (lor, euc)
    assert report["published"][0]["MAP"] == 0.927
    png = (tmp_path / "mammals_2d.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_training_is_reproducible_by_seed():
    from lorentz.demo.embedding import Settings, train

    names, edges = wordnet.load("mammals")
    for sparse in (False, True):
        runs = [train(edges, len(names), "lorentz", Settings(dim=2, epochs=2, seed=s, sparse=sparse))
                for s in (3, 3, 4)]
        a, b, c = (r.points.detach().numpy() for r in runs)
        assert np.array_equal(a, b) and not np.allclose(a, c)
        assert np.all(np.isfinite(a))
