"""Host side of the Triton kernels: torch operators in the ``lorentz`` namespace.

Each is a ``torch.library.triton_op`` (its body, launches included, is traceable, so it is
also its own fake implementation and torch.compile(fullgraph=True) sees the kernels) with
``register_autograd``. Under Triton's interpreter (TRITON_INTERPRET=1, CPU tensors) kernels
are plain Python that tracing cannot capture: there each is an opaque ``custom_op`` whose
fake implementation is the same body with the launches skipped.

Tensors in: float16, bfloat16 or float32 points, ``c`` and ``scale`` as one-element float64
tensors (learnable ones receive gradients); float32 results, float64 where they feed a loss.
Gradients come back in the dtype of the input they belong to.
"""

from __future__ import annotations

import os

import torch
import triton
from array_api_compat import torch as xp_torch
from torch._subclasses.fake_tensor import is_fake
from torch.library import custom_op, register_autograd, triton_op, wrap_triton

from .. import _reference as ref
from .._pairwise import GEMM_TOL, angle_bound
from .._pairwise import _angle as _pairs_angle
from . import kernels as K
from . import precision

# relative error of d allowed from the GEMM before a pair is recomputed: the numba kernels'
# float32 budget (2e-6 bound, less the output rounding and logs)
TOL = 5e-7
BLOCK = 32  # rows and columns of a distance tile; tl.dot wants >= 16
BLOCK_K = 32  # depth of one GEMM step
BLOCK_K_EXACT = 8  # depth of one step of the exact recompute, whose temporaries are 3-D
EPS64 = 2.0**-52
ROWS = 16  # rows per program of the row kernels (distance, origin maps)
ROW_CHUNK = 64  # components per step of a row kernel
KNN_KEYS = 4096  # keys per distance block of knn: memory O(N (k + KNN_KEYS))


INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"  # read as triton.jit reads it


def _operator(name: str):
    def define(fn):
        if not INTERPRET:
            return triton_op(name, mutates_args={})(fn)
        op = custom_op(name, mutates_args=())(fn)
        op.register_fake(fn)
        return op

    return define


def _launch(kernel, grid, *args, **meta):
    if INTERPRET and any(is_fake(a) for a in args if isinstance(a, torch.Tensor)):
        return  # shapes only: the interpreter would read the data
    wrap_triton(kernel)[grid](*args, **meta)


def _kp(n: int) -> int:
    """The dimension padded to a power of two (a whole row per program)."""
    return max(16, triton.next_power_of_2(n))


def _wide(a: torch.Tensor) -> torch.Tensor:
    """Half-precision rows as float32 for the kernels with a float64 ``tl.dot``: Triton 3.6
    cannot lower an fp64 MMA whose operands were loaded as 16-bit values on sm_90 ("fp64 don't
    support largeK MMA"); the copy is O((N + M) n) against O(N M n) work, and exact."""
    return a.float() if a.dtype in (torch.float16, torch.bfloat16) else a


def _scalar(c, like: torch.Tensor) -> torch.Tensor:
    """c as a 0-d float64 tensor on the device of ``like`` (autograd kept)."""
    if isinstance(c, float):
        return torch.tensor(c, dtype=torch.float64, device=like.device)
    return c.reshape(()).to(torch.float64)


# ------------------------------------------------------------------ pairwise distance


@_operator("lorentz::pairwise_dist")
def _pairwise_dist(
    xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, scheme: str = ""
) -> torch.Tensor:
    m, n = xs.shape[0], ys.shape[0]
    out = torch.empty((m, n), dtype=torch.float32, device=xs.device)
    _launch_pairwise(xs, ys, c, out, scheme)
    return out


def _scheme(xs, ys, scheme=""):
    """The scheme for these rows: ``scheme`` when forced, else the precision rule's for the
    device and the dtype the kernels read (float32 for mixed dtypes)."""
    return precision.scheme_for(_wide(xs) if xs.dtype != ys.dtype else xs, scheme or None)


