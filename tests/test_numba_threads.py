"""numba's OpenMP threads sleep when idle where numba starts OpenMP (lorentz._numba.threads):
spinning idle threads held the cores a parallel kernel waited for on a busy machine. Each case
runs in a fresh interpreter, since the pool is configured once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")

SCRIPT = """
import json, os, resource, sys, time
if "torch" in sys.argv:
    import torch
    torch.ones(64, 64) @ torch.ones(64, 64)  # torch's OpenMP threads started first
import numba
import numpy as np
import lorentz
from lorentz._numba import threads

x = lorentz.from_space(np.random.default_rng(0).normal(size=(20000, 16)))
y = x[::-1].copy()
lorentz.dist(x, y, implementation="numba")  # 320,000 components: the parallel branch
spin = 0.0
for _ in range(20):  # CPU time taken while the process sleeps right after a kernel
    lorentz.dist(x, y, implementation="numba")
    before = resource.getrusage(resource.RUSAGE_SELF)
    time.sleep(0.05)
    after = resource.getrusage(resource.RUSAGE_SELF)
    spin += (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
print(json.dumps(dict(layer=numba.threading_layer(), passive=threads.passive,
                      policy=os.environ.get("OMP_WAIT_POLICY"), spin=spin)))
"""


def run(*args, **env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NUMBA_THREADING_LAYER", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    }
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


linux = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="/proc/self/maps and rusage: Linux"
)


@linux
def test_idle_threads_sleep_where_numba_starts_openmp():
    got = run()
    if got["layer"] != "omp":
        pytest.skip(f"numba chose {got['layer']}: no OpenMP pool to configure")
    # the pool was started with the passive policy and the environment left as it was
    assert got["passive"] and got["policy"] is None
    # the same process with the user's own layer choice: OpenMP's default, spinning
    control = run(NUMBA_THREADING_LAYER="omp")
    assert control["layer"] == "omp" and not control["passive"]
    if control["spin"] < 0.02:
        pytest.skip(f"no spin-wait measurable here ({control['spin']:.3f} s in 1 s of sleep)")
    assert got["spin"] < 0.5 * control["spin"], (got, control)


@linux
def test_after_torch_the_runtime_is_torchs():
    """torch loaded OpenMP first: numba binds to that runtime, configured by torch, and the
    module says it changed nothing rather than claiming a policy it could not set."""
    got = run("torch")
    assert not got["passive"] and got["policy"] is None


@pytest.mark.parametrize(
    "env", [{"NUMBA_THREADING_LAYER": "workqueue"}, {"OMP_WAIT_POLICY": "ACTIVE"}]
)
def test_the_users_choice_is_left_alone(env):
    got = run(**env)
    assert not got["passive"]
    if "NUMBA_THREADING_LAYER" in env:
        assert got["layer"] == "workqueue"
    else:
        assert got["policy"] == "ACTIVE"
