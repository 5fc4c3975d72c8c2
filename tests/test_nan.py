"""The NaN policy: a NaN in reaches exactly the outputs it touches, as in numpy, on every backend
and implementation; it is never turned into a finite answer (the guards that keep gradients
finite let it through) and never leaks into other rows."""

from __future__ import annotations

import numpy as np
import pytest

import lorentz
import lorentz.meru
from lorentz._registry import OPERATIONS
from lorentz.testing import to_numpy
from lorentz.testing._backends import asarray
from lorentz.testing._operations import caller, registered, takes_implementation

rng = np.random.default_rng(41)
S = rng.normal(size=(3, 4))
X = lorentz.from_space(S)
Y = lorentz.from_space(S[::-1] + 0.3)
U = lorentz.project_tangent(X, np.concatenate([np.zeros((3, 1)), rng.normal(size=(3, 4))], -1))
V = np.concatenate([np.zeros((3, 1)), rng.normal(size=(3, 4))], -1)  # tangent at the origin

# every public function but the validators, as f(x, y, u, v, impl) on 3 rows: the registered
# operations from their kind of inputs (impl where they have kernels), the rest by hand
OPS = {
    name: (
        lambda x, y, u, v, impl, f=caller(name), kw=takes_implementation(name): f(
            dict(x=x, y=y, u=u, v=v), **({"implementation": impl} if kw else {})
        )
    )
    for name in registered()
}
OPS |= {
    "inner": lambda x, y, u, v, impl: lorentz.inner(x, y),
    "norm": lambda x, y, u, v, impl: lorentz.norm(u),
    "project": lambda x, y, u, v, impl: lorentz.project(x),
    "project_tangent": lambda x, y, u, v, impl: lorentz.project_tangent(x, u),
    "from_poincare": lambda x, y, u, v, impl: lorentz.from_poincare(
        x[..., 1:] / (1 + x[..., :1] ** 2)
    ),
    "to_space": lambda x, y, u, v, impl: lorentz.to_space(x),
    "from_space": lambda x, y, u, v, impl: lorentz.from_space(x[..., 1:]),
}
# which argument carries the NaN (the one each function reads)
CARRIER = {"norm": "u", "expmap0": "v"}
# the functions that validate their input's values, and refuse a NaN with a named error
RAISES = {"from_poincare": "p must be finite"}
# the components of the NaN row's output that the NaN (space coordinate 2 of the carrier)
# touches, where that is not all of them: coordinate-wise functions, the time coordinate
# re-derived from the space part, logmap0's time component (0 whatever the input)
TOUCHED = {"to_space": [1], "from_space": [0, 2], "project": [0, 2], "logmap0": [1, 2, 3, 4]}


@pytest.mark.parametrize("impl", [None, "reference"])
@pytest.mark.parametrize("op", list(OPS))
def test_nan_reaches_exactly_what_it_touches(xp, op, impl):
    args = {"x": X.copy(), "y": Y.copy(), "u": U.copy(), "v": V.copy()}
    clean = to_numpy(OPS[op](*(asarray(xp, a) for a in args.values()), impl))
    args[CARRIER.get(op, "x")][1, 2] = np.nan
    if op in RAISES:
        with pytest.raises(ValueError, match=RAISES[op]):
            OPS[op](*(asarray(xp, a) for a in args.values()), impl)
        return
    got = to_numpy(OPS[op](*(asarray(xp, a) for a in args.values()), impl))
    assert got.shape == clean.shape
    row = got[1].reshape(-1)
    touched = np.zeros(row.shape, bool)
    touched[TOUCHED.get(op, slice(None))] = True
    assert np.all(np.isnan(row[touched])), (op, got[1])
    np.testing.assert_array_equal(row[~touched], clean[1].reshape(-1)[~touched])
    np.testing.assert_array_equal(np.delete(got, 1, axis=0), np.delete(clean, 1, axis=0))


@pytest.mark.parametrize("impl", [None, "reference"])
def test_knn_with_nan_queries_and_keys(xp, impl):
    keys = lorentz.from_space(rng.normal(size=(20, 4)))
    queries = X.copy()
    clean_d, clean_i = (
        to_numpy(a)
        for a in lorentz.knn(asarray(xp, queries), asarray(xp, keys), 3, implementation=impl)
    )
    queries[1, 2] = np.nan
    keys[int(clean_i[0, 0]), 3] = np.nan  # the nearest key of query 0
    d, i = (
        to_numpy(a)
        for a in lorentz.knn(asarray(xp, queries), asarray(xp, keys), 3, implementation=impl)
    )
    assert np.all(np.isnan(d[1])) and np.all(
        (i[1] >= 0) & (i[1] < 20)
    )  # a NaN query: NaN, valid rows
    bad = int(clean_i[0, 0])
    assert bad not in i[[0, 2]]  # a NaN key is nobody's neighbour
    assert np.all(np.isfinite(d[[0, 2]]))
    if bad not in clean_i[2]:
        np.testing.assert_array_equal(d[2], clean_d[2])


def test_meru_loss_with_a_nan_embedding():
    torch = pytest.importorskip("torch")
    image, text = torch.tensor(S), torch.tensor(S[::-1].copy())
    image[1, 0] = float("nan")
    out = lorentz.meru.meru_loss(image, text, curv=1.0, logit_scale=10.0)
    assert torch.isnan(out["loss"]) and torch.isnan(out["contrastive"])


@pytest.mark.parametrize(
    "op", ["dist", "pairwise_dist", "expmap0", "logmap0", "exterior_angle", "transport"]
)
def test_nan_gradients_stay_on_their_rows(op):
    """Gradients of a NaN row are NaN, those of other rows finite and as without it."""
    torch = pytest.importorskip("torch")

    def grads(x):
        x = torch.tensor(x, requires_grad=True)
        out = OPS[op](x, torch.tensor(Y), torch.tensor(U), x, None)
        (g,) = torch.autograd.grad(out.sum(), [x])
        return g.numpy()

    clean = grads(X)
    dirty = X.copy()
    dirty[1, 2] = np.nan
    got = grads(dirty)
    assert np.isnan(got[1]).any()
    np.testing.assert_allclose(got[[0, 2]], clean[[0, 2]], rtol=1e-12)


@pytest.mark.parametrize("impl", [None, "reference"])
@pytest.mark.parametrize(
    "name",
    [n for n in registered() if OPERATIONS[n].inputs in ("pair", "distinct", "rows", "transport")],
)
def test_nan_against_the_origin(xp, name, impl):
    """A NaN row paired with the origin: the compiled kernels' range check took max(0, NaN) as
    0 and sent the pair to the rescaled form, which returned a finite 0 (numba dist,
    pairwise_dist)."""
    origin = np.array([[1.0, 0.0, 0.0, 0.0, 0.0]])
    bad = X[:1].copy()
    bad[0, 2] = np.nan
    arrays = {
        "x": asarray(xp, origin),
        "y": asarray(xp, bad),
        "u": asarray(xp, 0 * origin),
        "v": asarray(xp, 0 * origin),
    }
    kw = {"implementation": impl} if takes_implementation(name) else {}
    out = to_numpy(caller(name)(arrays, **kw))
    assert np.isnan(out).all(), out