def _launch_pairwise(xs, ys, c, out, scheme=""):
    """By ``scheme`` ("": the one lorentz._triton.precision chooses for this device and dtype)."""
    scheme = _scheme(xs, ys, scheme)
    if xs.dtype != ys.dtype:
        xs, ys = _wide(xs), _wide(ys)
    if scheme != "float64":
        precision.launch_pairwise(xs, ys, c, out, scheme, _launch)
        return
    _launch_tiles(K.pairwise_dist_kernel, xs, ys, c, out, TOL, SQUARED=False)


def _launch_tiles(kernel, xs, ys, c, out, tol, **flags):
    """One program per BLOCK x BLOCK tile of ``out`` (an all-pairs kernel of ``kernels``)."""
    xs, ys = _wide(xs), _wide(ys)
    m, n = xs.shape[0], ys.shape[0]
    _launch(
        kernel,
        (triton.cdiv(m, BLOCK), triton.cdiv(n, BLOCK)),
        xs,
        ys,
        c,
        out,
        m,
        n,
        xs.shape[1],
        xs.stride(0),
        xs.stride(1),
        ys.stride(0),
        ys.stride(1),
        out.stride(0),
        out.stride(1),
        tol,
        BM=BLOCK,
        BN=BLOCK,
        BK=BLOCK_K,
        BKR=BLOCK_K_EXACT,
        **flags,
    )


def _pairwise_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:3], output)
    ctx.scheme = _scheme(inputs[0], inputs[1], inputs[3])


def _pairwise_backward(ctx, grad):
    """From the saved distances: with W = dL/du = grad / (sqrt(c) sinh(sqrt(c) d)),
    dx = c (xs/x0 (W y0) - W ys) and dy likewise, two GEMMs by the forward pass's scheme:
    in float64 under "float64" (their cancellation for near pairs costs eps64 |ys| / d
    relative: below float32's rounding for d > 1e-8); under "split" and "half" by that
    scheme's arithmetic (precision.dot), the near pairs added exactly (_pair_grads, as the
    loss's backward pass)."""
    xs, ys, c, d = ctx.saved_tensors
    if ctx.scheme != "float64":
        return (*_pairwise_mixed_backward(xs, ys, c, d, grad, ctx.scheme), None)
    x, y, c64 = xs.double(), ys.double(), c.double()
    s = torch.sqrt(c64)
    x0 = torch.sqrt(1.0 / c64 + (x * x).sum(1))
    y0 = torch.sqrt(1.0 / c64 + (y * y).sum(1))
    sd = s * d.double()
    sinh = torch.sinh(sd)
    g = grad.double()
    w = torch.where(sinh == 0, 0.0, g / (s * torch.where(sinh == 0, 1.0, sinh)))  # NaN kept
    dx = c64 * (x * ((w @ y0) / x0)[:, None] - w @ y)
    dy = c64 * (y * ((w.T @ x0) / y0)[:, None] - w.T @ x)
    u = 2.0 * torch.sinh(sd / 2.0) ** 2
    gap = x0[:, None] - y0[None, :]
    du_dc = (u - gap * gap / (2.0 * x0[:, None] * y0[None, :])) / c64
    dc = (w * du_dc - g * sd / (2.0 * c64 * s)).sum()
    return dx.to(xs.dtype), dy.to(ys.dtype), dc.to(c.dtype).reshape(c.shape), None


