"""Hostile calls of every public function and how each one ended, for tests/test_hostile.py and
scripts/hostile.py.

A case is one public function with one hostile argument: a non-finite, huge, tiny or subnormal
component, a point off its sheet, a bad curvature, an argument of the wrong type (a list, a
string, an int or bool array, a masked array, an array of another library), of the wrong
shape, or a bad flag, count or implementation name. It is run on every backend (numpy, torch,
jax, array-api-strict) and implementation (None, "reference", "numba") that can express it,
and each call is classified:

- ``named``: TypeError or ValueError whose message names the hostile argument;
- ``correct``: a result equal to the float64 reference (numpy, ``implementation="reference"``)
  on the same values, as delivered (after the cast to the delivered dtype), NaN exactly where
  the reference has NaN, a NaN input reaching the output, finite inputs giving no NaN, and
  bounded quantities (distances, angles, Poincare coordinates) finite for finite inputs;
- ``wrong``: any other result, a result for an input the reference refuses or that must be
  refused (a list, a string, an integer array, an invalid curvature or flag), or an input
  array modified;
- ``crash``: any other exception, or a TypeError / ValueError that does not name it.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import lorentz
import lorentz.meru
from lorentz.testing import to_numpy
from lorentz.testing._backends import load_backend

R, N = 3, 3  # rows and space dimension: fixed shapes, so jax compiles each operation once
M = 4  # rows of the second operand of the all-pairs functions

BACKENDS = ("numpy", "torch", "jax", "array_api_strict")
FAILURES = ("wrong", "crash")
OUTCOMES = ("named", "correct", "wrong", "crash")


# ------------------------------------------------------------------ the functions


@dataclass(frozen=True)
class Op:
    name: str
    call: Callable  # call(arrays: dict, kwargs: dict) -> result
    arrays: tuple  # ((name, kind), ...): kinds point, point_m (M rows), tangent (at x),
    # tangent0 (at the origin), space, space_m, ball, offsets (M numbers), scale (positive,
    # (R, n)), noise (standard normal, (R, n))
    kwargs: tuple = ("c",)  # keywords taken, beyond the arrays
    curv: str = "c"  # the curvature's name in this function's signature
    bounded: bool = False  # finite for finite inputs: distances, angles, Poincare coordinates
    refuses_nonfinite: bool = False  # validates values: a NaN or inf is refused by name
    keys_drop_nan: bool = False  # knn: a NaN key is nobody's neighbour, no NaN reaches out


def _kw(kw, *names):
    return {k: v for k, v in kw.items() if k in names}


L = lorentz
MERU = lorentz.meru
OPS = {
    op.name: op
    for op in [
        Op(
            "check_point",
            lambda a, kw: L.check_point(a["x"], **kw),
            (("x", "point"),),
            refuses_nonfinite=True,
        ),
        Op(
            "check_tangent",
            lambda a, kw: L.check_tangent(a["x"], a["u"], **kw),
            (("x", "point"), ("u", "tangent")),
            refuses_nonfinite=True,
        ),
        Op(
            "dist",
            lambda a, kw: L.dist(a["x"], a["y"], **kw),
            (("x", "point"), ("y", "point")),
            ("c", "keepdim", "implementation"),
            bounded=True,
        ),
        Op(
            "dist0",
            lambda a, kw: L.dist0(a["x"], **kw),
            (("x", "point"),),
            ("c", "keepdim", "implementation"),
            bounded=True,
        ),
        Op(
            "expmap",
            lambda a, kw: L.expmap(a["x"], a["u"], **kw),
            (("x", "point"), ("u", "tangent")),
        ),
        Op(
            "expmap0",
            lambda a, kw: L.expmap0(a["u"], **kw),
            (("u", "tangent0"),),
            ("c", "implementation"),
        ),
        Op(
            "exterior_angle",
            lambda a, kw: L.exterior_angle(a["x"], a["y"], **kw),
            (("x", "point"), ("y", "point")),
            ("c", "keepdim"),
            bounded=True,
        ),
        Op(
            "from_poincare",
            lambda a, kw: L.from_poincare(a["p"], **kw),
            (("p", "ball"),),
            ("c", "implementation"),
            refuses_nonfinite=True,
        ),
        Op("from_space", lambda a, kw: L.from_space(a["xs"], **kw), (("xs", "space"),)),
        Op(
            "half_aperture",
            lambda a, kw: L.half_aperture(a["x"], **kw),
            (("x", "point"),),
            ("c", "min_radius", "keepdim", "implementation"),
            bounded=True,
        ),
        Op(
            "inner",
            lambda a, kw: L.inner(a["x"], a["y"], **kw),
            (("x", "point"), ("y", "point")),
            ("keepdim",),
        ),
        Op(
            "knn",
            lambda a, kw: L.knn(a["queries"], a["keys"], kw.pop("k"), **kw),
            (("queries", "point"), ("keys", "point_m")),
            ("c", "k", "implementation"),
            bounded=True,
            keys_drop_nan=True,
        ),
        Op(
            "logmap", lambda a, kw: L.logmap(a["x"], a["y"], **kw), (("x", "point"), ("y", "point"))
        ),
        Op(
            "logmap0",
            lambda a, kw: L.logmap0(a["y"], **kw),
            (("y", "point"),),
            ("c", "implementation"),
            bounded=True,
        ),
        Op("norm", lambda a, kw: L.norm(a["u"], **kw), (("u", "tangent0"),), ("keepdim",)),
        Op(
            "pairwise_dist",
            lambda a, kw: L.pairwise_dist(a["x"], a["y"], **kw),
            (("x", "point"), ("y", "point_m")),
            ("c", "implementation"),
            bounded=True,
        ),
        Op("project", lambda a, kw: L.project(a["x"], **kw), (("x", "point"),)),
        Op(
            "project_tangent",
            lambda a, kw: L.project_tangent(a["x"], a["u"], **kw),
            (("x", "point"), ("u", "tangent")),
        ),
        Op(
            "to_poincare",
            lambda a, kw: L.to_poincare(a["x"], **kw),
            (("x", "point"),),
            ("c", "implementation"),
            bounded=True,
        ),
        Op("to_space", lambda a, kw: L.to_space(a["x"], **kw), (("x", "point"),), ()),
        Op(
            "transport",
            lambda a, kw: L.transport(a["x"], a["y"], a["v"], **kw),
            (("x", "point"), ("y", "point"), ("v", "tangent")),
        ),
        Op(
            "sqdist",
            lambda a, kw: L.sqdist(a["x"], a["y"], **kw),
            (("x", "point"), ("y", "point")),
            ("c", "keepdim"),
        ),
        Op(
            "pairwise_sqdist",
            lambda a, kw: L.pairwise_sqdist(a["x"], a["y"], **kw),
            (("x", "point"), ("y", "point_m")),
            ("c", "implementation"),
        ),
        Op(
            "pairwise_exterior_angle",
            lambda a, kw: L.pairwise_exterior_angle(a["x"], a["y"], **kw),
            (("x", "point"), ("y", "point_m")),
            ("c", "implementation"),
            bounded=True,
        ),
        Op(
            "geodesic",
            lambda a, kw: L.geodesic(a["x"], a["y"], kw.pop("t"), **kw),
            (("x", "point"), ("y", "point")),
            ("c", "t"),
        ),
        # the barycenters of the R rows (weights None: the arrays' values are the hostile part)
        Op("centroid", lambda a, kw: L.centroid(a["x"], **kw), (("x", "point"),), bounded=True),
        Op(
            "frechet_mean",
            lambda a, kw: L.frechet_mean(a["x"], **kw),
            (("x", "point"),),
            bounded=True,
        ),
        Op(
            "frechet_variance",
            lambda a, kw: L.frechet_variance(a["x"], **kw),
            (("x", "point"),),
        ),
        Op(
            "busemann",
            lambda a, kw: L.busemann(a["x"], a["direction"], **kw),
            (("x", "point"), ("direction", "tangent0")),
            ("c", "keepdim"),
            bounded=True,
        ),
        Op(
            "mlr_logits",
            lambda a, kw: L.mlr_logits(a["x"], a["a"], a["z"], **kw),
            (("x", "point"), ("a", "offsets"), ("z", "space_m")),
            ("c",),
        ),
        Op(
            "wrapped_normal_sample",
            lambda a, kw: L.wrapped_normal_sample(a["mean"], a["scale"], a["noise"], **kw),
            (("mean", "point"), ("scale", "scale"), ("noise", "noise")),
            ("c",),
        ),
        Op(
            "wrapped_normal_log_prob",
            lambda a, kw: L.wrapped_normal_log_prob(a["z"], a["mean"], a["scale"], **kw),
            (("z", "point"), ("mean", "point"), ("scale", "scale")),
            ("c",),
        ),
        Op(
            "hyperplane_dist",
            lambda a, kw: L.hyperplane_dist(a["x"], a["normal"], **kw),
            (("x", "point"), ("normal", "tangent0")),
            ("c", "keepdim"),
            bounded=True,
        ),
        # MERU's functions: space parts, the curvature called curv
        Op(
            "meru.exp_map0",
            lambda a, kw: MERU.exp_map0(a["x"], **kw),
            (("x", "space"),),
            ("curv",),
            "curv",
        ),
        Op(
            "meru.log_map0",
            lambda a, kw: MERU.log_map0(a["x"], **kw),
            (("x", "space"),),
            ("curv",),
            "curv",
            bounded=True,
        ),
        Op(
            "meru.pairwise_dist",
            lambda a, kw: MERU.pairwise_dist(a["x"], a["y"], **kw),
            (("x", "space"), ("y", "space_m")),
            ("curv",),
            "curv",
            bounded=True,
        ),
        Op(
            "meru.pairwise_inner",
            lambda a, kw: MERU.pairwise_inner(a["x"], a["y"], **kw),
            (("x", "space"), ("y", "space_m")),
            ("curv",),
            "curv",
        ),
        Op(
            "meru.oxy_angle",
            lambda a, kw: MERU.oxy_angle(a["x"], a["y"], **kw),
            (("x", "space"), ("y", "space")),
            ("curv",),
            "curv",
            bounded=True,
        ),
        Op(
            "meru.half_aperture",
            lambda a, kw: MERU.half_aperture(a["x"], **kw),
            (("x", "space"),),
            ("curv", "min_radius"),
            "curv",
            bounded=True,
        ),
        Op(
            "meru.meru_loss",
            lambda a, kw: MERU.meru_loss(a["image"], a["text"], **kw),
            (("image", "space"), ("text", "space_m")),
            ("curv", "logit_scale"),
            "curv",
            bounded=True,
        ),
    ]
}


# ------------------------------------------------------------------ cases


@dataclass
class Case:
    op: Op
    values: dict  # name -> float64 numpy array: the logical values
    kwargs: dict  # keyword arguments; c and friends as numbers or ("array", value) markers
    delivery: dict  # name -> how the array goes in: a dtype name, or a hostile form
    hostile: str  # name of the hostile argument ("" for a plain valid call)
    what: str  # the hostile change, for reports
    must_refuse: bool = False  # no result is right: the argument is invalid whatever its value
    implementations: tuple = (None,)

    def __repr__(self):
        return (
            f"{self.op.name}({self.hostile or '-'}: {self.what}; kwargs={self.kwargs}; "
            f"delivery={self.delivery})"
        )


# how a valid array can be delivered (per backend, where the dtype exists)
DTYPES = ("float64", "float32", "float16", "bfloat16")
# deliveries that no function may accept, and what each is
REFUSED = {
    "list": "a Python list",
    "string": "a string",
    "none": "None",
    "pyfloat": "a Python float",
    "int64": "an integer array",
    "bool": "a boolean array",
    "0d": "a 0-d array",
    "short": "a last dimension of 1",
    "lastdim": "a last dimension one short",
    "rows": "a batch shape that does not broadcast",
    "foreign": "an array of another library",
}
# a valid, an invalid and an ill-typed value of each keyword
GOOD_C = (1.0, 0.25, 4.0, 1e-300, 1e300)
BAD_C = (math.nan, math.inf, -math.inf, -1.0, 0.0, 5e-324, 1e-310)
ILL_C = (True, "1", [1.0], 1 + 0j, None)
KW_VALID = {
    "keepdim": (True, False),
    "implementation": (None, "reference", "numba"),
    "k": (1, 2, np.int64(2)),
    "min_radius": (0.1, 0.5, np.float32(0.1)),
    "logit_scale": (10.0, 1.0),
    "t": (0.5, 0.0, 1.0, np.float32(0.25), 2.0, -1.0),
}
KW_BAD = {
    "keepdim": (0, 1, None, "yes"),
    "implementation": ("NUMBA", 1, "cuda"),
    "k": (0, -1, True, 2.5, M + 1),
    "min_radius": (0.0, -1.0, math.nan, math.inf, True, "x"),
    "logit_scale": (True, "x", None),
    "t": ("x", None, True, [0.5]),
}
# values a keyword may take that are no refusal: a multiplier of 0 or below is defined, and the
# NaN policy applies to a NaN
KW_VALUES = {"logit_scale": (math.nan, math.inf, 1e300, 0.0, -1.0), "t": (math.nan,)}


def _points(rng, rows, c, radius):
    d = rng.normal(size=(rows, N))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return lorentz.from_space(d * radius[:, None], c=c)


def _tangent(x, rng, c):
    u = rng.normal(size=x.shape) * 0.7
    return lorentz.project_tangent(x, u, c=c)


def base_values(op: Op, rng, c: float) -> dict:
    """Valid arrays of every argument of op: radii log-uniform in [1e-3, 1e2]."""
    out = {}
    for name, kind in op.arrays:
        rows = M if kind.endswith("_m") else R
        radius = np.exp(rng.uniform(np.log(1e-3), np.log(1e2), size=rows))
        if kind in ("point", "point_m"):
            out[name] = _points(rng, rows, c, radius)
        elif kind == "tangent":
            out[name] = _tangent(out["x"], rng, c)
        elif kind == "tangent0":
            out[name] = np.concatenate([np.zeros((R, 1)), rng.normal(size=(R, N))], axis=1)
        elif kind in ("space", "space_m"):
            out[name] = lorentz.to_space(_points(rng, rows, c, radius))
        elif kind == "offsets":
            out[name] = rng.normal(size=M)
        elif kind == "scale":
            out[name] = np.abs(rng.normal(size=(R, N))) + 0.1
        elif kind == "noise":
            out[name] = rng.normal(size=(R, N))
        elif kind == "ball":
            out[name] = lorentz.to_poincare(_points(rng, rows, c, radius), c=c)
    return out


def _rescale(a, kind, row, norm, c):
    """Row ``row`` of ``a`` moved to norm ``norm``, still valid: a point re-derived from its
    space part, a tangent vector at x or at the origin, a space part or a ball point scaled."""
    a = a.copy()
    if a.ndim == 1:  # offsets: one number a row
        a[row % a.shape[0]] = np.copysign(norm, a[row % a.shape[0]])
        return a
    part = slice(None) if kind == "tangent" else slice(a.shape[1] - N, None)
    s = a[row, part]
    s = s / np.linalg.norm(s) if np.linalg.norm(s) > 0 else np.eye(s.shape[0])[-1]
    if kind in ("point", "point_m"):
        a[row] = lorentz.from_space((s * norm)[None], c=c)[0]
    else:
        a[row, part] = s * norm
    return a


# value changes of one array argument: NaN / inf in a space component, far out, near zero
VALUE_CHANGES = ("nan", "inf", "-inf", "huge", "tiny", "zero", "off_sheet")
HUGE = (1e20, 1e78, 1e155, 1e200, 1e300)
TINY = (1e-100, 1e-200, 1e-300, 1e-310, 5e-324)


@st.composite
def cases(draw, op: Op):
    """One hostile call of op (the hostile part drawn first, then everything else)."""
    with warnings.catch_warnings():  # building far-out points may overflow on the way
        warnings.simplefilter("ignore", RuntimeWarning)
        return _draw_case(draw, op)


def _draw_case(draw, op: Op) -> Case:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    kinds = dict(op.arrays)
    arrays = [name for name, _ in op.arrays]
    knobs = [k for k in op.kwargs if k != op.curv]
    family = draw(
        st.sampled_from(
            ["value"] * 4
            + ["delivery"] * 2
            + ["refused"] * 2
            + (["c"] * 2 if op.curv in op.kwargs else [])
            + (["kw"] if knobs else [])
        )
    )
    c = 1.0
    what, hostile, must_refuse = "", "", False
    kwargs: dict = {}
    if family == "c":
        kind = draw(st.sampled_from(["good", "bad", "ill", "numpy", "array", "batch"]))
        hostile = op.curv
        if kind == "good":
            c = draw(st.sampled_from(GOOD_C))
            kwargs[op.curv] = c
        elif kind == "numpy":
            value = draw(st.sampled_from([np.float32(2.0), np.float64(0.5), np.int64(3)]))
            kwargs[op.curv], c = value, float(value)
        elif kind in ("array", "batch"):
            c = draw(st.sampled_from((1.0, 2.5)))
            kwargs[op.curv] = ("array", c) if kind == "array" else ("batch", c)
        else:
            kwargs[op.curv] = draw(st.sampled_from(BAD_C if kind == "bad" else ILL_C))
            must_refuse = True
        what = f"{op.curv}={kwargs[op.curv]!r}"
    elif op.curv in op.kwargs:
        c = draw(st.sampled_from((1.0, 0.5)))
        kwargs[op.curv] = c
    values = base_values(op, rng, c)
    delivery = {name: "float64" for name in arrays}
    if family == "value":
        hostile = draw(st.sampled_from(arrays))
        change = draw(st.sampled_from(VALUE_CHANGES))
        kind, row = kinds[hostile], draw(st.integers(0, R - 1))
        a = values[hostile]
        if change in ("nan", "inf", "-inf"):
            a = a.copy()
            at = (
                (row % a.shape[0],)
                if a.ndim == 1
                else (row, draw(st.integers(a.shape[1] - N, a.shape[1] - 1)))
            )
            a[at] = float(change.replace("nan", "NaN"))
        elif change in ("huge", "tiny"):
            # no subnormal tangent vector: XLA flushes subnormals to zero, so on jax it would be
            # another vector (one that is tangent, where the subnormal one is not)
            sizes = HUGE if change == "huge" else TINY[:3] if kind == "tangent" else TINY
            a = _rescale(a, kind, row, draw(st.sampled_from(sizes)), c)
            change += f" {np.max(np.abs(a[row])):.0e}"
        elif change == "zero":
            a = _rescale(a, kind, row, 0.0, c)
        else:  # the time coordinate (or the first component) scaled off the sheet
            a = a.copy()
            a[(row % a.shape[0], 0)[: a.ndim]] = a[(row % a.shape[0], 0)[: a.ndim]] * 1.5 + 0.5
        values[hostile] = a
        what = change
    elif family == "delivery":
        hostile = draw(st.sampled_from(arrays))
        delivery[hostile] = draw(st.sampled_from((*DTYPES, "masked", "masked_some")))
        # the others in float64 or in the same dtype (mixed precision promotes)
        if draw(st.booleans()):
            for name in arrays:
                if delivery[hostile] in DTYPES:
                    delivery[name] = delivery[hostile]
        what = f"delivered as {delivery[hostile]}"
    elif family == "refused":
        hostile = draw(st.sampled_from(arrays))
        several = len(arrays) > 1
        same_rows = several and not any(kinds[a].endswith("_m") for a in arrays)
        # each form where it is invalid whatever the values: a last dimension of 1 is a valid
        # space part, one short only differs from another array's, rows only from same rows
        options = [
            k
            for k in REFUSED
            if (k != "short" or kinds[hostile] not in ("space", "space_m", "ball"))
            and (k not in ("lastdim", "foreign") or several)
            and (k != "rows" or same_rows)
        ]
        delivery[hostile] = draw(st.sampled_from(options))
        what = REFUSED[delivery[hostile]]
        must_refuse = True
    elif family == "kw":
        hostile = draw(st.sampled_from(knobs))
        if hostile in KW_VALUES and draw(st.booleans()):
            kwargs[hostile] = draw(st.sampled_from(KW_VALUES[hostile]))
        elif draw(st.booleans()):
            kwargs[hostile] = draw(st.sampled_from(KW_VALID[hostile]))
        else:
            kwargs[hostile] = draw(st.sampled_from(KW_BAD[hostile]))
            must_refuse = True
        what = f"{hostile}={kwargs[hostile]!r}"
    for knob in knobs:  # the others valid
        if knob not in kwargs and knob != "implementation":
            kwargs[knob] = KW_VALID[knob][0]
    implementations: tuple[str | None, ...] = (None,)
    if "implementation" in op.kwargs and "implementation" not in kwargs:
        implementations = (None, "reference", "numba")
    return Case(op, values, kwargs, delivery, hostile, what, must_refuse, implementations)


# ------------------------------------------------------------------ delivery


class Skip(Exception):
    """This backend cannot express the case (a dtype it lacks, a numpy-only form)."""


def _as_dtype(values, dtype):
    """float64 values after a round trip through dtype: what the call receives."""
    if dtype == "bfloat16":
        import torch

        return torch.tensor(values).to(torch.bfloat16).double().numpy()
    return values.astype(dtype).astype(np.float64)


def deliver(case: Case, name: str, backend: str, xp):
    """(the argument as passed, its values as the reference sees them (None: refused))."""
    form = case.delivery[name]
    v = case.values[name]
    if form in DTYPES:
        if (backend == "numpy" and form == "bfloat16") or (
            backend == "array_api_strict" and form in ("float16", "bfloat16")
        ):
            raise Skip
        return xp.asarray(v, dtype=getattr(xp, form)), _as_dtype(v, form)
    if form in ("masked", "masked_some"):
        if backend != "numpy":
            raise Skip
        mask = np.zeros(v.shape, bool)
        if form == "masked_some":
            mask[1, -1] = True
        return np.ma.array(v, mask=mask), v
    if form == "list":
        return v.tolist(), None
    if form == "string":
        return "x", None
    if form == "none":
        return None, None
    if form == "pyfloat":
        return 1.0, None
    if form in ("int64", "bool"):
        return xp.asarray(np.round(v).astype(form)), None
    if form == "0d":
        return xp.asarray(1.0, dtype=xp.float64), None
    if form == "short":
        return xp.asarray(v[..., :1]), None
    if form == "lastdim":
        return xp.asarray(v[..., :-1]), None
    if form == "rows":
        return xp.asarray(v[:-1]), None
    if form == "foreign":
        other = "torch" if backend == "numpy" else "numpy"
        return load_backend(other).asarray(v), None
    raise AssertionError(form)


def deliver_kwargs(case: Case, backend: str, xp, impl):
    """The keyword arguments for one backend: a curvature marked ("array", c) goes in as a 0-d
    array of the backend, ("batch", c) as one per row (shape (R,))."""
    kw = {}
    for k, v in case.kwargs.items():
        if isinstance(v, tuple) and v and v[0] in ("array", "batch"):
            kw[k] = xp.asarray(np.full(() if v[0] == "array" else (R,), v[1]), dtype=xp.float64)
        else:
            kw[k] = v
    if "implementation" in case.op.kwargs and "implementation" not in case.kwargs:
        kw["implementation"] = impl
    return kw


def reference_kwargs(case: Case):
    kw = {}
    for k, v in case.kwargs.items():
        if isinstance(v, tuple) and v and v[0] in ("array", "batch"):
            kw[k] = v[1]  # the same curvature as a number
        else:
            kw[k] = v
    if "implementation" in case.op.kwargs:
        kw["implementation"] = "reference"
    return kw


# ------------------------------------------------------------------ classification


@dataclass
class Outcome:
    case: Case
    backend: str
    implementation: object
    kind: str  # named, correct, wrong, crash
    detail: str = ""

    def __repr__(self):
        return f"{self.kind}: {self.case!r} on {self.backend}, implementation={self.implementation!r}: {self.detail}"


def _names(message: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message) is not None


def _results(out):
    """A call's result as a dict of numpy float64 (or int) arrays."""
    if isinstance(out, dict):
        return {k: to_numpy(v) for k, v in out.items()}
    if isinstance(out, tuple):
        return {f"out{i}": to_numpy(v) for i, v in enumerate(out)}
    if isinstance(out, np.ma.MaskedArray):
        return {"out": np.ma.getdata(out).astype(np.float64)}
    return {"out": to_numpy(out)}


