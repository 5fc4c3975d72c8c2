"""One ``xp`` fixture runs every backend test on numpy, torch (CPU), jax (x64) and
array-api-strict, and on cupy where it is installed."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from lorentz.testing._backends import available_backends, load_backend

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


@pytest.fixture(params=available_backends(), scope="session")
def xp(request):
    return load_backend(request.param)


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