# an operator of its own: its near pairs (a data-dependent set) would stop a traced backward
@custom_op("lorentz::pairwise_dist_mixed_backward", mutates_args=())
def _pairwise_mixed_backward(
    xs: torch.Tensor,
    ys: torch.Tensor,
    c: torch.Tensor,
    d: torch.Tensor,
    grad: torch.Tensor,
    scheme: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y, c64 = xs.double(), ys.double(), c.double()
    x0 = torch.sqrt(1.0 / c64 + (x * x).sum(1))
    y0 = torch.sqrt(1.0 / c64 + (y * y).sum(1))
    dx, dy, dc = _pair_grads(x, y, x0, y0, c64, d.double(), grad.double(), scheme)
    return dx.to(xs.dtype), dy.to(ys.dtype), dc.to(c.dtype).reshape(c.shape)


@_pairwise_mixed_backward.register_fake
def _(xs, ys, c, d, grad, scheme):
    return torch.empty_like(xs), torch.empty_like(ys), torch.empty_like(c)


register_autograd("lorentz::pairwise_dist", _pairwise_backward, setup_context=_pairwise_setup)


def pairwise_dist(x, y, c, scheme=None):
    """Ambient (N, n+1), (M, n+1) -> (N, M) float32; ``scheme`` forces one (None: the rule)."""
    return _pairwise_dist(x[:, 1:], y[:, 1:], _scalar(c, x), scheme or "")


def _times(a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Time coordinates of float64 space rows."""
    return torch.sqrt(1.0 / c + (a * a).sum(1))


# ------------------------------------------------------------------ squared distance


@_operator("lorentz::pairwise_sqdist")
def _pairwise_sqdist(xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    out = torch.empty((xs.shape[0], ys.shape[0]), dtype=torch.float32, device=xs.device)
    # TOL bounds d's relative error, and u's is twice it: half TOL on u
    _launch_tiles(K.pairwise_dist_kernel, xs, ys, c, out, TOL / 2, SQUARED=True)
    return out


def _save_inputs_only(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:3])


def _pairwise_sqdist_backward(ctx, grad):
    """s = 2 (x0 y0 - xs.ys) - 2/c: ds/dxs = 2 (xs y0/x0 - ys), two float64 GEMMs (as
    pairwise_dist's), and ds/dc = -(x0 - y0)^2 / (c^2 x0 y0), which nothing cancels."""
    xs, ys, c = ctx.saved_tensors
    x, y, c64, g = xs.double(), ys.double(), c.double(), grad.double()
    x0, y0 = _times(x, c64), _times(y, c64)
    dx = 2.0 * (x * ((g @ y0) / x0)[:, None] - g @ y)
    dy = 2.0 * (y * ((g.T @ x0) / y0)[:, None] - g.T @ x)
    gap = x0[:, None] - y0[None, :]
    dc = -(g * gap * gap / (x0[:, None] * y0[None, :])).sum() / (c64 * c64)
    return dx.to(xs.dtype), dy.to(ys.dtype), dc.to(c.dtype).reshape(c.shape)


register_autograd(
    "lorentz::pairwise_sqdist", _pairwise_sqdist_backward, setup_context=_save_inputs_only
)


def pairwise_sqdist(x, y, c):
    """Ambient (N, n+1), (M, n+1) -> (N, M) float32."""
    return _pairwise_sqdist(x[:, 1:], y[:, 1:], _scalar(c, x))


# ------------------------------------------------------------------ all-pairs exterior angle

# a pair's gradient is taken from the GEMM when its (W, K) (lorentz._pairwise.angle_bound) is
# good to this fraction of hypot(W, K) and W to this fraction of W: the backward divides by W
# and H^2, so the forward's tolerance (GEMM_TOL, 4e-7 radians) would pass on their error
# whole; every other pair by the reference's autodiff
ANGLE_GRAD_TOL = 1e-9
# gathered elements per chunk of the pairs finished by the reference
PAIR_CHUNK = 1 << 20


def _angle_pairs(xs, ys, c):
    """exterior angles of the pairs (xs[p], ys[p]) of float64 space rows, by the reference."""
    return _pairs_angle(xs, ys, c.reshape(1, 1), xp=xp_torch)[:, 0]


def _chunks(i, k):
    step = max(1, PAIR_CHUNK // max(1, k))
    return [slice(p, p + step) for p in range(0, i.shape[0], step)]


@custom_op("lorentz::pairwise_exterior_angle", mutates_args=())
def _pairwise_exterior_angle(xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    # an opaque operator, not a triton_op: the pairs the kernel leaves (NaN) are a
    # data-dependent set, finished here by the reference
    out = torch.empty((xs.shape[0], ys.shape[0]), dtype=torch.float32, device=xs.device)
    _launch_tiles(K.pairwise_exterior_angle_kernel, xs, ys, c, out, GEMM_TOL["other"])
    i, j = torch.nonzero(torch.isnan(out), as_tuple=True)
    c64 = c.double()
    for part in _chunks(i, xs.shape[1]):
        a, b = xs[i[part]].double(), ys[j[part]].double()
        out[i[part], j[part]] = _angle_pairs(a, b, c64).float()
    return out


@_pairwise_exterior_angle.register_fake
def _(xs, ys, c):
    return xs.new_empty((xs.shape[0], ys.shape[0]), dtype=torch.float32)


@custom_op("lorentz::pairwise_exterior_angle_backward", mutates_args=())
def _pairwise_exterior_angle_backward(
    xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """theta = atan2(W, K) (angle_bound's W = |xs^ys|, K = sqrt(c) (x0 g - |xs|^2 y0)):
    d theta = (K dW - W dK) / H^2, H^2 = W^2 + K^2, with dW/dxs = (|ys|^2 xs - g ys) / W and
    dK/dxs = sqrt(c) (g xs / x0 + x0 ys - 2 y0 xs) (and likewise for ys), summed over pairs
    by float64 GEMMs with A = grad K / (W H^2), B = grad W / H^2; the pairs whose W or H the
    GEMM cannot give to ANGLE_GRAD_TOL (near, collinear, far-out and NaN pairs) through the
    reference's autodiff, gathered."""
    x, y, c64, grad = xs.double(), ys.double(), c.double(), grad.double()
    cf = float(c64)
    na, nb = (x * x).sum(1), (y * y).sum(1)
    x0, y0 = _times(x, c64), _times(y, c64)
    g = x @ y.T
    n = x.shape[1]
    w, k, err = angle_bound(
        g, na[:, None], nb[None, :], x0[:, None], y0[None, :], cf, n, EPS64, xp=xp_torch
    )
    h2 = w * w + k * k
    # products of squared lengths up to 2^800 and c up to 2^200 either way stay finite
    fine = (na >= 2.0**-200) & (na <= 2.0**200)
    fine_y = (nb >= 2.0**-200) & (nb <= 2.0**200)
    gemm = (
        (err <= ANGLE_GRAD_TOL * torch.sqrt(h2))
        & ((4 * n + 12) * EPS64 * na[:, None] * nb[None, :] <= ANGLE_GRAD_TOL * w * w)
        & fine[:, None]
        & fine_y[None, :]
        & (2.0**-200 <= cf <= 2.0**200)
    )
    weight = torch.where(gemm, grad, 0.0) / torch.where(gemm, h2, 1.0)
    a = weight * k / torch.where(gemm, w, 1.0)
    b = weight * w
    sc = torch.sqrt(c64)
    ag = a * g
    dx = (
        x * (a @ nb + 2.0 * sc * (b @ y0) - sc * (b * g).sum(1) / x0)[:, None]
        - ag @ y
        - sc * x0[:, None] * (b @ y)
    )
    dy = y * (a.T @ na + sc * (b.T @ na) / y0)[:, None] - ag.T @ x - sc * (b.T @ (x0[:, None] * x))
    dk_dc = k / (2.0 * c64) - sc / (2.0 * c64 * c64) * (g / x0[:, None] - na[:, None] / y0[None, :])
    dc = -(b * dk_dc).sum()
    i, j = torch.nonzero(~gemm, as_tuple=True)
    for part in _chunks(i, n):
        ip, jp = i[part], j[part]
        # torch.func: a custom operator's body runs below the autograd dispatch key
        _, pullback = torch.func.vjp(_angle_pairs, x[ip], y[jp], c64)
        gx, gy, gc = pullback(grad[ip, jp])
        dx.index_add_(0, ip, gx)
        dy.index_add_(0, jp, gy)
        dc = dc + gc
    return dx.to(xs.dtype), dy.to(ys.dtype), dc.to(c.dtype).reshape(c.shape)


@_pairwise_exterior_angle_backward.register_fake
def _(xs, ys, c, grad):
    return torch.empty_like(xs), torch.empty_like(ys), torch.empty_like(c)


def _angle_backward(ctx, grad):
    return _pairwise_exterior_angle_backward(*ctx.saved_tensors, grad)


register_autograd(
    "lorentz::pairwise_exterior_angle", _angle_backward, setup_context=_save_inputs_only
)


def pairwise_exterior_angle(x, y, c):
    """Ambient (N, n+1), (M, n+1) -> (N, M) float32."""
    return _pairwise_exterior_angle(x[:, 1:], y[:, 1:], _scalar(c, x))


# ------------------------------------------------------------------ origin maps


def _origin_map(kernel, a, c):
    r, n = a.shape[0], a.shape[1] - 1
    out = torch.empty((r, n + 1), dtype=torch.float32, device=a.device)
    _launch(
        kernel,
        (triton.cdiv(r, ROWS),),
        a,
        c,
        out,
        r,
        n,
        a.stride(0),
        a.stride(1),
        BM=ROWS,
        BK=ROW_CHUNK,
    )
    return out


def _origin_map_grad(kernel, a, c, grad):
    r, n = a.shape[0], a.shape[1] - 1
    da = torch.empty((r, n + 1), dtype=torch.float64, device=a.device)
    dc = torch.empty((r,), dtype=torch.float64, device=a.device)
    _launch(
        kernel,
        (triton.cdiv(r, ROWS),),
        a,
        c,
        grad.contiguous(),
        da,
        dc,
        r,
        n,
        a.stride(0),
        a.stride(1),
        BM=ROWS,
        BK=ROW_CHUNK,
    )
    return da.to(a.dtype), dc.sum().to(c.dtype).reshape(c.shape)


@_operator("lorentz::expmap0")
def _expmap0(u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return _origin_map(K.expmap0_kernel, u, c)


@_operator("lorentz::expmap0_backward")
def _expmap0_backward(
    u: torch.Tensor, c: torch.Tensor, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return _origin_map_grad(K.expmap0_grad_kernel, u, c, grad)


@_operator("lorentz::logmap0")
def _logmap0(y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return _origin_map(K.logmap0_kernel, y, c)


@_operator("lorentz::logmap0_backward")
def _logmap0_backward(
    y: torch.Tensor, c: torch.Tensor, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return _origin_map_grad(K.logmap0_grad_kernel, y, c, grad)


def _save_inputs(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


register_autograd(
    "lorentz::expmap0",
    lambda ctx, g: _expmap0_backward(*ctx.saved_tensors, g),
    setup_context=_save_inputs,
)
register_autograd(
    "lorentz::logmap0",
    lambda ctx, g: _logmap0_backward(*ctx.saved_tensors, g),
    setup_context=_save_inputs,
)


def _rows(a):
    return a.reshape(-1, a.shape[-1])


def expmap0(u, c):
    return _expmap0(_rows(u), _scalar(c, u)).reshape(u.shape)


def logmap0(y, c):
    return _logmap0(_rows(y), _scalar(c, y)).reshape(y.shape)


# ------------------------------------------------------------------ distance of row pairs


@_operator("lorentz::dist")
def _dist(x: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    r = x.shape[0]
    out = torch.empty((r,), dtype=torch.float32, device=x.device)
    _launch(
        K.dist_kernel,
        (triton.cdiv(r, ROWS),),
        x,
        y,
        c,
        out,
        r,
        x.shape[1] - 1,
        x.stride(0),
        x.stride(1),
        y.stride(0),
        y.stride(1),
        BM=ROWS,
        BK=ROW_CHUNK,
    )
    return out


@_operator("lorentz::dist_backward")
def _dist_backward(
    x: torch.Tensor, y: torch.Tensor, c: torch.Tensor, grad: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r, n = x.shape[0], x.shape[1] - 1
    dx = torch.empty((r, n + 1), dtype=torch.float64, device=x.device)
    dy = torch.empty((r, n + 1), dtype=torch.float64, device=x.device)
    dc = torch.empty((r,), dtype=torch.float64, device=x.device)
    _launch(
        K.dist_grad_kernel,
        (triton.cdiv(r, ROWS),),
        x,
        y,
        c,
        grad.contiguous(),
        dx,
        dy,
        dc,
        r,
        n,
        x.stride(0),
        x.stride(1),
        y.stride(0),
        y.stride(1),
        BM=ROWS,
        BK=ROW_CHUNK,
    )
    return dx.to(x.dtype), dy.to(y.dtype), dc.sum().to(c.dtype).reshape(c.shape)


register_autograd(
    "lorentz::dist",
    lambda ctx, g: _dist_backward(*ctx.saved_tensors, g),
    setup_context=_save_inputs,
)


def dist(x, y, c):
    """Ambient arrays of one broadcast shape (..., n+1) -> (...) float32."""
    x, y = torch.broadcast_tensors(x, y)
    return _dist(_rows(x), _rows(y), _scalar(c, x)).reshape(x.shape[:-1])


# ------------------------------------------------------------------ k nearest neighbours


@_operator("lorentz::knn")
def _knn(
    qs: torch.Tensor, ks: torch.Tensor, c: torch.Tensor, k: int, scheme: str = ""
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k best so far merged with each block of keys by a stable sort: earlier keys come
    first among equal distances, so ties keep the lower index (the numba kernel's contract).
    Distances in float64 so the order is the exact one up to float64 rounding."""
    n_q, n_k = qs.shape[0], ks.shape[0]
    best_d = torch.empty((n_q, 0), dtype=torch.float64, device=qs.device)
    best_i = torch.empty((n_q, 0), dtype=torch.int64, device=qs.device)
    for col in range(0, n_k, KNN_KEYS):
        block = ks[col : col + KNN_KEYS]
        d = torch.empty((n_q, block.shape[0]), dtype=torch.float64, device=qs.device)
        _launch_pairwise(qs, block, c, d, scheme)
        idx = torch.arange(col, col + block.shape[0], device=qs.device).expand(n_q, -1)
        d, order = torch.sort(torch.cat([best_d, d], 1), dim=1, stable=True)
        best_d = d[:, :k]
        best_i = torch.gather(torch.cat([best_i, idx], 1), 1, order[:, :k])
    return best_d.to(torch.float32), best_i


def knn(q, keys, k, c, scheme=None):
    """Distances and indices; where an input needs a gradient the distances of the chosen
    pairs are recomputed by the differentiable reference (N k pairs). ``scheme`` forces the
    all-pairs scheme (None: the rule)."""
    cc = _scalar(c, q)
    d, i = _knn(q[:, 1:], keys[:, 1:], cc, k, scheme or "")
    needs = (
        q.requires_grad or keys.requires_grad or (isinstance(c, torch.Tensor) and c.requires_grad)
    )
    if torch.is_grad_enabled() and needs:
        d = ref.dist(q.double()[:, None, :], keys.double()[i], cc.reshape(1, 1, 1), xp=xp_torch)
        d = d[..., 0]
    return d, i


# ------------------------------------------------------------------ MERU's contrastive term


@_operator("lorentz::neg_dist_lse")
def _neg_dist_lse(
    xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, scale: torch.Tensor
) -> torch.Tensor:
    m = xs.shape[0]
    lse = torch.empty((m,), dtype=torch.float64, device=xs.device)
    _launch(
        K.neg_dist_lse_kernel,
        (triton.cdiv(m, BLOCK),),
        xs,
        ys,
        c,
        scale,
        lse,
        m,
        ys.shape[0],
        xs.shape[1],
        xs.stride(0),
        xs.stride(1),
        ys.stride(0),
        ys.stride(1),
        TOL,
        BM=BLOCK,
        BN=BLOCK,
        BK=BLOCK_K,
        BKR=BLOCK_K_EXACT,
    )
    return lse


def _lse_grad(a, b, c, scale, lse, w, owns):
    m = a.shape[0]
    blocks = triton.cdiv(m, BLOCK)
    da = torch.empty((m, a.shape[1]), dtype=torch.float64, device=a.device)
    parts = torch.zeros((blocks, 2), dtype=torch.float64, device=a.device)
    _launch(
        K.neg_dist_lse_grad_kernel,
        (blocks,),
        a,
        b,
        c,
        scale,
        lse,
        w,
        da,
        parts,
        m,
        b.shape[0],
        a.shape[1],
        a.stride(0),
        a.stride(1),
        b.stride(0),
        b.stride(1),
        TOL,
        A_OWNS_LSE=owns,
        BM=BLOCK,
        BN=BLOCK,
        BK=BLOCK_K,
        BKR=BLOCK_K_EXACT,
        KP=_kp(a.shape[1]),
    )
    return da.to(a.dtype), parts[:, 0].sum(), parts[:, 1].sum()


@_operator("lorentz::neg_dist_lse_backward")
def _neg_dist_lse_backward(
    xs: torch.Tensor,
    ys: torch.Tensor,
    c: torch.Tensor,
    scale: torch.Tensor,
    lse: torch.Tensor,
    grad: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two launches that each recompute the tiles: one over rows of xs (dxs, dc, dscale),
    one over rows of ys (dys). Memory is linear: no M x N buffer."""
    w = grad.to(torch.float64).contiguous()
    dxs, dc, dscale = _lse_grad(xs, ys, c, scale, lse, w, True)
    dys, _, _ = _lse_grad(ys, xs, c, scale, lse, w, False)
    return dxs, dys, dc.to(c.dtype).reshape(c.shape), dscale.to(scale.dtype).reshape(scale.shape)


def _lse_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs, output)


def _lse_backward(ctx, grad):
    return _neg_dist_lse_backward(*ctx.saved_tensors, grad)


register_autograd("lorentz::neg_dist_lse", _lse_backward, setup_context=_lse_setup)


def neg_dist_lse(xs, ys, c, scale, scheme=None):
    """lse[i] = log sum_j exp(-scale d(x_i, y_j)) for space-only rows (MERU's embeddings):
    the log-sum-exp of one direction of the contrastive loss, never forming the logits.
    By the scheme lorentz._triton.precision chooses for the device and the inputs' dtype
    (``scheme`` forces one): "float64" is the fused kernel above; "half" and "split" take
    the distance tiles from the mixed kernel (its per-pair bound and exact recompute) and
    form the log-sum-exps and the gradients from them (_neg_dist_lse_mixed)."""
    if xs.dtype != ys.dtype:
        xs, ys = _wide(xs), _wide(ys)
    chosen = precision.scheme_for(xs, scheme)
    if chosen == "float64":
        return _neg_dist_lse(_wide(xs), _wide(ys), _scalar(c, xs), _scalar(scale, xs))
    return _neg_dist_lse_mixed(xs, ys, _scalar(c, xs), _scalar(scale, xs), chosen)


# ------------------------------------------------------------------ the loss by a mixed scheme
#
# The distance tiles come from the mixed all-pairs kernel (lorentz._triton.mixed, launched as
# pairwise_dist launches it): every pair within the scheme's tolerance of the exact d, the
# pairs whose bound could miss it recomputed exactly in the kernel. The log-sum-exps stream
# over tiles of LSE_KEYS keys (memory: one tile, not the B x M logits). The backward pass
# recomputes each tile and forms the gradients with the sums over pairs as matrix products
# by the same scheme's arithmetic (lorentz._triton.precision.dot: split pieces and
# float-float sums, or float32 sums of half values), the near pairs (sqrt(c) d < NEAR), whose
# GEMM form cancels, left out of them and added exactly, as the reference's tile_grads does.

LSE_KEYS = 4096  # keys per tile
LSE_TILE = 1 << 22  # elements per tile (float64: 32 MiB)
NEAR = precision.NEAR


def _mixed_tiles(xs, ys, c, scheme):
    """(first row, first key, sqrt(c)-free distance tile in float64) over all pairs."""
    m, n = xs.shape[0], ys.shape[0]
    cols = max(1, min(n, LSE_KEYS))
    rows = max(1, LSE_TILE // cols)
    for r0 in range(0, m, rows):
        a = xs[r0 : r0 + rows]
        for c0 in range(0, n, cols):
            b = ys[c0 : c0 + cols]
            d = torch.empty((a.shape[0], b.shape[0]), dtype=torch.float64, device=xs.device)
            _launch_pairwise(a, b, c, d, scheme)
            yield r0, c0, d


@_operator("lorentz::neg_dist_lse_mixed")
def _neg_dist_lse_mixed(
    xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, scale: torch.Tensor, scheme: str
) -> torch.Tensor:
    parts = []
    lse = None
    for _r0, c0, d in _mixed_tiles(xs, ys, c, scheme):
        if c0 == 0 and lse is not None:
            parts.append(lse)
        tile = torch.logsumexp(-scale.double() * d, 1)
        lse = tile if c0 == 0 or lse is None else torch.logaddexp(lse, tile)
    if lse is not None:
        parts.append(lse)
    if not parts:
        return torch.full((xs.shape[0],), -torch.inf, dtype=torch.float64, device=xs.device)
    return torch.cat(parts)


def _pair_grads(x, y, x0, y0, c, d, gd, scheme):
    """Gradients of sum(gd * d) over a tile of distances d(x_i, y_j) (float64 rows and
    distances): (gx, gy, gc). With W = gd / (sqrt(c) sinh(sqrt(c) d)) = dL/du,
    gx = c (x (W y0) / x0 - W y) and gy = c (y (W^T x0) / y0 - W^T x), the products by
    ``scheme``'s arithmetic; near pairs exactly, with x0 - y0 = (D.S) / (x0 + y0)."""
    s = torch.sqrt(c)
    sd = s * d
    near = sd < NEAR
    w = torch.where(near, 0.0, gd / (s * torch.where(near, 1.0, torch.sinh(sd))))
    wy, _ = precision.dot(w, torch.cat([y0[:, None], y], 1).T, scheme)
    wx, _ = precision.dot(w.T, torch.cat([x0[:, None], x], 1).T, scheme)
    gx = c * (x * (wy[:, :1] / x0[:, None]) - wy[:, 1:])
    gy = c * (y * (wx[:, :1] / y0[:, None]) - wx[:, 1:])
    u = 2.0 * torch.sinh(sd / 2.0) ** 2
    gap = x0[:, None] - y0[None, :]
    gc = (w * (u - gap * gap / (2.0 * x0[:, None] * y0[None, :]))).sum() / c
    gc = gc - (gd * sd).sum() / (2.0 * c * s)
    i, j = torch.nonzero(near, as_tuple=True)
    if i.numel():
        sdn, sh = sd[i, j], torch.sinh(sd[i, j])
        wn = torch.where(sh == 0, 0.0, gd[i, j] / (s * torch.where(sh == 0, 1.0, sh)))[:, None]
        xg, yg, x0g, y0g = x[i], y[j], x0[i][:, None], y0[j][:, None]
        diff = xg - yg
        dot = (diff * (xg + yg)).sum(1, keepdim=True)
        den = x0g + y0g
        gx = gx.index_add(0, i, (c * wn) * (diff - xg * dot / (den * x0g)))
        gy = gy.index_add(0, j, (c * wn) * (yg * dot / (den * y0g) - diff))
        half = torch.sinh(0.5 * sdn)[:, None]
        gapn = dot / den
        gc = gc + (wn * (2.0 * half * half - gapn * gapn / (2.0 * x0g * y0g))).sum() / c
    return gx, gy, gc


@_operator("lorentz::neg_dist_lse_mixed_backward")
def _neg_dist_lse_mixed_backward(
    xs: torch.Tensor,
    ys: torch.Tensor,
    c: torch.Tensor,
    scale: torch.Tensor,
    lse: torch.Tensor,
    grad: torch.Tensor,
    scheme: str,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    c64, sc = c.double(), scale.double()
    x, y = xs.double(), ys.double()
    x0 = torch.sqrt(1.0 / c64 + (x * x).sum(1))
    y0 = torch.sqrt(1.0 / c64 + (y * y).sum(1))
    gx, gy = torch.zeros_like(x), torch.zeros_like(y)
    gc = torch.zeros((), dtype=torch.float64, device=xs.device)
    gs = torch.zeros((), dtype=torch.float64, device=xs.device)
    g64 = grad.double()
    for r0, c0, d in _mixed_tiles(xs, ys, c, scheme):
        r1, c1 = r0 + d.shape[0], c0 + d.shape[1]
        ga = g64[r0:r1, None] * torch.exp(-sc * d - lse[r0:r1, None])  # dL/dlogit
        gs = gs - (ga * d).sum()
        tx, ty, tc = _pair_grads(x[r0:r1], y[c0:c1], x0[r0:r1], y0[c0:c1], c64, d, -sc * ga, scheme)
        gx[r0:r1] += tx
        gy[c0:c1] += ty
        gc = gc + tc
    return (
        gx.to(xs.dtype),
        gy.to(ys.dtype),
        gc.to(c.dtype).reshape(c.shape),
        gs.to(scale.dtype).reshape(scale.shape),
    )


def _lse_mixed_setup(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:4], output)
    ctx.scheme = inputs[4]


def _lse_mixed_grad(ctx, grad):
    return (*_neg_dist_lse_mixed_backward(*ctx.saved_tensors, grad, ctx.scheme), None)


register_autograd("lorentz::neg_dist_lse_mixed", _lse_mixed_grad, setup_context=_lse_mixed_setup)
