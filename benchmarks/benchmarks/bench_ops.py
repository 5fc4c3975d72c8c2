"""asv: every public operation, per backend, dtype and size.

A coverage guard at import fails the suite when a public function of ``lorentz`` has no entry
in ``OPS``. ``LORENTZ_ASV_SMOKE=1`` shrinks the sizes for a quick run in CI.
"""

import numpy as np

import lorentz
from lorentz._registry import OPERATIONS

from . import SMOKE

DIM = 16 if SMOKE else 128

# The prepared inputs: x, y points; u tangent at x; v tangent at the origin; p Poincare-ball
# points; s space parts. Every registered operation is benchmarked from its kind of inputs;
# the entries below are those whose arguments these arrays do not cover (knn's k, the
# ambient forms, the operations that bind their own arguments).
ARGS = {
    "point": ("x",),
    "pair": ("x", "y"),
    "distinct": ("x", "y"),
    "tangent0": ("v",),
    "tangent": ("x", "u"),
    "transport": ("x", "y", "u"),
    "ball": ("p",),
    "rows": ("x", "y"),
}


def _registered(name, inputs):
    f = getattr(lorentz, name)
    if inputs == "rows":  # all pairs: at most rows x rows
        return lambda a: f(*(getattr(a, n)[: a.rows] for n in ARGS[inputs]))
    return lambda a: f(*(getattr(a, n) for n in ARGS[inputs]))


OPS = {
    name: _registered(name, op.inputs)
    for name, op in OPERATIONS.items()
    if op.public and op.inputs in ARGS
}
OPS |= {
    "inner": lambda a: lorentz.inner(a.u, a.u),
    "norm": lambda a: lorentz.norm(a.u),
    "knn": lambda a: lorentz.knn(a.x[:100], a.y, min(10, a.y.shape[0])),
    "project": lambda a: lorentz.project(a.x),
    "project_tangent": lambda a: lorentz.project_tangent(a.x, a.u),
    "to_space": lambda a: lorentz.to_space(a.x),
    "from_space": lambda a: lorentz.from_space(a.s),
    "check_point": lambda a: lorentz.check_point(a.x),
    "check_tangent": lambda a: lorentz.check_tangent(a.x, a.u),
    "geodesic": lambda a: lorentz.geodesic(a.x, a.y, 0.3),
    "centroid": lambda a: lorentz.centroid(a.x),
    "frechet_mean": lambda a: lorentz.frechet_mean(a.x[: a.rows]),
    "frechet_variance": lambda a: lorentz.frechet_variance(a.x[: a.rows]),
    "busemann": lambda a: lorentz.busemann(a.x, a.u),
    "hyperplane_dist": lambda a: lorentz.hyperplane_dist(a.x, a.u),
    "wrapped_normal_sample": lambda a: lorentz.wrapped_normal_sample(a.x, 0.5 + 0 * a.s, a.s),
    "wrapped_normal_log_prob": lambda a: lorentz.wrapped_normal_log_prob(a.y, a.x, 0.5 + 0 * a.s),
    "mlr_logits": lambda a: lorentz.mlr_logits(a.x[: a.rows], a.s[:10, 0] * 0.1, a.s[:10]),
}


_missing = sorted(set(lorentz.__all__) - set(OPS))
if _missing:
    raise ImportError(f"public operations without a benchmark: {', '.join(_missing)}")


def _to_backend(backend, a):
    if backend == "numpy":
        return a
    if backend == "torch":
        import torch

        return torch.from_numpy(a)
    import jax

    jax.config.update("jax_enable_x64", True)
    return jax.numpy.asarray(a)


def _ready(out):
    """Wait for asynchronous backends (jax dispatches lazily)."""
    for o in out if isinstance(out, tuple) else (out,):
        if hasattr(o, "block_until_ready"):
            o.block_until_ready()


class Ops:
    params = (
        ["numpy", "torch", "jax"],
        ["float32", "float64"],
        [8] if SMOKE else [1, 1_000, 100_000],
    )
    param_names = ["backend", "dtype", "size"]
    timeout = 600

    def setup(self, backend, dtype, size):
        try:
            _to_backend(backend, np.zeros(1))
        except ImportError:
            raise NotImplementedError(f"{backend} is not installed") from None
        rng = np.random.default_rng(0)
        x = lorentz.from_space(rng.standard_normal((size, DIM)))
        y = lorentz.from_space(rng.standard_normal((size, DIM)))
        u = lorentz.project_tangent(x, rng.standard_normal((size, DIM + 1)))
        v = np.concatenate([np.zeros((size, 1)), rng.standard_normal((size, DIM))], axis=1)
        arrays = dict(x=x, y=y, u=u, v=v, p=lorentz.to_poincare(x), s=lorentz.to_space(x))
        for name, a in arrays.items():
            setattr(self, name, _to_backend(backend, a.astype(dtype)))
        self.rows = min(size, 1000)  # pairwise_dist: at most 1000 x 1000; knn: 100 x size


