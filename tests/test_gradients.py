"""Gradients: finite at every degenerate input, gradcheck in float64, jax.grad agrees with
torch, and every function runs under jax.jit and torch.compile(fullgraph=True)."""

from __future__ import annotations

import numpy as np
import pytest

import lorentz
from lorentz.testing._operations import caller, registered

torch = pytest.importorskip("torch")  # installed by the test extra; CI never skips
jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

# every public function as f(x, y, u, c): x, y points, u tangent at x, c curvature; the
# registered operations from their kind of inputs (u serves as the tangent vector at the
# origin too: its time component is not read there), the rest by hand
OPS = {
    name: (lambda x, y, u, c, f=caller(name): f(dict(x=x, y=y, u=u, v=u), c=c))
    for name in registered()
}
OPS |= {
    "inner": lambda x, y, u, c: lorentz.inner(x, y),
    "norm": lambda x, y, u, c: lorentz.norm(u),
    "knn": lambda x, y, u, c: lorentz.knn(x, y, 2, c=c)[0],
    "project": lambda x, y, u, c: lorentz.project(x, c=c),
    "project_tangent": lambda x, y, u, c: lorentz.project_tangent(x, u, c=c),
    # |xs| / (1 + x0^2) <= 1/2: inside the ball for every c here
    "from_poincare": lambda x, y, u, c: lorentz.from_poincare(
        x[..., 1:] / (1 + x[..., :1] ** 2), c=c
    ),
    "from_space": lambda x, y, u, c: lorentz.from_space(lorentz.to_space(x), c=c),
}


def _points(space: np.ndarray, c: float) -> np.ndarray:
    x0 = np.sqrt(1 / c + np.sum(space**2, axis=-1, keepdims=True))
    return np.concatenate([x0, space], axis=-1)


def _tangent(x: np.ndarray, us: np.ndarray) -> np.ndarray:
    return np.concatenate([np.sum(x[..., 1:] * us, -1, keepdims=True) / x[..., :1], us], -1)


def degenerate_cases(c: float = 1.3) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(x, y, u) batches of 2 rows where textbook formulas divide by zero or take sqrt(0)."""
    rng = np.random.default_rng(7)
    s = rng.normal(size=(2, 3))
    zero = np.zeros((2, 3))
    return {
        "generic": (
            _points(s, c),
            _points(rng.normal(size=(2, 3)), c),
            _tangent(_points(s, c), rng.normal(size=(2, 3))),
        ),
        "x == y": (_points(s, c), _points(s, c), _tangent(_points(s, c), rng.normal(size=(2, 3)))),
        "u == 0": (_points(s, c), _points(2 * s, c), np.zeros((2, 4))),
        "origin": (_points(zero, c), _points(s, c), _tangent(_points(zero, c), s)),
        "both at origin": (_points(zero, c), _points(zero, c), np.zeros((2, 4))),
        "collinear": (_points(s, c), _points(3 * s, c), _tangent(_points(s, c), s)),
        "collinear inward": (_points(3 * s, c), _points(s, c), _tangent(_points(3 * s, c), -s)),
        "far near pair": (
            _points(1e3 * s, c),
            _points(1e3 * s + 1e-6, c),
            _tangent(_points(1e3 * s, c), s),
        ),
    }


CASES = degenerate_cases()


def _torch_grads(op, x, y, u, c=1.3):
    args = [torch.tensor(a, requires_grad=True) for a in (x, y, u)]
    ct = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    out = OPS[op](*args, ct)
    return torch.autograd.grad(out.sum(), [*args, ct], allow_unused=True)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("op", list(OPS))
def test_torch_gradients_finite(op, case):
    grads = _torch_grads(op, *CASES[case])
    for g in grads:
        assert g is None or bool(torch.isfinite(g).all()), (op, case, grads)


def _jax_grads(op, x, y, u, c=1.3):
    f = lambda x, y, u, c: jnp.sum(OPS[op](x, y, u, c))
    args = [jnp.asarray(a) for a in (x, y, u)] + [jnp.asarray(c)]
    return [np.asarray(g) for g in jax.grad(f, argnums=(0, 1, 2, 3))(*args)]


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("op", list(OPS))
def test_jax_gradients_finite(op, case):
    for g in _jax_grads(op, *CASES[case]):
        assert np.isfinite(g).all(), (op, case)


# Only where the functions are differentiable: at x == y, at the origin or on the ray through
# the origin, any subgradient is valid and rounding noise picks which one each backend gets.
@pytest.mark.parametrize("case", ["generic", "far near pair"])
@pytest.mark.parametrize("op", list(OPS))
def test_jax_gradients_agree_with_torch(op, case):
    for g, r in zip(_jax_grads(op, *CASES[case]), _torch_grads(op, *CASES[case])):
        r = np.zeros_like(g) if r is None else r.numpy()
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", list(OPS))
def test_gradcheck_float64(op):
    rng = np.random.default_rng(3)
    c = 0.7
    s = rng.normal(size=(3, 2))
    x, y = _points(s, c), _points(s + 0.5 * rng.normal(size=(3, 2)), c)
    u = _tangent(x, rng.normal(size=(3, 2)))
    inputs = tuple(torch.tensor(a, requires_grad=True) for a in (x, y, u)) + (
        torch.tensor(c, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(lambda *a: OPS[op](*a), inputs)


def test_learnable_curvature_receives_gradient():
    x, y, _ = CASES["generic"]
    c = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    lorentz.dist(torch.tensor(x), torch.tensor(y), c=c).sum().backward()
    assert c.grad is not None and bool(torch.isfinite(c.grad)) and float(c.grad) != 0


@pytest.mark.parametrize("op", list(OPS))
def test_jax_jit(op):
    x, y, u = (jnp.asarray(a) for a in CASES["generic"])
    eager = OPS[op](x, y, u, jnp.asarray(1.3))
    jitted = jax.jit(OPS[op])(x, y, u, jnp.asarray(1.3))
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-13, atol=1e-15)


@pytest.mark.slow
@pytest.mark.parametrize("op", list(OPS))
def test_torch_compile_fullgraph(op):
    torch._dynamo.reset()
    x, y, u = (torch.tensor(a) for a in CASES["generic"])
    c = torch.tensor(1.3, dtype=torch.float64)
    eager = OPS[op](x, y, u, c)
    compiled = torch.compile(OPS[op], fullgraph=True, backend="aot_eager")(x, y, u, c)
    torch.testing.assert_close(compiled, eager, rtol=1e-13, atol=1e-15)


@pytest.mark.slow
def test_torch_compile_inductor_dist_and_expmap0():
    """The default backend (inductor, generated C++) on the two hottest operations."""
    torch._dynamo.reset()
    x, y, u = (torch.tensor(a) for a in CASES["generic"])
    f = lambda x, y, u: (lorentz.dist(x, y, c=0.5), lorentz.expmap0(u, c=0.5))
    for got, want in zip(torch.compile(f, fullgraph=True)(x, y, u), f(x, y, u)):
        torch.testing.assert_close(got, want, rtol=1e-13, atol=1e-15)


def test_sinh_gradient_at_zero():
    """The odd extension must not take sign(t): its gradient at 0 is 0, sinh's is 1."""
    import torch

    from lorentz._guarded import sinh

    t = torch.tensor([0.0, -0.0, 0.5, -0.5], dtype=torch.float64, requires_grad=True)
    sinh(t, xp=torch).sum().backward()
    assert torch.allclose(t.grad, torch.cosh(t.detach()), rtol=1e-15, atol=0)


