"""The accuracy checks would fail on the textbook formulas (MERU's and geoopt's): the same
``measure`` that the library passes rejects them on the pinned hard cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lorentz.testing._accuracy import (
    FAR_NEAR_32,
    FAR_NEAR_64,
    NEAR_32,
    NEAR_64,
    OPS,
    RADIAL_32,
    RADIAL_64,
    _pt,
    measure,
)


def _lip(x, y):
    return -x[..., 0] * y[..., 0] + np.sum(x[..., 1:] * y[..., 1:], axis=-1)


def textbook_dist(x, y, c=1.0):
    z = np.maximum(-c * _lip(x, y), 1 + 1e-8)  # MERU's clamp (a no-op in float32)
    return (np.arccosh(z) / np.sqrt(c)).astype(x.dtype)


def textbook_dist0(x, c=1.0):
    return (np.arccosh(np.maximum(np.sqrt(c) * x[..., 0], 1)) / np.sqrt(c)).astype(x.dtype)


def textbook_logmap0(y, c=1.0):  # MERU's log_map0, on ambient arrays
    xs = y[..., 1:]
    rc_xnorm = np.sqrt(c) * np.linalg.norm(xs, axis=-1, keepdims=True)
    dist = np.arccosh(np.maximum(np.sqrt(1 + rc_xnorm**2), 1 + 1e-8)) / np.sqrt(c)
    us = dist * xs / np.maximum(rc_xnorm / np.sqrt(c), 1e-8)
    return np.concatenate([np.zeros_like(xs[..., :1]), us], -1).astype(y.dtype)


def textbook_exterior_angle(x, y, c=1.0):  # MERU's oxy_angle
    xy = c * _lip(x, y)
    num = y[..., 0] + xy * x[..., 0]
    den = np.linalg.norm(x[..., 1:], axis=-1) * np.sqrt(np.maximum(xy**2 - 1, 1e-8))
    return np.arccos(np.clip(num / den, -1 + 1e-8, 1 - 1e-8)).astype(x.dtype)


def textbook_logmap(x, y, c=1.0):  # geoopt's logmap
    xy = c * _lip(x, y)
    v = y + xy[..., None] * x
    nv = np.sqrt(np.maximum(_lip(v, v), 1e-15))
    d = np.arccosh(np.maximum(-xy, 1)) / np.sqrt(c)
    return (d[..., None] * v / nv[..., None]).astype(x.dtype)


TEXTBOOK = {
    "dist": (textbook_dist, [FAR_NEAR_32, FAR_NEAR_64]),
    "logmap": (textbook_logmap, [NEAR_32, NEAR_64]),
    "exterior_angle": (textbook_exterior_angle, [NEAR_32, NEAR_64, RADIAL_32, RADIAL_64]),
    "dist0": (textbook_dist0, [("float32", 1.0, (_pt("float32", 1.0, 1e-3, 0.0),))]),
    "logmap0": (textbook_logmap0, [("float32", 1.0, (_pt("float32", 1.0, 1e-4, 0.0),))]),
}


@pytest.mark.parametrize("name", list(TEXTBOOK))
def test_textbook_formula_fails_and_library_passes(name):
    textbook, hard_cases = TEXTBOOK[name]
    op = OPS[name]
    for dtype, c, args in hard_cases:
        err, bound = measure(op, textbook(*args, c=c), args, c, dtype)
        assert err > 10 * bound, f"textbook {name} passed: {err:.3g} <= {bound:.3g}"
        err, bound = measure(op, op.lib(*args, c=c), args, c, dtype)
        assert err <= bound
    assert math.isfinite(err)