RTOL = {"float64": 1e-7, "float32": 2e-4, "float16": 3e-2, "bfloat16": 2e-1}


def _dtype_name(a) -> str:
    return str(getattr(a, "dtype", "float64")).rsplit(".", 1)[-1]


def compare(case: Case, got: dict, want: dict, dtype: str, got_raw, inputs: dict) -> str:
    """'' when got is the reference's answer on the same values, else what differs."""
    if set(got) != set(want):
        return f"outputs {sorted(got)} != {sorted(want)}"
    inputs = {n: to_numpy(v) for n, v in inputs.items()}
    numbers = [v for v in case.kwargs.values() if isinstance(v, float)]
    finite_in = all(np.all(np.isfinite(v)) for v in [*inputs.values(), *numbers])
    nan_in = any(np.any(np.isnan(v)) for v in [*inputs.values(), *numbers])
    inf_in = any(np.any(np.isinf(v)) for v in [*inputs.values(), *numbers])
    rtol = RTOL.get(dtype, 1e-7)
    for key, w in want.items():
        g = got[key]
        if g.shape != w.shape:
            return f"{key}: shape {g.shape} != {w.shape}"
        if g.dtype.kind in "iu" or w.dtype.kind in "iu":
            continue  # knn's indices: checked through the distances below
        if dtype in ("float32", "float16", "bfloat16"):  # the reference's answer in that dtype
            with np.errstate(over="ignore", invalid="ignore"):
                w = _as_dtype(w, dtype)
        if inf_in and not nan_in and w.ndim:
            # an infinite component has no one right answer (inf - inf, or a limit): a row the
            # reference makes non-finite must hold a non-finite value (NaN or inf, anywhere in
            # it) and is not compared further; every other row must be the reference's
            hit_w = np.any(~np.isfinite(w.reshape(w.shape[0], -1)), axis=1)
            hit_g = np.any(~np.isfinite(g.reshape(g.shape[0], -1)), axis=1)
            if np.any(hit_w & ~hit_g):
                return f"{key}: rows {np.flatnonzero(hit_w & ~hit_g).tolist()} finite, not the reference's"
            g, w = g[~hit_w], w[~hit_w]
            if not w.size:  # every row non-finite, as the reference's
                continue
        if not np.array_equal(np.isnan(g), np.isnan(w)):
            return (
                f"{key}: NaN at {np.argwhere(np.isnan(g)).tolist()}, "
                f"reference at {np.argwhere(np.isnan(w)).tolist()}"
            )
        if not np.array_equal(
            np.where(np.isinf(g), np.sign(g), 0), np.where(np.isinf(w), np.sign(w), 0)
        ):
            return (
                f"{key}: inf at {np.argwhere(np.isinf(g)).tolist()}, "
                f"reference at {np.argwhere(np.isinf(w)).tolist()}"
            )
        ok = np.isfinite(w)
        scale = np.abs(w) + (
            np.max(np.where(ok, np.abs(w), 0), axis=-1, keepdims=True) if w.ndim else 0
        )
        with np.errstate(over="ignore", invalid="ignore"):
            bad = ok & ~(np.abs(g - w) <= rtol * scale + 1e-300)
        if np.any(bad):
            i = tuple(np.argwhere(bad)[0])
            return f"{key}: {g[i]!r} where the reference gives {w[i]!r} (at {i})"
        # the reference's own answer against the NaN policy and the bounds
        if finite_in and np.any(np.isnan(w)):
            return f"{key}: NaN from finite inputs (the reference too)"
        if finite_in and case.op.bounded and np.any(np.isinf(w)):
            return f"{key}: inf from finite inputs, for a bounded quantity (the reference too)"
    if nan_in and not case.op.keys_drop_nan and not any(np.any(np.isnan(w)) for w in want.values()):
        return "a NaN input gave no NaN (the reference too)"
    if case.op.name == "knn":  # the indices name keys at the distances returned
        d, i = got["out0"], got["out1"]
        if i.dtype != np.int64 or np.any((i < 0) | (i >= M)):
            return f"indices {i.tolist()}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            c = reference_kwargs(case).get("c", 1.0)
            table = lorentz.pairwise_dist(
                inputs["queries"], inputs["keys"], c=c, implementation="reference"
            )
        picked = np.take_along_axis(table, i, axis=1)
        ok = ~np.isnan(d)
        if not np.allclose(np.where(ok, picked, 0), np.where(ok, d, 0), rtol=rtol, atol=0):
            return f"indices {i.tolist()} are not the keys at distances {d.tolist()}"
    return ""


