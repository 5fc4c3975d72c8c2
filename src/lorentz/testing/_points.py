"""Points of the hyperboloid built from their space parts (numpy only)."""

from __future__ import annotations

import numpy as np


def lift(xs, c, dtype):
    """Points (..., n+1) from space parts xs (..., n): xs rounded to dtype first,
    the time coordinate sqrt(1/c + |xs|^2) of the rounded values computed in float64 and
    rounded once, so each point is as exact as dtype allows."""
    xs = np.asarray(xs, dtype=np.float64).astype(dtype)
    x0 = np.sqrt(1 / c + np.sum(xs.astype(np.float64) ** 2, axis=-1, keepdims=True))
    return np.concatenate([x0.astype(dtype), xs], axis=-1)
