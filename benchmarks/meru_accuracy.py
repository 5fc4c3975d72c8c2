"""Before/after table for the MERU migration guide: MERU's formulas (transcribed) against
lorentz.meru, float32, on inputs where MERU's lose accuracy; errors against mpmath.

    python benchmarks/meru_accuracy.py
"""

import math

import numpy as np
import torch

from lorentz import meru as L
from lorentz.testing import mpref
from lorentz.testing._peers import meru_log_map0, meru_oxy_angle, meru_pairwise_dist


def amb(xs):
    xs = np.asarray(xs, np.float64)
    return np.concatenate([[math.sqrt(1 + xs @ xs)], xs])


def rel(out, ref):
    return float(mpref.error(float(out), ref))


rows = []
for r, step in [(6.0, 0.1), (9.0, 0.1), (12.0, 0.1), (1.0, 1e-4)]:
    # x at distance r from the origin (space norm sinh r), y moved sideways by ``step``
    R = math.sinh(r)
    x = torch.tensor([[R, 0.0]], dtype=torch.float32)
    y = torch.tensor([[R, step]], dtype=torch.float32)
    ref = mpref.dist(amb(x[0].double().numpy()), amb(y[0].double().numpy()))
    rows.append(
        (
            f"pairwise_dist, x at distance {r:g} from the origin, sideways step {step:g}",
            rel(meru_pairwise_dist(x, y)[0, 0], ref),
            rel(L.pairwise_dist(x, y)[0, 0], ref),
        )
    )
for v in (1e-4, 1e-3, 1e-1):
    x = torch.tensor([[v, 0.0]], dtype=torch.float32)
    ref = mpref.logmap0(amb(x[0].double().numpy()))[1]
    rows.append(
        (f"log_map0, |x| = {v:g}", rel(meru_log_map0(x)[0, 0], ref), rel(L.log_map0(x)[0, 0], ref))
    )
for th in (1e-3, 1e-2):
    x = torch.tensor([[2.0, 0.0]], dtype=torch.float32)
    y = torch.tensor([[3.0, 3.0 * th]], dtype=torch.float32)
    ref = mpref.exterior_angle(amb(x[0].double().numpy()), amb(y[0].double().numpy()))
    rows.append(
        (
            f"oxy_angle, small angle (y at slope {th:g})",
            rel(meru_oxy_angle(x, y)[0], ref),
            rel(L.oxy_angle(x, y)[0], ref),
        )
    )

print("| case (float32) | MERU's formula, rel err | lorentz.meru, rel err |\n|---|---|---|")
for name, a, b in rows:
    print(f"| {name} | {a:.1e} | {b:.1e} |")