@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_expmap_gradient_in_x_at_the_origin(implementation):
    """exp_x(u) = cosh(t) x + sinhc(t) u is smooth in x at the origin, where t depends on x only
    through (xs.us)^2: d/dxs of w.exp_x(u) there is cosh(t) (ws + w0 ys / y0). The split along
    xs_hat has no direction at the origin, and its guards gave 0."""
    torch = pytest.importorskip("torch")
    u = np.array([[0.0, 0.3, -0.4, 0.2], [0.0, 0.0, 0.0, 0.0]])
    x = torch.tensor(np.concatenate([np.ones((2, 1)), np.zeros((2, 3))], -1), requires_grad=True)
    w = torch.tensor([[0.5, 1.0, -2.0, 0.25], [0.5, 1.0, -2.0, 0.25]], dtype=torch.float64)
    y = lorentz.expmap(x, torch.tensor(u), implementation=implementation)
    (g,) = torch.autograd.grad((w * y).sum(), [x])
    t = np.linalg.norm(u[:, 1:], axis=-1, keepdims=True)
    yv = y.detach().numpy()
    want = np.cosh(t) * (w.numpy()[:, 1:] + w.numpy()[:, :1] * yv[:, 1:] / yv[:, :1])
    np.testing.assert_allclose(g.numpy()[:, 1:], want, rtol=1e-14)
    assert np.all(g.numpy()[:, 0] == 0)


@pytest.mark.parametrize("implementation", ["reference", "numba"])
def test_transport_gradient_in_x_at_the_origin(implementation):
    """P(v) is smooth in x at the origin; the split along xs_hat has no direction there, and
    the reference's autograd through it found d<y,v>_L/dxs = -vs instead of -(y0/x0) vs (the
    gradient up to 100% off). Checked against central differences (float64, step 1e-6)."""
    torch = pytest.importorskip("torch")

    def f(xs, ys, vs, c):
        x = lorentz.from_space(xs, c=c)
        v = lorentz.project_tangent(x, torch.cat([torch.zeros(1, dtype=vs.dtype), vs]), c=c)
        return lorentz.transport(
            x, lorentz.from_space(ys, c=c), v, c=c, implementation=implementation
        )

    w = torch.tensor([0.5, 1.0, -2.0, 0.25], dtype=torch.float64)
    vs = torch.tensor([0.3, -1.2, 0.5], dtype=torch.float64)
    for c in (0.7, 3.0):
        for ys in ([0.4, 0.2, -1.0], [30.0, -2.0, 5.0], [-5.0, 0.0, 0.0]):
            ys = torch.tensor(ys, dtype=torch.float64)
            xs = torch.zeros(3, dtype=torch.float64, requires_grad=True)
            (g,) = torch.autograd.grad((w * f(xs, ys, vs, c)).sum(), [xs])
            e = 1e-6 * torch.eye(3, dtype=torch.float64)
            fd = torch.stack(
                [
                    ((w * f(e[i], ys, vs, c)).sum() - (w * f(-e[i], ys, vs, c)).sum()) / 2e-6
                    for i in range(3)
                ]
            )
            # central differences of a smooth function: error O(h^2) + eps/h ~ 1e-10 relative
            np.testing.assert_allclose(
                g.numpy(), fd.numpy(), rtol=1e-7, atol=1e-7 * float(fd.abs().max())
            )
