#!/usr/bin/env bash
# The package as a user installs it: sdist and wheel built (python -m build), the wheel installed
# into a fresh virtual environment that sees none of this machine's packages (numpy and
# array-api-compat come from pip), the typing marker and the data files checked in the wheel,
# and one computation run from outside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python -m build --outdir "$work/dist" .
wheel=("$work"/dist/*.whl)
sdist=("$work"/dist/*.tar.gz)
test -f "${sdist[0]}"
python - "${wheel[0]}" <<'PY'
import sys
import zipfile

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = [
    "lorentz/__init__.py",
    "lorentz/py.typed",
    "lorentz/data/mammal_closure.tsv",
    "lorentz/data/noun_closure.tsv.gz",
    "lorentz/data/LICENSE-WordNet.txt",
]
missing = [n for n in need if n not in names]
if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
    missing.append("dist-info/licenses/LICENSE")
if missing:
    sys.exit(f"the wheel lacks {missing}")
PY
python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "${wheel[0]}"
cd "$work"
"$work/venv/bin/python" - <<'PY'
import pathlib

import numpy as np

import lorentz
import lorentz.wordnet

root = pathlib.Path(lorentz.__file__).parent
assert "site-packages" in str(root), root
assert (root / "py.typed").is_file()
names, edges = lorentz.wordnet.load("mammals")
assert len(names) == 1180 and edges.shape == (6540, 2), (len(names), edges.shape)
x = lorentz.expmap0(np.array([[0.0, 8.0, 0.0]]), c=1.0)
d = lorentz.dist0(x)
assert abs(float(d[0]) - 8.0) <= 1e-12 * 8.0, d
assert float(lorentz.dist(x, x)[0]) == 0.0
print("wheel", lorentz.__version__, "installed and working from", root)
PY
