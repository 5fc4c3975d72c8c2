"""Host side of the numba kernels: shapes, dtypes, blocking. numpy arrays in and out."""

from __future__ import annotations

import concurrent.futures
import functools
import math

import array_api_compat.numpy as np_compat
import numpy as np

from .. import _reference as ref
from . import backward as B
from . import cones as C
from . import kernels as K
from . import maps as P
from . import models as M
from . import pairwise as W

# Tolerance on the GEMM-induced relative error of d before a pair is recomputed exactly:
# well inside the accuracy bounds (2e-6 float32, 1e-12 float64) once float32's log (2e-7,
# float32 results only) and the final rounding (6e-8, 1.1e-16) are added.
PAIRWISE_TOL = {np.dtype(np.float32): 5e-7, np.dtype(np.float64): 2e-13}
# knn must order like the reference up to ties of 4 ulp: one ulp of the output dtype
KNN_TOL = {np.dtype(np.float32): 2.0**-23, np.dtype(np.float64): 2.0**-52}
# float64 elements of one GEMM tile: 32 MiB for pairwise_dist (4096 x 4096 x 128 float32:
# 0.27 s against 0.41 s with 8 MiB tiles, whose smaller GEMMs run slower), 16 MiB for knn,
# which must stay under 64 MiB of extra memory in all
PAIRWISE_TILE = 1 << 22
KNN_TILE = 1 << 21
KNN_ROWS = 1024  # queries per block of knn
# kernels run on the calling thread below this many space components in all (pairs x n, or
# rows x n): with n = 16 the serial loop of dist is ahead up to 64 rows and the thread pool
# from 256 (2 cores)
SERIAL_WORK = 2048


def _space(a: np.ndarray) -> np.ndarray:
    return a[..., 1:]


_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _take(a: np.ndarray, dtype) -> np.ndarray:
    """``a`` as the kernels read it: float32 and float64 as given (accumulated in float64
    inside), any other dtype cast to the result dtype first (numba has no float16: a float16
    array beside a float32 one, whose result is float32, used to fail inside the kernel)."""
    return a if a.dtype in _KERNEL_DTYPES else a.astype(dtype)


