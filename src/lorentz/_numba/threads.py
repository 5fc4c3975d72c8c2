"""Numba's OpenMP threads set to sleep when idle, where numba is the first to start OpenMP.

Without TBB, numba's threading layer on Linux is GNU OpenMP, whose idle threads spin-wait
after every parallel region (GOMP_SPINCOUNT: measured 4 ms of a core after each kernel
here). On a machine whose cores are busy (other processes, torch's threads) a spinning
thread holds the core another one waits for, and a parallel kernel waits for the scheduler:
numba ``dist`` of 500 x 16 took 8 ms instead of 0.03 ms, in two runs of three on a loaded
2-core machine. ``OMP_WAIT_POLICY=PASSIVE`` makes idle threads sleep at once (0.05 ms there,
loaded or not; ``pairwise_dist`` of 2048 x 2048 x 128 unchanged). OpenMP reads it once, when
the runtime loads, so numba's pool is started here with it set and the environment is
restored at once.

One OpenMP runtime serves the whole process: the first library to load it configures it,
and later ones bind to it (numba after torch runs on torch's runtime, and torch imported
after this runs on this one, its idle threads sleeping too). So:

- where an OpenMP runtime is already loaded (torch imported first), nothing is changed: it
  is torch's, with torch's setting; ``passive`` stays False;
- nothing is changed where the user has chosen (``NUMBA_THREADING_LAYER``,
  ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` in the environment, ``numba.config`` set in code)
  or where numba's threads were already started (another library's parallel function).

Not the ``workqueue`` layer, which avoids OpenMP altogether: it aborts the process when two
threads launch kernels at once (dask's threaded scheduler does, through ``lorentz._dask``),
and it was 1.4x slower on ``pairwise_dist`` of 2048 x 2048 x 128 and 2-4x on small ``dist``
calls when the machine was idle.
"""

from __future__ import annotations

import os

import numba

# the user's choices, left alone
USER_SETTINGS = (
    "NUMBA_THREADING_LAYER",
    "NUMBA_THREADING_LAYER_PRIORITY",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
)
# shared objects of the OpenMP runtimes (GNU, LLVM, Intel)
RUNTIMES = ("libgomp", "libomp", "libiomp")

# True once numba's pool was started here with the passive policy, in a runtime it loaded
passive = False


def openmp_loaded() -> bool | None:
    """Whether an OpenMP runtime is loaded in this process (None: cannot tell, not Linux)."""
    try:
        with open("/proc/self/maps") as f:
            return any(name in line for line in f for name in RUNTIMES)
    except OSError:
        return None


def configure() -> bool:
    """Start numba's thread pool with idle threads sleeping, where that is numba's to decide
    (see the module's docstring); True where it was done."""
    global passive
    if any(k in os.environ for k in USER_SETTINGS):
        return False
    # numba.config sets its attributes at import, out of a type checker's sight
    if str(numba.config.THREADING_LAYER).lower() != "default":  # type: ignore[attr-defined]
        return False
    try:
        numba.threading_layer()  # raises until the pool is started
        return False
    except ValueError:
        pass
    if openmp_loaded() is not False:  # torch's (or another library's) runtime, or unknown
        return False
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        numba.get_num_threads()  # starts the pool: the layer's runtime loads and reads it
    finally:
        del os.environ["OMP_WAIT_POLICY"]
    passive = numba.threading_layer() == "omp"
    return passive
