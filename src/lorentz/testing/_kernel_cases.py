"""Inputs shared by the tests of the compiled kernels (numba, Triton) against the reference:
random, near-duplicate, far-from-origin and odd-shaped point sets."""

from __future__ import annotations

import numpy as np

from ._contract import BOUND

rng = np.random.default_rng(11)


def points(space, c=1.0, dtype=np.float64):
    """Points of the hyperboloid from their space parts ``space`` (..., n): the time coordinate
    sqrt(1/c + |space|^2) computed in float64, both parts rounded to ``dtype``."""
    space = np.asarray(space, dtype=dtype)
    x0 = np.sqrt(1 / c + np.sum(space.astype(np.float64) ** 2, -1, keepdims=True))
    return np.concatenate([x0.astype(dtype), space], -1)


def inputs(kind: str, dtype, c: float):
    """(x, y) point sets of shapes (N, n+1), (M, n+1) for each kind of test input."""
    if kind == "random":
        return points(rng.normal(size=(37, 5)), c, dtype), points(
            rng.normal(size=(29, 5)), c, dtype
        )
    if kind == "near-duplicate":
        base = rng.normal(size=(20, 6)) * 3
        moved = base + 1e-6 * rng.normal(size=base.shape)
        return points(base, c, dtype), points(np.concatenate([base, moved]), c, dtype)
    if kind == "far":
        r = 1e3 if dtype == np.float32 else 1e4
        base = rng.normal(size=(16, 4))
        base = r * base / np.linalg.norm(base, axis=1, keepdims=True)
        near = base * (1 + 1e-5) + 1e-3 * rng.normal(size=base.shape)
        return points(base, c, dtype), points(np.concatenate([base, near]), c, dtype)
    if kind == "n=1":
        return points(rng.normal(size=(9, 1)) * 5, c, dtype), points(
            rng.normal(size=(7, 1)) * 5, c, dtype
        )
    if kind == "one row":
        return points(rng.normal(size=(1, 3)), c, dtype), points(rng.normal(size=(8, 3)), c, dtype)
    if kind == "one column":
        return points(rng.normal(size=(8, 3)), c, dtype), points(rng.normal(size=(1, 3)), c, dtype)
    if kind == "non-contiguous":
        x = points(rng.normal(size=(30, 4)), c, dtype)[::3]
        y = np.asfortranarray(points(rng.normal(size=(12, 4)), c, dtype))[::2]
        return x, y
    if kind == "fortran":
        return (
            np.asfortranarray(points(rng.normal(size=(10, 4)), c, dtype)),
            np.asfortranarray(points(rng.normal(size=(11, 4)), c, dtype)),
        )
    raise ValueError(kind)


KINDS = [
    "random",
    "near-duplicate",
    "far",
    "n=1",
    "one row",
    "one column",
    "non-contiguous",
    "fortran",
]
DTYPES = [np.float32, np.float64]


def agree(a, b, dtype):
    # both sides meet the accuracy bound against the exact value, so they agree to twice it
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = np.maximum(np.abs(b), np.finfo(np.float64).tiny)
    assert np.all(np.abs(a - b) <= 2 * BOUND[np.dtype(dtype).name] * scale)


def c_sensitive_pairs(c: float):
    """float32 pairs 3e-3 to 1e-2 apart at space norm 1e3 in two dimensions (x[i], y[i]): where
    a GEMM error bound that lost its factor c lets GEMM values through at c = 100."""
    gen = np.random.default_rng(5)
    s, t = [], []
    for offset in (3e-3, 1e-2):
        base = gen.normal(size=(60, 2))
        base = 1e3 * base / np.linalg.norm(base, axis=1, keepdims=True)
        s.append(base)
        t.append(base + offset * gen.normal(size=base.shape))
    return points(np.concatenate(s), c, np.float32), points(np.concatenate(t), c, np.float32)