def _broadcast(*arrays):
    """The arrays broadcast to one shape as read-only views: numba reads the writeable flag of
    the views np.broadcast_arrays returns, which numpy deprecates with a FutureWarning at every
    call (numba compiles read-only versions of the kernels once)."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    return [np.broadcast_to(a, shape) for a in arrays]


# far-out rows overflow the GEMM's products and x0 y0; the epilogue recomputes those pairs
_far_out_quiet = np.errstate(over="ignore", invalid="ignore")


def _sq64(xs: np.ndarray) -> np.ndarray:
    """Squared lengths of the rows in float64 (exact products of float32 entries)."""
    x = xs.astype(np.float64)
    return np.einsum("ij,ij->i", x, x)


def _time64(xs: np.ndarray, c: float) -> np.ndarray:
    return np.sqrt(1.0 / c + _sq64(xs))


def dist(x, y, c: float, dtype) -> np.ndarray:
    x, y = _take(x, dtype), _take(y, dtype)
    if x.shape != y.shape:  # broadcasting and np.prod cost more than the kernel on one pair
        x, y = _broadcast(x, y)
    shape = x.shape[:-1]
    n = x.shape[-1] - 1
    out = np.empty(math.prod(shape), dtype=dtype)
    K.dist_rows(
        _space(x).reshape(-1, n), _space(y).reshape(-1, n), c, out, out.size * n < SERIAL_WORK
    )
    return out.reshape(shape)


@_far_out_quiet
def pairwise_dist(x, y, c: float, dtype) -> np.ndarray:
    x, y = _take(x, dtype), _take(y, dtype)
    xs, ys = _space(x), _space(y)
    n_rows, m_rows = xs.shape[0], ys.shape[0]
    out = np.empty((n_rows, m_rows), dtype=dtype)
    x0, y0 = _time64(xs, c), _time64(ys, c)
    ys64 = ys.astype(np.float64)
    step = max(1, PAIRWISE_TILE // max(1, m_rows))
    tol = PAIRWISE_TOL[np.dtype(dtype)]
    serial = out.size * xs.shape[1] < SERIAL_WORK
    for r in range(0, n_rows, step):
        gram = xs[r : r + step].astype(np.float64) @ ys64.T
        K.pairwise_epilogue(xs, ys, gram, x0, y0, r, c, tol, out.dtype == np.float32, out, serial)
    return out


@_far_out_quiet
def pairwise_sqdist(x, y, c: float, dtype) -> np.ndarray:
    """pairwise_dist's GEMM tiles and bound, on u: 2u/c for every pair, the pairs whose GEMM
    value could miss PAIRWISE_TOL relative recomputed exactly."""
    x, y = _take(x, dtype), _take(y, dtype)
    xs, ys = _space(x), _space(y)
    n_rows, m_rows = xs.shape[0], ys.shape[0]
    out = np.empty((n_rows, m_rows), dtype=dtype)
    x0, y0 = _time64(xs, c), _time64(ys, c)
    ys64 = ys.astype(np.float64)
    step = max(1, PAIRWISE_TILE // max(1, m_rows))
    tol = PAIRWISE_TOL[np.dtype(dtype)]
    serial = out.size * xs.shape[1] < SERIAL_WORK
    for r in range(0, n_rows, step):
        gram = xs[r : r + step].astype(np.float64) @ ys64.T
        W.sqdist_epilogue(xs, ys, gram, x0, y0, r, c, tol, out, serial)
    return out


@_far_out_quiet
def pairwise_exterior_angle(x, y, c: float, dtype) -> np.ndarray:
    """pairwise_dist's GEMM tiles, the angle from lorentz._pairwise.angle_bound's form where
    its bound allows PAIRWISE_TOL radians, every other pair by cones' formula; the pairs
    outside that formula's range (far out, huge, tiny) finished by the reference."""
    x, y = _take(x, dtype), _take(y, dtype)
    xs, ys = _space(x), _space(y)
    n_rows, m_rows = xs.shape[0], ys.shape[0]
    out = np.empty((n_rows, m_rows), dtype=dtype)
    xx, yy = _sq64(xs), _sq64(ys)
    x0, y0, ly = np.sqrt(1.0 / c + xx), np.sqrt(1.0 / c + yy), np.sqrt(yy)
    ys64 = ys.astype(np.float64)
    step = max(1, PAIRWISE_TILE // max(1, m_rows))
    tol = PAIRWISE_TOL[np.dtype(dtype)]
    serial = out.size * xs.shape[1] < SERIAL_WORK
    for r in range(0, n_rows, step):
        gram = xs[r : r + step].astype(np.float64) @ ys64.T
        odd = np.empty(gram.shape[0], dtype=np.int64)
        W.angle_epilogue(x, y, gram, xx, yy, ly, x0, y0, r, c, tol, out, odd, serial)
        if odd.any():
            rows, cols = W.odd_angle_pairs(x, y, gram, xx, yy, ly, x0, y0, r, c, tol, odd)
            wide = ref.exterior_angle(_wide(x[rows]), _wide(y[cols]), c, xp=np_compat)
            out[rows, cols] = np.reshape(wide, -1)
    return out


@_far_out_quiet
def knn(queries, keys, k: int, c: float, dtype):
    queries, keys = _take(queries, dtype), _take(keys, dtype)
    qs, ks = _space(queries), _space(keys)
    n_q, n_k = qs.shape[0], ks.shape[0]
    q0 = _time64(qs, c)
    qs64 = qs.astype(np.float64)
    best_u = np.full((n_q, k), np.inf)
    best_i = np.full((n_q, k), -1, dtype=np.int64)
    rows = max(1, min(n_q, KNN_ROWS))
    cols = max(1, KNN_TILE // max(1, rows))
    tol = KNN_TOL[np.dtype(dtype)]
    serial = n_q * n_k * qs.shape[1] < SERIAL_WORK
    for col in range(0, n_k, cols):  # keys outer: each key block is converted once
        block = ks[col : col + cols].astype(np.float64)
        k0 = np.sqrt(1.0 / c + np.einsum("ij,ij->i", block, block))
        for row in range(0, n_q, rows):
            gram = qs64[row : row + rows] @ block.T
            K.knn_tile(
                qs, ks[col : col + cols], gram, q0, k0, row, col, c, tol, best_u, best_i, serial
            )
    out = np.empty((n_q, k), dtype=dtype)
    K.u_to_dist(best_u, c, out)
    # rows where fewer than k keys entered (a NaN query, NaN keys, overflowing distances: a
    # NaN or inf never beats the initial inf) are ranked again with NaN as +inf, ties to the
    # lower index, so every index is a key and a NaN query gets NaN distances
    short = np.flatnonzero(best_i[:, -1] < 0)
    if short.size:
        d = pairwise_dist(queries[short], keys, c, np.float64)
        order = np.argsort(np.where(np.isnan(d), np.inf, d), axis=1, kind="stable")[:, :k]
        best_i[short] = order
        out[short] = np.take_along_axis(d, order, axis=1)
    return out, best_i


def expmap0(u, c: float, dtype) -> np.ndarray:
    u = _take(u, dtype)
    flat = u.reshape(-1, u.shape[-1])
    out = np.empty(flat.shape, dtype=dtype)
    K.expmap0_rows(flat, c, out, flat.size < SERIAL_WORK)
    return out.reshape(u.shape)


def logmap0(y, c: float, dtype) -> np.ndarray:
    y = _take(y, dtype)
    flat = y.reshape(-1, y.shape[-1])
    out = np.empty(flat.shape, dtype=dtype)
    K.logmap0_rows(flat, c, out, flat.size < SERIAL_WORK)
    return out.reshape(y.shape)


def dist0(x, c: float, dtype) -> np.ndarray:
    x = _take(x, dtype)
    flat = x.reshape(-1, x.shape[-1])
    out = np.empty(flat.shape[0], dtype=dtype)
    K.dist0_rows(flat, c, out, flat.size < SERIAL_WORK)
    return out.reshape(x.shape[:-1])


# Backward passes: ambient arrays of one shape in (broadcast by the caller), the gradients
# with respect to them out, in their dtype (time components 0: they are never read).


def _rows(*arrays):
    return [a.reshape(-1, a.shape[-1]) for a in arrays]


def dist_backward(x, y, c: float, grad):
    (xf, yf), g = _rows(x, y), grad.reshape(-1)
    gx, gy = np.empty(xf.shape, x.dtype), np.empty(yf.shape, y.dtype)
    B.dist_grad_rows(xf, yf, g, c, gx, gy, xf.size < SERIAL_WORK)
    return gx.reshape(x.shape), gy.reshape(y.shape)


def dist0_backward(x, c: float, grad):
    (xf,) = _rows(x)
    gx = np.empty(xf.shape, x.dtype)
    B.dist0_grad_rows(xf, grad.reshape(-1), c, gx, xf.size < SERIAL_WORK)
    return gx.reshape(x.shape)


def expmap0_backward(u, c: float, grad):
    uf, gf = _rows(u, grad)
    gu = np.empty(uf.shape, u.dtype)
    B.expmap0_grad_rows(uf, gf, c, gu, uf.size < SERIAL_WORK)
    return gu.reshape(u.shape)


def logmap0_backward(y, c: float, grad):
    yf, gf = _rows(y, grad)
    gy = np.empty(yf.shape, y.dtype)
    B.logmap0_grad_rows(yf, gf, c, gy, yf.size < SERIAL_WORK)
    return gy.reshape(y.shape)


def _launch(kernel, a, out_cols, dtype, *args):
    """Rows of ``a`` through a forward row kernel into a new (rows, out_cols) array, or (rows,)
    when out_cols is None."""
    flat = _take(a, dtype).reshape(-1, a.shape[-1])
    out = np.empty(flat.shape[0] if out_cols is None else (flat.shape[0], out_cols), dtype=dtype)
    kernel(flat, *args, out, flat.size < SERIAL_WORK)
    return out.reshape(a.shape[:-1] if out_cols is None else (*a.shape[:-1], out_cols))


def _launch_grad(kernel, a, grad, *args):
    flat = a.reshape(-1, a.shape[-1])
    g = grad.reshape(flat.shape[0], -1) if grad.ndim > a.ndim - 1 else grad.reshape(-1)
    out = np.empty(flat.shape, a.dtype)
    kernel(flat, g, *args, out, flat.size < SERIAL_WORK)
    return out.reshape(a.shape)


def half_aperture(x, c: float, min_radius: float, dtype) -> np.ndarray:
    return _launch(C.half_aperture_rows, x, None, dtype, c, 2.0 * min_radius)


def half_aperture_backward(x, c: float, min_radius: float, grad):
    return _launch_grad(C.half_aperture_grad_rows, x, grad, c, 2.0 * min_radius)


def to_poincare(x, c: float, dtype) -> np.ndarray:
    return _launch(M.to_poincare_rows, x, x.shape[-1] - 1, dtype, c)


def to_poincare_backward(x, c: float, grad):
    return _launch_grad(M.to_poincare_grad_rows, x, grad, c)


def from_poincare(p, c: float, dtype) -> np.ndarray:
    return _launch(M.from_poincare_rows, p, p.shape[-1] + 1, dtype, c)


def from_poincare_backward(p, c: float, grad):
    return _launch_grad(M.from_poincare_grad_rows, p, grad, c)


def _pair_rows(kernel, reference, arrays, c: float, dtype, out_cols):
    """Rows of two (or more) ambient arrays through a forward row kernel that marks the rows
    outside its plain range (huge, tiny, far out) as odd; those are finished by the reference's
    square-free form, so every row has the reference's accuracy. out_cols None: one value a
    row."""
    arrays = [_take(a, dtype) for a in arrays]
    if any(a.shape != arrays[0].shape for a in arrays):
        arrays = _broadcast(*arrays)
    flat = _rows(*arrays)
    rows = flat[0].shape[0]
    out = np.empty((rows,) if out_cols is None else (rows, out_cols), dtype=dtype)
    odd = np.empty(rows, dtype=np.bool_)
    kernel(*flat, c, out, odd, flat[0].size < SERIAL_WORK)
    if odd.any():
        wide = reference(*(_wide(a[odd]) for a in flat), c, xp=np_compat)
        out[odd] = wide[:, 0] if out_cols is None else wide
    shape = arrays[0].shape
    return out.reshape(shape[:-1] if out_cols is None else shape)


def _pair_rows_backward(kernel, reference, arrays, c: float, grad):
    """The backward pass of _pair_rows (arrays of one shape): the kernel's closed form, and for
    its odd rows torch's autograd through the reference."""
    flat = _rows(*arrays)
    rows = flat[0].shape[0]
    g = grad.reshape(rows, -1) if grad.ndim == arrays[0].ndim else grad.reshape(-1)
    grads = [np.empty(a.shape, a.dtype) for a in flat]
    odd = np.empty(rows, dtype=np.bool_)
    kernel(*flat, g, c, *grads, odd, flat[0].size < SERIAL_WORK)
    if odd.any():
        wide = _reference_vjp(reference, [a[odd] for a in flat], c, g[odd])
        for out, w in zip(grads, wide):
            out[odd] = w
    return tuple(out.reshape(a.shape) for out, a in zip(grads, arrays))


def exterior_angle(x, y, c: float, dtype) -> np.ndarray:
    return _pair_rows(C.exterior_angle_rows, ref.exterior_angle, (x, y), c, dtype, None)


def exterior_angle_backward(x, y, c: float, grad):
    return _pair_rows_backward(C.exterior_angle_grad_rows, ref.exterior_angle, (x, y), c, grad)


def expmap(x, u, c: float, dtype) -> np.ndarray:
    return _pair_rows(P.expmap_rows, ref.expmap, (x, u), c, dtype, x.shape[-1])


def expmap_backward(x, u, c: float, grad):
    return _pair_rows_backward(P.expmap_grad_rows, ref.expmap, (x, u), c, grad)


def logmap(x, y, c: float, dtype) -> np.ndarray:
    return _pair_rows(P.logmap_rows, ref.logmap, (x, y), c, dtype, x.shape[-1])


def logmap_backward(x, y, c: float, grad):
    return _pair_rows_backward(P.logmap_grad_rows, ref.logmap, (x, y), c, grad)


def transport(x, y, v, c: float, dtype) -> np.ndarray:
    return _pair_rows(P.transport_rows, ref.transport, (x, y, v), c, dtype, x.shape[-1])


def transport_backward(x, y, v, c: float, grad):
    return _pair_rows_backward(P.transport_grad_rows, ref.transport, (x, y, v), c, grad)


def _wide(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float64, copy=False)


def _reference_vjp(f, args, c: float, grad):
    """The gradients of sum(grad * f(*args)) by torch's autograd through the reference: for the
    few rows a compiled backward leaves to it (only torch tensors reach a backward pass). Run
    on a worker thread: a custom operator's body runs with torch's autograd keys excluded from
    dispatch, and that state is thread-local (autograd there recorded nothing: zeros)."""
    return _autograd_thread().submit(_vjp, f, args, c, grad).result()


@functools.cache
def _autograd_thread():
    return concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="lorentz-vjp")


def _vjp(f, args, c: float, grad):
    import torch
    from array_api_compat import array_namespace

    with torch.enable_grad():
        ts = [torch.from_numpy(_wide(a)).requires_grad_() for a in args]
        out = f(*ts, c, xp=array_namespace(ts[0]))
        if not out.requires_grad:  # every row took a constant branch (the origin, say)
            return [np.zeros_like(a) for a in args]
        grads = torch.autograd.grad(
            out, ts, torch.from_numpy(_wide(grad)).reshape(out.shape), allow_unused=True
        )
    return [np.zeros_like(a) if g is None else g.numpy() for a, g in zip(args, grads)]