def classify(case: Case, backend: str, impl) -> Outcome | None:
    """Run the case on one backend and implementation (None where it cannot be expressed)."""
    xp = load_backend(backend)
    try:
        delivered = {n: deliver(case, n, backend, xp) for n in case.values}
        kw = deliver_kwargs(case, backend, xp, impl)
    except Skip:
        return None
    args = {n: d[0] for n, d in delivered.items()}
    inputs = {n: d[1] for n, d in delivered.items()}
    before = {n: to_numpy(a).copy() for n, a in args.items() if _is_array(a)}
    try:
        with warnings.catch_warnings():
            # numpy's warnings on non-finite or extreme input ("invalid value", "overflow") are
            # no failure: the result is judged (the suite's pytest setting makes them errors)
            warnings.simplefilter("ignore", RuntimeWarning)
            out = case.op.call(args, dict(kw))
    except (TypeError, ValueError) as e:
        named = (case.hostile and _names(str(e), case.hostile)) or _names_shapes(case, str(e))
        # an implementation the runner forced may be refused by name for these inputs
        if named or (impl is not None and _names(str(e), "implementation")):
            return Outcome(case, backend, impl, "named", f"{type(e).__name__}: {e}")
        return Outcome(case, backend, impl, "crash", f"unnamed {type(e).__name__}: {e}")
    except Exception as e:
        return Outcome(case, backend, impl, "crash", f"{type(e).__name__}: {str(e)[:300]}")
    for n, a in args.items():
        if n in before and not np.array_equal(to_numpy(a), before[n], equal_nan=True):
            return Outcome(case, backend, impl, "wrong", f"{n} was modified")
    if case.must_refuse or any(v is None for v in inputs.values()):
        return Outcome(case, backend, impl, "wrong", f"accepted ({case.what})")
    if case.op.refuses_nonfinite and case.op.name.startswith("check"):
        # the validators' tolerance is the dtype's: they are judged in the delivered dtype
        inputs = {n: _in_dtype(v, case.delivery[n]) for n, v in inputs.items()}
    if backend == "jax":  # XLA flushes subnormal numbers to zero: judged on the values jax holds
        inputs = {n: _flushed(v) for n, v in inputs.items()}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = _results(case.op.call(inputs, reference_kwargs(case)))
    except (TypeError, ValueError) as e:
        return Outcome(case, backend, impl, "wrong", f"a result where the reference refuses: {e}")
    got = _results(out)
    if isinstance(out, np.ma.MaskedArray):  # masked entries carry no value to compare
        got["out"] = np.where(np.ma.getmaskarray(out), want["out"], got["out"])
    dtype = _out_dtype(out)
    problem = compare(case, got, want, dtype, out, inputs)
    return Outcome(case, backend, impl, "wrong" if problem else "correct", problem)


