"""The numba kernels serving torch CPU tensors (lorentz._numba.torch_ops) against the
reference, forward and backward, on the hard cases: near pairs far out, x == y, the origin,
huge and tiny norms; automatic choice, dtype and requires_grad kept, opcheck, torch.compile."""

from __future__ import annotations

import numpy as np
import pytest

import lorentz
from lorentz.testing._accuracy import BOUND
from lorentz.testing._kernel_cases import (
    DTYPES,
    KINDS,
    hard_rows,
    inputs,
    points,
    tangent_rows,
    transport_vectors,
)

torch = pytest.importorskip("torch")
pytest.importorskip("numba")  # installed by the test extra; CI never skips

OPS = [
    "dist",
    "dist0",
    "expmap0",
    "logmap0",
    "half_aperture",
    "exterior_angle",
    "to_poincare",
    "from_poincare",
    "expmap",
    "logmap",
    "transport",
]
PAIRS = ("dist", "exterior_angle", "expmap", "logmap")
KWARGS = {"half_aperture": {"min_radius": 0.1}}


def arrays(op, x, y, c):
    """The operation's array arguments: transport moves tangent vectors at x to y."""
    if op == "transport":
        return x, y, transport_vectors(x, y, x.dtype, c)
    return (x, y) if op in PAIRS else (x,)


def call(op, x, y, c, implementation):
    """The operation's value and the gradients of a fixed weighting of it w.r.t. its inputs."""
    args = [torch.tensor(a, requires_grad=True) for a in arrays(op, x, y, c)]
    out = getattr(lorentz, op)(*args, c=c, implementation=implementation, **KWARGS.get(op, {}))
    weights = torch.sin(torch.arange(out.numel(), dtype=out.dtype)).reshape(out.shape) + 1.5
    grads = torch.autograd.grad((out * weights).sum(), args)
    return out, grads


ANGLES = ("half_aperture", "exterior_angle")  # whose contract is absolute, in radians


def close(got, want, dtype, angle=False):
    """Values elementwise within twice the contract (both sides meet it against the exact
    value); gradients per row within 4x the contract of the row's norm (a gradient is a vector:
    the reference forms it by autograd of the cancellation-free value, the kernel in closed
    form; measured up to 2.2e-15 relative in float64 on these cases)."""
    tol = BOUND[np.dtype(dtype).name]
    g, w = got.detach().double(), want.detach().double()
    assert g.shape == w.shape
    if g.ndim == 1:
        scale = 1.0 if angle else w.abs()
        assert torch.all((g - w).abs() <= 2 * tol * scale), (g - w).abs().max()
    else:
        diff = torch.linalg.vector_norm(g - w, dim=-1)
        assert torch.all(diff <= 4 * tol * torch.linalg.vector_norm(w, dim=-1)), diff.max()


def inputs_for(op, case, dtype, c):
    if case == "hard":
        x, y = hard_rows(dtype, c)
    else:
        x, y = inputs(case, dtype, c)
        m = min(x.shape[0], y.shape[0])
        x, y = x[:m], y[:m]
    if op == "expmap0":
        x = (
            tangent_rows(dtype)
            if case == "hard"
            else np.concatenate(
                [0 * x[:, :1], x[:, 1:] / np.maximum(1.0, np.abs(x[:, 1:]).max() / 3)], -1
            )
        )
    if op == "expmap":  # the tangent vectors at x that reach y: tiny steps far out, zero steps,
        # long steps back past the origin
        y = np.asarray(lorentz.logmap(x.astype(np.float64), y.astype(np.float64), c=c)).astype(
            dtype
        )
    if op == "half_aperture" and case == "hard":  # inside, on and just outside the radius 2K
        rim = x[:3, 1:] / np.linalg.norm(x[:3, 1:].astype(np.float64), axis=1, keepdims=True)
        rim = rim * (0.2 / np.sqrt(c)) * np.array([[0.5], [1.0], [1.0 + 1e-6]])
        x = np.concatenate([x, points(rim, c, dtype)])
    if op == "from_poincare":  # ball coordinates of the points, kept off the rim
        x = np.asarray(lorentz.to_poincare(x.astype(np.float64), c=c))
        x = (
            x
            * np.minimum(
                1.0,
                0.99 / np.sqrt(c) / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300),
            )
        ).astype(dtype)
    return x, y


