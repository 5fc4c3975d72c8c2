"""Numba CPU kernels for numpy arrays (extra ``numba``). Imported only on first use."""

from .threads import configure

# before the first kernel launches its threads: see threads.py
configure()