def _in_dtype(values, form):
    """values as an array of the delivered dtype (numpy, or torch for bfloat16)."""
    if form == "bfloat16":
        import torch

        return torch.tensor(values).to(torch.bfloat16)
    return values.astype(form) if form in DTYPES else values


def _names_shapes(case: Case, message: str) -> bool:
    """Shape mismatches name both arrays: the message names one of the function's arrays."""
    if case.delivery.get(case.hostile) not in ("lastdim", "rows", "short", "0d", "foreign"):
        return False
    return any(_names(message, n) for n in case.values)


def _is_array(a) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype")


def _out_dtype(out) -> str:
    if isinstance(out, dict):
        out = next(iter(out.values()))
    if isinstance(out, tuple):
        out = out[0]
    return _dtype_name(out)


def _flushed(v):
    """v with its subnormal components replaced by zeros of the same sign (XLA's view of it)."""
    if not isinstance(v, np.ndarray) or v.dtype.kind != "f":
        return v
    return np.where(np.abs(v) < np.finfo(v.dtype).tiny, np.copysign(np.zeros_like(v), v), v)


def run(case: Case, backends=BACKENDS) -> list[Outcome]:
    """Every backend and implementation that can express the case."""
    outcomes = []
    for backend in backends:
        for impl in case.implementations:
            if impl == "numba" and backend not in ("numpy", "torch"):
                continue  # refused by name on every other library: tested once in test_dispatch
            o = classify(case, backend, impl)
            if o is not None:
                outcomes.append(o)
    return outcomes