def hard_rows(dtype, c):
    """Rows (x[i], y[i]) of the cases where a transcription goes wrong: near pairs far out
    (1e-3 apart at the largest norm of the contract), x == y, the origin (with itself and
    with a point), huge and tiny norms, one coordinate."""
    gen = np.random.default_rng(3)
    far = 1e3 if dtype == np.float32 else 1e4
    base = gen.normal(size=(6, 5))
    base = far * base / np.linalg.norm(base, axis=1, keepdims=True)
    x = [
        base,
        base[:2],
        np.zeros((2, 5)),
        1e-30 * gen.normal(size=(2, 5)),
        1e-8 * gen.normal(size=(2, 5)),
        far * np.eye(5)[:2],
        gen.normal(size=(2, 5)),
    ]
    y = [
        base + 1e-3 * gen.normal(size=base.shape),
        base[:2],
        np.stack([np.zeros(5), base[0]]),
        1e-30 * gen.normal(size=(2, 5)),
        1e-8 * gen.normal(size=(2, 5)),
        -far * np.eye(5)[:2],
        1e-8 * gen.normal(size=(2, 5)),
    ]
    return points(np.concatenate(x), c, dtype), points(np.concatenate(y), c, dtype)


def tangent_rows(dtype):
    """Tangent vectors at the origin with norms from 0 through 1e-30 to 20 (sinh stays
    finite in float32)."""
    gen = np.random.default_rng(4)
    norms = np.concatenate([[0.0, 1e-30, 1e-12, 1e-6], np.geomspace(1e-3, 20.0, 12)])
    us = gen.normal(size=(norms.size, 5))
    us = norms[:, None] * us / np.linalg.norm(us, axis=1, keepdims=True)
    return np.concatenate([np.zeros((norms.size, 1)), us], -1).astype(dtype)


def transport_vectors(x, y, dtype, c):
    """Tangent vectors at the points x for transport from x to y: log_x(y) in the even rows (the
    geodesic's own direction: short for near pairs far out, zero for x == y), the tangent part of
    a fixed vector in the odd rows (its radial part stretched by sqrt(c) x0 far out)."""
    import lorentz

    x64, y64 = np.asarray(x, np.float64), np.asarray(y, np.float64)
    log = np.asarray(lorentz.logmap(x64, y64, c=c, implementation="reference"))
    fixed = np.cos(np.arange(x64.size)).reshape(x64.shape)
    other = np.asarray(lorentz.project_tangent(x64, fixed, c=c))
    even = (np.arange(len(x64)) % 2 == 0)[:, None]
    return np.where(even, log, other).astype(dtype)


def pairwise_hard_rows(dtype, c):
    """Ambient rows in ``dtype`` that reach every branch of the kernels: the origin, points
    collinear with the origin (on the ray beyond, nearer, behind it), a near pair far out
    (10^3) and one near the origin, points outside the plain range (|xs| = 1e7, past cones'
    2^20; 1e200 and 1e-200 in float64), a NaN row, and ordinary rows."""
    rng = np.random.default_rng(29)
    s = rng.normal(size=(8, 4))
    ray = np.array([0.5, -0.25, 1.0, 0.125])  # dyadic: its multiples below are exact in float32
    far = 1e3 * s[1] / np.linalg.norm(s[1])
    rows = [
        np.zeros(4),
        ray,
        2.5 * ray,
        0.375 * ray,
        -0.75 * ray,
        far,
        far + 1e-4 * s[2],
        s[3],
        s[3] + 1e-7 * s[4],
        1e7 * ray,
        np.full(4, np.nan),
        s[5],
        s[6],
    ]
    if dtype == "float64":
        rows += [1e200 * s[7] / np.linalg.norm(s[7]), 1e-200 * s[7]]
    space = np.stack(rows).astype(dtype)
    wide = space.astype(np.float64)
    big = np.max(np.abs(wide), axis=-1, keepdims=True)
    big = np.where(big > 0, big, 1.0)
    norm = big * np.sqrt(np.sum((wide / big) ** 2, axis=-1, keepdims=True))  # no overflow
    time = np.hypot(1.0 / np.sqrt(c), norm)
    return np.concatenate([time.astype(dtype), space], axis=-1)
