"""Backend loading for the test suite: the array namespaces every backend test runs on
(numpy, torch on the CPU, jax with x64, array-api-strict, and cupy where installed).
Nothing is imported until asked for."""

from __future__ import annotations

import functools
import importlib

import numpy as np

BACKENDS = ["numpy", "torch", "jax", "array_api_strict", "cupy"]
# every backend but cupy is installed by the test extra; a missing one is an error, not a skip
OPTIONAL = {"cupy"}


def load_backend(name: str):
    """The array namespace named ``name`` (jax with float64 enabled)."""
    if name == "numpy":
        return importlib.import_module("array_api_compat.numpy")
    if name == "jax":
        jax = importlib.import_module("jax")
        jax.config.update("jax_enable_x64", True)
        return importlib.import_module("jax.numpy")
    if name == "torch":
        return importlib.import_module("array_api_compat.torch")
    if name == "cupy":
        return importlib.import_module("array_api_compat.cupy")
    return importlib.import_module(name)


@functools.cache
def _available() -> tuple[str, ...]:
    out = []
    for name in BACKENDS:
        try:
            load_backend(name)
        except ImportError:
            if name not in OPTIONAL:
                raise
            continue
        out.append(name)
    return tuple(out)


def available_backends() -> list[str]:
    """The names in :data:`BACKENDS` that load here; a missing non-optional one raises."""
    return list(_available())


def __getattr__(name: str):
    # AVAILABLE is computed on first use: importing this module imports no backend
    if name == "AVAILABLE":
        return available_backends()
    raise AttributeError(name)


def asarray(xp, a, dtype=None):
    """numpy -> backend array, with dtype given by name ("float32", "bfloat16", ...)."""
    dt = getattr(xp, dtype) if isinstance(dtype, str) else dtype
    return xp.asarray(np.asarray(a), dtype=dt)
