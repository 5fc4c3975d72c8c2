"""Validation of the arguments that are not points: scalars or arrays of a batch shape
(a fraction along a geodesic) and arrays with their own last axis (space vectors, weights),
with errors that name the argument, as ``_arguments.prepare`` does for points."""

from __future__ import annotations

import math

import numpy as np

from ._arguments import _broadcast, _check_dtype, _refuse_masked, namespace


def real(name: str, value, xp, batch: tuple, work):
    """A Python float, or an array of the points' library broadcasting against ``batch``,
    returned in the compute dtype ``work`` with a trailing length-1 axis. Returns (value, its
    dtype or None)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a real number or a real floating-point array, got bool")
    _refuse_masked(name, value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = float(value)
        if math.isnan(value):
            return value, None  # NaN in, NaN out
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}")
        return value, None
    if isinstance(value, complex):
        raise TypeError(f"{name} must be real, got complex")
    ns = namespace(**{name: value})
    if ns is not xp:
        raise TypeError(f"{name} comes from a different array library than the points; convert it")
    _check_dtype(name, value, xp)
    _broadcast({"the points": batch, name: tuple(value.shape)})
    dtype = value.dtype
    return xp.astype(value, work)[..., None], dtype


def vectors(name: str, value, xp, n: int | None = None, *, min_dim: int = 1):
    """An array of the points' library with a real floating dtype and a last axis of length
    ``n`` (when given); ValueError / TypeError naming ``name`` otherwise."""
    _refuse_masked(name, value)
    if isinstance(value, (bool, int, float, complex)):
        raise TypeError(f"{name} must be an array, got {type(value).__name__}")
    ns = namespace(**{name: value})
    if ns is not xp:
        raise TypeError(f"{name} comes from a different array library than the points; convert it")
    _check_dtype(name, value, xp)
    if value.ndim < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dimension(s), got shape {tuple(value.shape)}"
        )
    if n is not None and value.shape[-1] != n:
        raise ValueError(
            f"{name} must have a last dimension of {n}, got shape {tuple(value.shape)}"
        )
    return value
