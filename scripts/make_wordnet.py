"""Build the WordNet 3.0 noun and mammal transitive closures shipped in ``lorentz/data``.

Input: the WordNet 3.0 database files (``data.noun``, ``index.noun``) as Debian's
``wordnet-base`` package installs them (``/usr/share/wordnet``). To build without
installing it: ``apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb root``, then
pass ``--wordnet root/usr/share/wordnet``.

The closures are the ones of Nickel & Kiela's reference code (poincare-embeddings,
``wordnet/``): every (noun, hypernym) pair of the transitive closure over hypernym pointers,
plus, for instances, their instance hypernyms and everything above those. The mammal subset
keeps the pairs of nouns that both have ``mammal.n.01`` above them (or are it), then drops
the pairs their filter drops (the same regular expressions, applied as they apply them). Synsets are named as NLTK
names them: first lemma, lower-cased, ``.n.``, and the synset's position among that lemma's
senses in ``index.noun``.

Result: 1,180 mammal nouns with 6,540 pairs; 82,115 nouns with 743,086 pairs.
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import defaultdict
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "src" / "lorentz" / "data"

# Nickel & Kiela's mammals_filter.txt
MAMMAL_FILTER = [
    r"\sliving_thing.n.01", r"\sobject.n.01", r"\sorganism.n.01", r"\sanimal.n.01",
    r"\sentity.n.01", r"\sphysical_entity.n.01", r"\swhole.n.02", r"\svertebrate.n.01",
    r"\schordate.n.01", r"\sbeast_of_burden.n.01", r"\swork_animal.n.01", r"\sfemale.n.01",
    r"\sfissipedia.n.01", r"\spup.n.01", r"\sabstraction.n.06", r"\sgroup.n.01",
    r"^tusker.n.01", r"^female_mammal.n.01", r"\scub.n.03", r"\syoung.n.01",
    r"\syoung_mammal.n.01", r"\sdomestic_animal.n.01", r"\sracer.n.03", r"\smale.n.01",
]  # fmt: skip


def read_nouns(wordnet: Path):
    """(names, hypernyms, instance_hypernyms) keyed by synset offset."""
    senses: dict[str, list[int]] = {}
    for line in (wordnet / "index.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):  # licence header
            continue
        f = line.split()
        lemma, n_synsets, n_pointers = f[0], int(f[2]), int(f[3])
        senses[lemma] = [int(o) for o in f[6 + n_pointers : 6 + n_pointers + n_synsets]]
    names, hyper, inst = {}, defaultdict(list), defaultdict(list)
    for line in (wordnet / "data.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith(" "):
            continue
        f = line.split(" | ")[0].split()
        offset, n_words = int(f[0]), int(f[3], 16)
        lemma = f[4].lower()
        names[offset] = f"{lemma}.n.{senses[lemma].index(offset) + 1:02d}"
        at = 4 + 2 * n_words
        for k in range(int(f[at])):
            symbol, target, pos = f[at + 1 + 4 * k : at + 4 + 4 * k]
            if pos == "n" and symbol in ("@", "@i"):
                (hyper if symbol == "@" else inst)[offset].append(int(target))
    return names, hyper, inst


def closure(start, step) -> set:
    """Everything reachable from start by step, start itself excluded (as NLTK's closure)."""
    seen, todo = set(), list(step(start))
    while todo:
        s = todo.pop()
        if s not in seen:
            seen.add(s)
            todo.extend(step(s))
    seen.discard(start)
    return seen


def noun_closure(names, hyper, inst) -> set[tuple[str, str]]:
    up = lambda s: hyper.get(s, ())
    edges = set()
    for s in names:
        edges.update((names[s], names[h]) for h in closure(s, up))
        for i in closure(s, lambda t: inst.get(t, ())) if s in inst else ():
            edges.add((names[s], names[i]))
            edges.update((names[s], names[h]) for h in closure(i, up))
    return edges


def mammal_closure(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Pairs with a mammal at both ends, minus those whose "hyponym hypernym" string the
    filter matches at its start (as their pandas ``str.match`` does)."""
    mammals = {a for a, b in edges if b == "mammal.n.01"} | {"mammal.n.01"}
    drop = re.compile("(" + "|".join(MAMMAL_FILTER) + ")")
    return {
        (a, b) for a, b in edges if a in mammals and b in mammals and not drop.match(f"{a} {b}")
    }


def write(edges, path: Path) -> None:
    text = "".join(f"{a}\t{b}\n" for a, b in sorted(edges))
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        path.write_text(text)
    nodes = {n for e in edges for n in e}
    print(f"{path.name}: {len(nodes):,} nouns, {len(edges):,} pairs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()
    nouns = noun_closure(*read_nouns(args.wordnet))
    write(nouns, args.out / "noun_closure.tsv.gz")
    write(mammal_closure(nouns), args.out / "mammal_closure.tsv")


if __name__ == "__main__":
    main()