@pytest.mark.parametrize("c", [1.0, 0.3])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["hard", *KINDS])
@pytest.mark.parametrize("op", OPS)
def test_forward_and_backward_match_the_reference(op, case, dtype, c):
    x, y = inputs_for(op, case, dtype, c)
    out, grads = call(op, x, y, c, "numba")
    ref, ref_grads = call(op, x, y, c, "reference")
    assert isinstance(out, torch.Tensor) and out.dtype == ref.dtype and out.requires_grad
    close(out, ref, dtype, op in ANGLES)
    for i, (g, w) in enumerate(zip(grads, ref_grads)):
        assert g.dtype == w.dtype
        if op != "from_poincare":  # whose input has no time component
            assert torch.all(g[..., 0] == 0)  # time components are never read
        if op == "transport" and i == 0:  # the reference's gradient in x at the origin is not
            # transport's (its d<y,v>_L/dxs there is -vs, not -(y0/x0) vs: 24% off at y = (0.4,
            # 0.2, -1), c = 0.7); the kernel's: test_transport_gradients_at_degenerate_points
            keep = torch.from_numpy(np.any(x[:, 1:] != 0, axis=1))
            g, w = g[keep], w[keep]
        close(g, w, dtype)
    # numpy arrays take the same kernels
    args = arrays(op, x, y, c)
    f = getattr(lorentz, op)
    got = f(*args, c=c, implementation="numba", **KWARGS.get(op, {}))
    assert isinstance(got, np.ndarray) and got.dtype == dtype
    close(torch.from_numpy(np.asarray(got)), ref, dtype, op in ANGLES)


def test_zero_subgradients_and_nan():
    """x == y and the origin give the zero subgradient; NaN in gives NaN out, value and
    gradient, only in its own row."""
    x, y = hard_rows(np.float64, 1.0)
    x[1, 2] = np.nan
    out, (gx, gy) = call("dist", x, y, 1.0, "numba")
    assert torch.isnan(out[1]) and torch.isnan(gx[1, 1:]).all()
    assert torch.isfinite(out[[0, *range(2, len(out))]]).all()
    assert torch.all(gx[6] == 0) and torch.all(gy[6] == 0)  # x == y
    o = torch.zeros((1, 4), dtype=torch.float64, requires_grad=True)
    for op in ("dist0", "expmap0", "logmap0"):
        (g,) = torch.autograd.grad(getattr(lorentz, op)(o, implementation="numba").sum(), o)
        want = [0.0, 1.0, 1.0, 1.0] if op != "dist0" else [0.0] * 4
        assert g[0].tolist() == want, op


@pytest.mark.parametrize("op", OPS)
def test_automatic_choice_takes_the_kernels(op, monkeypatch):
    from lorentz._numba import torch_ops

    calls = []
    real = getattr(torch_ops, op)
    monkeypatch.setattr(torch_ops, op, lambda *a: calls.append(op) or real(*a))
    x = torch.tensor(inputs("random", np.float32, 1.0)[0][:5])
    if op == "from_poincare":
        x = x[:, 1:] / (4 * x[:, 1:].abs().sum(1, keepdim=True))
    n = 3 if op == "transport" else 2 if op in PAIRS else 1
    getattr(lorentz, op)(*[x] * n)
    assert calls == [op]
    # a learnable curvature and half precision take the reference
    c = torch.tensor(1.0, requires_grad=True)
    getattr(lorentz, op)(*[x] * n, c=c)
    getattr(lorentz, op)(*[x.half()] * n)
    assert calls == [op]


def test_broadcasting_and_batch_shapes():
    x, y = inputs("random", np.float64, 1.0)
    xt = torch.tensor(x[:4], requires_grad=True)
    yt = torch.tensor(y[:3], requires_grad=True)
    for impl in ("numba", "reference"):
        d = lorentz.dist(xt[:, None], yt[None, :], keepdim=True, implementation=impl)
        assert d.shape == (4, 3, 1)
        gx, gy = torch.autograd.grad(d.sum(), (xt, yt))
        if impl == "numba":
            got = (d, gx, gy)
        else:
            for g, w in zip(got, (d, gx, gy)):
                torch.testing.assert_close(g, w, rtol=1e-13, atol=1e-15)


