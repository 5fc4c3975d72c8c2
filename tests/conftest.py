"""One ``xp`` fixture runs every backend test on numpy, torch (CPU), jax (x64) and
array-api-strict, and on cupy where it is installed."""

from __future__ import annotations

import importlib
import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Two hypothesis profiles, chosen by LORENTZ_HYPOTHESIS_PROFILE, else "ci" where the CI variable
# is set (.ci/run sets it) and "dev" elsewhere. LORENTZ_EXAMPLES overrides either's examples.
_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
    print_blob=True,
)
# ci: the full depth; it replays one fixed hunt, so a run on a fresh machine is the run seen
# before pushing
settings.register_profile(
    "ci", max_examples=int(os.environ.get("LORENTZ_EXAMPLES", "100")), derandomize=True, **_COMMON
)
# dev: a tenth of the examples for a quick local run; every run hunts afresh and keeps what it
# finds in the example database (tests that set max_examples themselves keep their count)
settings.register_profile(
    "dev", max_examples=int(os.environ.get("LORENTZ_EXAMPLES", "10")), derandomize=False, **_COMMON
)
settings.load_profile(
    os.environ.get("LORENTZ_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)

BACKENDS = ["numpy", "torch", "jax", "array_api_strict", "cupy"]
# every backend but cupy is installed by the test extra; a missing one is an error, not a skip
OPTIONAL = {"cupy"}


def load_backend(name: str):
    if name == "numpy":
        import array_api_compat.numpy as xp

        return xp
    if name == "jax":
        jax = importlib.import_module("jax")
        jax.config.update("jax_enable_x64", True)
        return importlib.import_module("jax.numpy")
    if name == "torch":
        import array_api_compat.torch as xp

        return xp
    if name == "cupy":
        import array_api_compat.cupy as xp

        return xp
    return importlib.import_module(name)


def _available():
    out = []
    for name in BACKENDS:
        try:
            load_backend(name)
        except ImportError:
            if name not in OPTIONAL:
                raise
            continue
        out.append(name)
    return out


AVAILABLE = _available()


@pytest.fixture(params=AVAILABLE, scope="session")
def xp(request):
    return load_backend(request.param)


def asarray(xp, a, dtype=None):
    """numpy -> backend array, with dtype given by name ("float32", "bfloat16", ...)."""
    dt = getattr(xp, dtype) if isinstance(dtype, str) else dtype
    return xp.asarray(np.asarray(a), dtype=dt)


@pytest.fixture(autouse=True)
def _own_seed(request):
    """Every test draws from its module's shared generators (``rng``: numpy, ``gen``: torch)
    reseeded from its own name, so its inputs are the same whichever tests ran before it
    (a module-level generator made one MERU case fail alone and pass in the whole file)."""
    seed = zlib.crc32(request.node.nodeid.encode())
    for name in ("rng", "gen"):
        g = getattr(request.module, name, None)
        if isinstance(g, np.random.Generator):
            g.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        elif hasattr(g, "manual_seed"):
            g.manual_seed(seed)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_jax():
    """Each executable jax compiles holds memory maps, and a process may have 65,530: one run of
    every test module's shapes came near it (LLVM then fails with 'Cannot allocate memory').
    Released after each module; the next one compiles what it uses again."""
    yield
    import sys

    if "jax" in sys.modules:
        sys.modules["jax"].clear_caches()
