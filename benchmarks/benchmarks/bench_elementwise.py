"""asv: the elementwise operations on numpy, torch CPU and jax (under jit) against the textbook
formula in the same library, float32, 20,000 x 128 (benchmarks/elementwise.py is the
side-by-side script, with float64, gradients and errors)."""

import functools

import numpy as np

import lorentz

from . import SMOKE, textbook

# op -> the inputs it takes, by name (see inputs()); every call also gets c=C
ARGS = {
    "dist": ("x", "y"),
    "dist0": ("x",),
    "expmap0": ("v",),
    "logmap0": ("x",),
    "expmap": ("x", "u"),
    "logmap": ("x", "y"),
    "transport": ("x", "y", "u"),
    "half_aperture": ("x",),
    "exterior_angle": ("x", "y"),
    "to_poincare": ("x",),
    "from_poincare": ("p",),
}
KWARGS = {"half_aperture": {"min_radius": 0.1}}
C = 1.0


def inputs(rows, dim, dtype, seed=0):
    """x, y: points whose space components are drawn from N(0, 0.3^2); v: tangent vectors at
    the origin (time 0, space from N(0, 0.3^2)); u: tangent vectors at x (N(0, 0.3^2) projected);
    p: x in the Poincare ball. The same draws for every dtype (rounded to it before from_space)."""
    rng = np.random.default_rng(seed)

    def normal(cols):
        return (0.3 * rng.normal(size=(rows, cols))).astype(dtype)

    x, y = lorentz.from_space(normal(dim), c=C), lorentz.from_space(normal(dim), c=C)
    v = np.concatenate([np.zeros((rows, 1), dtype), normal(dim)], axis=1)
    u = lorentz.project_tangent(x, normal(dim + 1), c=C)
    return {"x": x, "y": y, "v": v, "u": u, "p": lorentz.to_poincare(x, c=C)}


def bind(module, op):
    """``module.op`` (lorentz or textbook) with this benchmark's keywords."""
    return functools.partial(getattr(module, op), c=C, **KWARGS.get(op, {}))


def _blocking(f):
    """f, waiting for jax's asynchronous dispatch to finish."""
    return lambda *a: f(*a).block_until_ready()


class Elementwise:
    params = (tuple(ARGS), ("numpy", "torch", "jax"))
    param_names = ("op", "library")
    timeout = 300

    def setup(self, op, library):
        arrays = [inputs(64 if SMOKE else 20_000, 128, np.float32)[k] for k in ARGS[op]]
        fns = {"lorentz": bind(lorentz, op), "textbook": bind(textbook, op)}
        if library == "torch":
            try:
                import torch
            except ImportError:
                raise NotImplementedError("torch is not installed") from None
            arrays = [torch.from_numpy(a) for a in arrays]
        elif library == "jax":
            try:
                import jax
            except ImportError:
                raise NotImplementedError("jax is not installed") from None
            jax.config.update("jax_enable_x64", True)  # as the other modules; float32 stays
            arrays = [jax.numpy.asarray(a) for a in arrays]
            fns = {k: _blocking(jax.jit(f)) for k, f in fns.items()}
        self.run = {k: functools.partial(f, *arrays) for k, f in fns.items()}
        for f in self.run.values():
            f()  # first call: numba's cache, jax's compilation

    def time_lorentz(self, op, library):
        self.run["lorentz"]()

    def time_textbook(self, op, library):
        self.run["textbook"]()

    def peakmem_lorentz(self, op, library):
        self.run["lorentz"]()

    def peakmem_textbook(self, op, library):
        self.run["textbook"]()


class ElementwiseGrad:
    """Forward + backward (the sum of the output, to every array input): torch autograd,
    jax.jit(jax.grad)."""

    params = (tuple(ARGS), ("torch", "jax"))
    param_names = ("op", "library")
    timeout = 300

    def setup(self, op, library):
        arrays = [inputs(64 if SMOKE else 20_000, 128, np.float32)[k] for k in ARGS[op]]
        fns = {"lorentz": bind(lorentz, op), "textbook": bind(textbook, op)}
        if library == "torch":
            try:
                import torch
            except ImportError:
                raise NotImplementedError("torch is not installed") from None
            arrays = [torch.from_numpy(a) for a in arrays]

            def step(f):
                def run():
                    leaves = [a.detach().requires_grad_() for a in arrays]
                    f(*leaves).sum().backward()

                return run
        else:
            try:
                import jax
            except ImportError:
                raise NotImplementedError("jax is not installed") from None
            jax.config.update("jax_enable_x64", True)
            arrays = [jax.numpy.asarray(a) for a in arrays]

            def step(f):
                g = jax.jit(jax.grad(lambda *a: f(*a).sum(), argnums=tuple(range(len(arrays)))))
                return lambda: jax.block_until_ready(g(*arrays))

        self.run = {k: step(f) for k, f in fns.items()}
        for f in self.run.values():
            f()

    def time_lorentz(self, op, library):
        self.run["lorentz"]()

    def time_textbook(self, op, library):
        self.run["textbook"]()

    def peakmem_lorentz(self, op, library):
        self.run["lorentz"]()

    def peakmem_textbook(self, op, library):
        self.run["textbook"]()