def _timer(name):
    def time_op(self, backend, dtype, size):
        _ready(OPS[name](self))

    time_op.__name__ = f"time_{name}"
    return time_op


for _name in OPS:
    setattr(Ops, f"time_{_name}", _timer(_name))


class Memory:
    """Peak memory of the all-pairs operations (numpy; the numba kernels where installed)."""

    params = ([8] if SMOKE else [1_000, 10_000],)
    param_names = ["size"]

    def setup(self, size):
        rng = np.random.default_rng(0)
        self.x = lorentz.from_space(rng.standard_normal((size, DIM)).astype(np.float32))
        lorentz.knn(self.x[:2], self.x, 2)

    def peakmem_pairwise_dist(self, size):
        lorentz.pairwise_dist(self.x, self.x)

    def peakmem_knn(self, size):
        lorentz.knn(self.x, self.x, min(10, size))


class GPUMemory:
    """Peak CUDA memory of the all-pairs operations on torch tensors (skipped without CUDA)."""

    params = ([8] if SMOKE else [4096],)
    param_names = ["size"]

    def setup(self, size):
        try:
            import torch
        except ImportError:
            raise NotImplementedError("torch is not installed") from None
        if not torch.cuda.is_available():
            raise NotImplementedError("no CUDA device")
        rng = np.random.default_rng(0)
        self.torch = torch
        self.x = torch.from_numpy(
            lorentz.from_space(rng.standard_normal((size, DIM)).astype(np.float32))
        ).cuda()

    def _peak(self, f):
        self.torch.cuda.synchronize()
        self.torch.cuda.reset_peak_memory_stats()
        f()
        self.torch.cuda.synchronize()
        return self.torch.cuda.max_memory_allocated()

    def track_gpu_peak_bytes_pairwise_dist(self, size):
        return self._peak(lambda: lorentz.pairwise_dist(self.x, self.x))

    def track_gpu_peak_bytes_knn(self, size):
        return self._peak(lambda: lorentz.knn(self.x, self.x, min(10, size)))

    def track_gpu_peak_bytes_meru_loss(self, size):
        from lorentz.meru import meru_loss

        s = self.x[:, 1:].clone().requires_grad_()
        return self._peak(lambda: meru_loss(s, s, curv=1.0, logit_scale=10.0)["loss"].backward())


class Kernels:
    """The operations with compiled kernels, per implementation: numba on numpy arrays, Triton
    on CUDA tensors (skipped where not installed or without a GPU), the reference beside them."""

    params = (
        ["reference", "numba", "triton"],
        [
            "pairwise_dist",
            "pairwise_sqdist",
            "pairwise_exterior_angle",
            "knn",
            "expmap0",
            "logmap0",
        ],
        [8] if SMOKE else [1_000, 100_000],
    )
    param_names = ["implementation", "op", "size"]
    timeout = 600

    def setup(self, implementation, op, size):
        rng = np.random.default_rng(0)
        x = lorentz.from_space(rng.standard_normal((size, DIM)).astype(np.float32))
        self.sync = lambda: None
        if implementation == "numba":
            try:
                lorentz.dist(x[0], x[0], implementation="numba")
            except ValueError as e:
                raise NotImplementedError(str(e)) from None
        if implementation == "triton":
            try:
                import torch
            except ImportError:
                raise NotImplementedError("torch is not installed") from None
            if not torch.cuda.is_available():
                raise NotImplementedError("no CUDA device")
            x = torch.from_numpy(x).cuda()
            self.sync = torch.cuda.synchronize  # kernels run asynchronously
        self.x, self.kw = x, {"implementation": implementation}
        self.rows = min(size, 1000)

    def time_kernel(self, implementation, op, size):
        x, kw = self.x, self.kw
        if op.startswith("pairwise_"):
            getattr(lorentz, op)(x[: self.rows], x[: self.rows], **kw)
        elif op == "knn":
            lorentz.knn(x[:100], x, min(10, x.shape[0]), **kw)
        else:
            getattr(lorentz, op)(x, **kw)
        self.sync()
