"""The implementation asked for is the one that runs: spies on the numba host functions and the
reference's all-pairs passes count the calls (the Triton kernels: tests/test_triton.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import lorentz
from lorentz._registry import OPERATIONS

pytest.importorskip("numba")  # installed by the test extra; CI never skips

rng = np.random.default_rng(31)
X = lorentz.from_space(rng.normal(size=(5, 3)))
Y = lorentz.from_space(rng.normal(size=(6, 3)))
U = np.concatenate([np.zeros((5, 1)), rng.normal(size=(5, 3))], axis=1)

CALLS = {
    "dist": lambda impl: lorentz.dist(X, Y[:5], implementation=impl),
    "pairwise_dist": lambda impl: lorentz.pairwise_dist(X, Y, implementation=impl),
    "knn": lambda impl: lorentz.knn(X, Y, 2, implementation=impl),
    "expmap0": lambda impl: lorentz.expmap0(U, implementation=impl),
    "logmap0": lambda impl: lorentz.logmap0(X, implementation=impl),
}
# the function each operation's reference path goes through: the registry's reference, or
# the all-pairs passes below it
REFERENCE = {"pairwise_dist": ("_allpairs", "pairwise_dist"), "knn": ("_allpairs", "knn_indices")}


def _spy(monkeypatch, module, name, seen):
    original = getattr(module, name)

    def spy(*args, **kwargs):
        seen.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)


@pytest.mark.parametrize("op", list(CALLS))
def test_the_chosen_implementation_runs(op, monkeypatch):
    import importlib

    from lorentz._numba import ops

    numba_seen, reference_seen = [], []
    _spy(monkeypatch, ops, op, numba_seen)
    if op in REFERENCE:
        module, name = REFERENCE[op]
        _spy(monkeypatch, importlib.import_module(f"lorentz.{module}"), name, reference_seen)
    else:
        entry = OPERATIONS[op]

        def spy(*args, **kwargs):
            reference_seen.append(op)
            return entry.reference(*args, **kwargs)

        monkeypatch.setitem(OPERATIONS, op, dataclasses.replace(entry, reference=spy))
    want = CALLS[op]("reference")
    assert reference_seen and not numba_seen
    reference_seen.clear()
    for impl in ("numba", None):  # None picks numba for numpy arrays where it is installed
        got = CALLS[op](impl)
        assert numba_seen == [op] and not reference_seen, (impl, numba_seen, reference_seen)
        numba_seen.clear()
        for g, w in zip(
            got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)
        ):
            np.testing.assert_allclose(g, w, rtol=1e-12)