def test_operators_pass_opcheck():
    import lorentz._numba.torch_ops  # noqa: F401  (registers the operators)

    x, y = (torch.tensor(a[:6], requires_grad=True) for a in inputs("random", np.float64, 1.0))
    ops = torch.ops.lorentz
    for op, args in (
        (ops.numba_dist.default, (x, y, 0.7)),
        (ops.numba_dist0.default, (x, 0.7)),
        (ops.numba_expmap0.default, (x, 0.7)),
        (ops.numba_logmap0.default, (x, 0.7)),
        (ops.numba_half_aperture.default, (x, 0.7, 0.1)),
        (ops.numba_exterior_angle.default, (x, y, 0.7)),
        (ops.numba_to_poincare.default, (x, 0.7)),
        (ops.numba_from_poincare.default, (x[:, 1:] / 10, 0.7)),
        (ops.numba_expmap.default, (x, (x / 3).detach().requires_grad_(), 0.7)),
        (ops.numba_logmap.default, (x, y, 0.7)),
        (ops.numba_transport.default, (x, y, (x / 3).detach().requires_grad_(), 0.7)),
    ):
        torch.library.opcheck(op, args)


@pytest.mark.slow
def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    x, y = (torch.tensor(a[:6], dtype=torch.float32) for a in inputs("random", np.float32, 1.0))

    def f(x, y):
        z = lorentz.from_poincare(lorentz.to_poincare(lorentz.expmap0(lorentz.logmap0(y))))
        return (
            lorentz.dist(x, y)
            + lorentz.dist0(z)
            + lorentz.half_aperture(z)
            + lorentz.transport(x, y, z).sum(-1)
        )

    for impl in ("compiled", "eager"):
        xa, ya = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
        g = torch.compile(f, fullgraph=True, backend="aot_eager") if impl == "compiled" else f
        out = g(xa, ya)
        grads = torch.autograd.grad(out.sum(), (xa, ya))
        if impl == "compiled":
            got = (out, *grads)
        else:
            for a, b in zip(got, (out, *grads)):
                torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_transport_gradients_at_degenerate_points():
    """The kernel's closed-form gradients against finite differences of its own value where the
    formula degenerates: x at the origin (no radial direction), y at the origin, x == y, both at
    the origin, v == 0, x across the origin from y, and radial pairs far out on an axis (whose
    e_x = ys - (y0/x0) xs is formed by backward._pull: it cancels as a plain difference)."""
    c = 0.7
    xs = [
        [0, 0, 0],
        [0.5, -0.3, 0.2],
        [0.5, -0.3, 0.2],
        [0, 0, 0],
        [0.5, -0.3, 0.2],
        [3, 1, 2],
        [1000, 0, 0],
        [0, 1000, 0],
    ]
    ys = [
        [0.4, 0.2, -1],
        [0, 0, 0],
        [0.5, -0.3, 0.2],
        [0, 0, 0],
        [1.5, 0.1, 0.2],
        [-3, -1, -2],
        [1000 - 1e-3, 0, 0],
        [0, 1000 + 1e-6, 0],
    ]
    x, y = points(xs, c), points(ys, c)
    v = np.asarray(lorentz.project_tangent(x, np.sin(np.arange(x.size)).reshape(x.shape), c=c))
    v[4] = 0.0
    args = [torch.tensor(a, requires_grad=True) for a in (x, y, v)]
    assert torch.autograd.gradcheck(lambda *a: torch.ops.lorentz.numba_transport(*a, c), args)
    # and against the reference's gradients in y and v (in x where x is not the origin)
    got = call("transport", x, y, c, "numba")[1]
    want = call("transport", x, y, c, "reference")[1]
    for i, (g, w) in enumerate(zip(got, want)):
        rows = [r for r in range(len(x)) if i > 0 or np.any(x[r, 1:] != 0)]
        close(g[rows], w[rows], np.float64)
