"""The WordNet 3.0 noun hierarchy as transitive closures, shipped with the package.

``load("mammals")``: the 1,180 nouns below ``mammal.n.01`` and the 6,540 (noun, hypernym)
pairs of their closure; ``load("nouns")``: all 82,115 nouns and 743,086 pairs. Both as
built by Nickel & Kiela's reference code (see ``scripts/make_wordnet.py``, which made them
from WordNet's own database files). WordNet's licence: ``data/LICENSE-WordNet.txt``.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

FILES = {"mammals": "mammal_closure.tsv", "nouns": "noun_closure.tsv.gz"}


def load(dataset: str = "mammals") -> tuple[list[str], np.ndarray]:
    """(names, edges): synset names (NLTK's, sorted) and an int64 array (E, 2) of
    (noun, hypernym) index pairs into ``names``, one row per pair of the closure."""
    if dataset not in FILES:
        raise ValueError(f"dataset must be one of {sorted(FILES)}, got {dataset!r}")
    raw = (resources.files("lorentz") / "data" / FILES[dataset]).read_bytes()
    if FILES[dataset].endswith(".gz"):
        raw = gzip.decompress(raw)
    pairs = [line.split("\t") for line in raw.decode().splitlines()]
    names = sorted({n for pair in pairs for n in pair})
    index = {n: i for i, n in enumerate(names)}
    edges = np.array([(index[a], index[b]) for a, b in pairs], dtype=np.int64)
    return names, edges
