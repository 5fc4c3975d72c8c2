"""Numba CPU kernels for numpy arrays (extra ``numba``). Imported only on first use."""
