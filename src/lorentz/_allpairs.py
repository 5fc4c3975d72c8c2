"""All-pairs distances at matrix-multiply speed, exact: the algorithm of the numba and Triton
kernels written once against the array API.

One GEMM per tile gives u = -c<x,y>_L - 1 for every pair: with a = [x0, xs, 1] and
b = [c y0, -c ys, -1] (time coordinates re-derived from the space parts), u = a . b. That form
cancels for near pairs, so each pair's error is bounded a priori and the pairs whose bound
could miss the accuracy contract are recomputed by the cancellation-free formula
(``_reference.cosh_minus_one``). The bound: the dot product of length n + 2 errs by at most
(n + 2) eps sum |a_k b_k| <= 3 (n + 2) eps c x0 y0 (as c x0 y0 >= 1), and the roundings of
x0, y0, c y0 and c ys add (n + 5) eps c x0 y0; below 4 (n + 3) eps c x0 y0 in all. d moves by
at most that over sqrt(u (u + 2)), so its relative error is at most that over
f(u) = sqrt(u (u + 2)) acosh(1 + u), and a pair is good to ``tol`` when
f(u) >= 4 (n + 3) eps c x0 y0 / tol. f is increasing, so this is u >= T = f^-1(...): T is
taken per row against x0_i max_j y0_j (one comparison per pair, no outer product), an upper
bound of f^-1 found by Newton's method on the N rows. That flags a superset of the pairs that need
it: usually the diagonal of pairwise_dist(x, x) and little else. (The simpler bound
f(u) >= 2u flags every pair of random 512-dimensional float64 points.)

The recompute set is data-dependent. Eagerly (numpy, torch, cupy, array-api-strict) it is a
boolean mask: nonzero, gather, recompute, masked assignment. Under jax (eager or jit) it is a
``lax.while_loop`` whose every round takes each row's first flagged pair (argmax over the
flags, static shapes): one round, one extra pass over the flags, in the usual case. Gradients (``_allpairs_autodiff``) come from
the same tiles through GEMMs, with the recomputed pairs' gradients formed exactly.

Functions here take space parts with leading batch dimensions (B, N, n) and (B, M, n) in the
input dtype and ``c`` as a float or an array of shape (1,); nothing here records autograd.
"""

from __future__ import annotations

import math
from typing import Any

from array_api_compat import device as device_of

from ._arguments import compute_dtype
from ._guarded import maybe
from ._reference import _quiet, cosh_minus_one, scaled_distance, time

# float64 elements of one (rows x M) tile: 32 MiB, the numba kernels' tile
TILE = 1 << 22
# relative error of d allowed from the GEMM before a pair is recomputed: the numba kernels'
# budget (float32: 5e-7 against the 2e-6 contract, after the float32 epilogue's 3e-7 worst
# case; float64: 2e-13 against 1e-12)
TOL32, TOL64 = 5e-7, 2e-13


def is_jax(xp) -> bool:
    return getattr(xp, "__name__", "").startswith("jax")


def is_torch(xp) -> bool:
    return getattr(xp, "__name__", "").endswith("torch")


def tol(xp, dtype) -> float:
    return TOL64 if dtype == xp.float64 else TOL32


def epilogue_dtype(xp, dtype, work):
    """The dtype d is formed in from an exact u: the output's (float32 for half precision),
    never wider than the work dtype. From float64 u rounded to float32 (6e-8) the float32
    sqrt and log1p add about 2 ulp: <= 3e-7 relative, inside the 2e-6 contract, at half the
    memory traffic of float64."""
    if dtype == xp.float64 or work == xp.float32:
        return work
    return xp.float32


def _sqrt(c):
    return math.sqrt(c) if isinstance(c, float) else c**0.5


class Side:
    """One operand's space parts in the work dtype, its time coordinates and its GEMM rows."""

    # the GEMM's arithmetic and the inputs' dtype, set by sides() for torch (the precision
    # rule of lorentz._triton.precision on CUDA devices)
    scheme: str = "float64"
    dtype: Any = None

    def __init__(self, s, c, *, xp, work, left: bool):
        self.s = xp.astype(s, work) if s.dtype != work else s
        self.x0 = time(self.s, c, xp=xp)
        one = xp.ones_like(self.x0)
        if left:
            self.gemm = xp.concat([self.x0, self.s, one], axis=-1)
        else:
            self.gemm = xp.concat([c * self.x0, -c * self.s, -one], axis=-1)

    def rows(self, start, stop):
        stop = min(stop, self.s.shape[-2])  # array-api-strict refuses stops past the end
        return (
            self.s[..., start:stop, :],
            self.x0[..., start:stop, :],
            self.gemm[..., start:stop, :],
        )


def sides(xs, ys, c, *, xp):
    """(left, right, work dtype, tolerance): the operands of an all-pairs pass (B, N, n) and
    (B, M, n), and the GEMM tolerance for the dtype of the results."""
    work = compute_dtype(xp, getattr(xs, "device", None))
    left, right = (
        Side(xs, c, xp=xp, work=work, left=True),
        Side(ys, c, xp=xp, work=work, left=False),
    )
    follow_rule(right, xs, ys, xp=xp)
    return left, right, work, tol(xp, xs.dtype)


def follow_rule(right: Side, xs, ys, *, xp) -> None:
    """Set the GEMM scheme of ``right`` for torch rows ``xs``, ``ys`` of one dtype by the
    precision rule (lorentz._triton.precision: float64 but on CUDA devices)."""
    if is_torch(xp) and xs.dtype == ys.dtype:
        from ._triton import precision  # torch only; imports no triton

        right.scheme, right.dtype = precision.reference_scheme(xs), xs.dtype


def threshold(x0, ymax, n: int, c, tolerance: float, *, xp):
    """T per row: pairs with u >= T are good to ``tolerance`` from the GEMM (see above).

    With t = acosh(1 + u), f(u) = t sinh t is increasing and convex in u (f' = 1 + t coth t,
    f'' = (coth t - t / sinh^2 t) / sinh t >= 0), so Newton's method started above the root,
    at v/2 (f(u) >= 2u), stays above it: three steps, a few ulp of margin for their roundings.
    """
    eps = float(xp.finfo(x0.dtype).eps)
    v = (4.0 * (n + 3) * eps / tolerance) * (c * x0) * ymax
    u = 0.5 * v
    for _ in range(3):
        s = xp.sqrt(u * (u + 2.0))
        t = xp.log1p(u + s)
        u = u - (t * s - v) / (1.0 + t * (1.0 + u) / s)
    return u * (1.0 + 8.0 * eps)


def tile_dist(xs, x0, xg, right: Side, c, tolerance, out_dtype, *, xp):
    """sqrt(c) d for a tile of rows (B, R, .) against every row of ``right``, in ``out_dtype``
    (None: u itself, in the work dtype, for ranking): from the GEMM value of u, with the pairs
    whose bound could miss ``tolerance`` recomputed exactly. Distances, not u, are patched, so
    the GEMM's output is read once more only.

    On a CUDA device the precision rule of the Triton kernels decides the GEMM's arithmetic
    (``right.scheme``, set by ``sides``; lorentz._triton.precision): "float64" is the GEMM
    above; "split" (float32 inputs on GPUs without float64 throughput) and "half"
    (float16/bfloat16 inputs) take u from the torch form of the mixed kernels' arithmetic
    (precision.scheme_u: split pieces or half values in float32 matrix products, float-float
    sums) with its a-posteriori per-pair bound, and the pairs that bound could not clear
    recomputed exactly here."""
    scheme = right.scheme
    if scheme != "float64":
        return _tile_dist_scheme(xs, right, c, scheme, out_dtype, xp=xp)
    u = _matmul_t(xg, right.gemm, xp=xp)
    ymax = xp.max(right.x0, axis=-2, keepdims=True)  # (B, 1, 1)
    # far out (x0 y0 past 2^512) T is NaN and a GEMM value may overflow: those pairs are
    # recomputed too (so are NaN rows, which stay NaN)
    cand = ~((u >= threshold(x0, ymax, xs.shape[-1], c, tolerance, xp=xp)) & (u < math.inf))
    out = u if out_dtype is None else scaled_dist(u, out_dtype, xp=xp)
    return recompute(out, cand, xs, right.s, c, xp=xp, distance=out_dtype is not None)


def _tile_dist_scheme(xs, right: Side, c, scheme: str, out_dtype, *, xp):
    from ._triton import precision

    cc = c if isinstance(c, float) else c.detach()
    us, cands = [], []
    for b in range(xs.shape[0]):
        u, redo, _, _ = precision.scheme_u(
            xs[b].to(right.dtype), right.s[b].to(right.dtype), cc, scheme
        )
        us.append(u.to(xs.dtype))
        cands.append(redo)
    u, cand = xp.stack(us), xp.stack(cands)
    out = u if out_dtype is None else scaled_dist(u, out_dtype, xp=xp)
    return recompute(out, cand, xs, right.s, c, xp=xp, distance=out_dtype is not None)


def _matmul(a, b, *, xp):
    """a @ b over (B, ., .) stacks; one batch goes through the 2-D GEMM, which torch runs
    faster than a batched one of one matrix (12.8 against 14.4 ms at 1024 x 1024 x 514)."""
    if a.shape[0] == 1 and b.shape[0] == 1:
        return xp.expand_dims(xp.matmul(a[0, ...], b[0, ...]), axis=0)
    return xp.matmul(a, b)


def _matmul_t(a, b, *, xp):
    """a @ b^T over (B, ., .) stacks."""
    return _matmul(a, xp.matrix_transpose(b), xp=xp)


# ------------------------------------------------------------------ the recompute set


def for_pairs(cand, state, step, *, xp):
    """Apply ``step(state, b, i, j, valid)`` to the pairs (b, i, j) where ``cand`` (B, R, M)
    is true. Eagerly all at once (valid None). Under jax, whose shapes must be static, in
    rounds of one pair per row: each round takes every row's first flagged column (argmax, one
    pass over the flags), invalid where a row has none, and clears it; as many rounds as the
    most flagged pairs in one row (one for the diagonal of pairwise_dist(x, x))."""
    if not is_jax(xp):
        if not bool(xp.any(cand)):
            return state
        b, i, j = xp.nonzero(cand)
        return step(state, b, i, j, None)
    import jax

    nb, r, _m = cand.shape
    b = xp.reshape(xp.broadcast_to(xp.arange(nb, device=device_of(cand))[:, None], (nb, r)), (-1,))
    i = xp.reshape(xp.broadcast_to(xp.arange(r, device=device_of(cand))[None, :], (nb, r)), (-1,))

    def body(carry):
        state, todo = carry
        j = xp.argmax(todo, axis=-1)  # (B, R): the first flagged column, 0 if none
        valid = xp.take_along_axis(todo, j[..., None], axis=-1)[..., 0]
        j, valid = xp.reshape(j, (-1,)), xp.reshape(valid, (-1,))
        return step(state, b, i, j, valid), todo.at[b, i, j].set(False)

    state, _ = jax.lax.while_loop(lambda carry: xp.any(carry[1]), body, (state, cand))
    return state


def gather(s, b, i, *, xp):
    """Rows i of batch b of s (B, R, n), as (K, n)."""
    nb, r, n = s.shape
    return xp.take(xp.reshape(s, (nb * r, n)), b * r + i, axis=0)


def recompute(sd, cand, xs, ys, c, *, xp, distance=True):
    """sqrt(c) d (or u, ``distance`` False) with the pairs in ``cand`` replaced by the
    cancellation-free formula."""
    nb, r, m = sd.shape

    def step(sd, b, i, j, valid):
        a, e = gather(xs, b, i, xp=xp), gather(ys, b, j, xp=xp)
        if distance:  # exact to the representable radius, where u itself may overflow
            exact = xp.astype(scaled_distance(a, e, c, xp=xp)[:, 0], sd.dtype)
        else:
            exact = cosh_minus_one(a, e, c, xp=xp)[:, 0]
        if valid is None:
            sd[cand] = exact  # nonzero and the mask list pairs in the same (row-major) order
            return sd
        flat = xp.where(valid, (b * r + i) * m + j, nb * r * m)
        return xp.reshape(xp.reshape(sd, (-1,)).at[flat].set(exact, mode="drop"), sd.shape)

    return for_pairs(cand, sd, step, xp=xp)


def scaled_dist(u, out_dtype, *, xp):
    """sqrt(c) d = acosh(1 + u) = log1p(u + sqrt(u (u + 2))) from u >= 0: a sum of positive
    terms, then log1p, exact at u ~ 0; one sqrt and one log a pair where 2 asinh(sqrt(u/2))
    costs two of each (1.4x the time under jax). A GEMM value below 0 (a flagged pair, to be
    recomputed) gives 0, not a NaN; NaN stays NaN."""
    big = u > float(xp.finfo(out_dtype).max) ** 0.5 / 4.0  # where v (v + 2) overflows
    far = maybe(big, xp=xp)
    if far:  # there acosh(1 + u) = log 2 + log1p(u) - 1/(4 u^2), the last term below an ulp
        logs = math.log(2.0) + xp.log1p(xp.where(big, u, 0.0))  # in u's dtype: u may not fit
        logs = xp.astype(logs, out_dtype) if logs.dtype != out_dtype else logs
        u = xp.where(big, 0.0, u)
    v = xp.clip(xp.astype(u, out_dtype) if u.dtype != out_dtype else u, min=0.0)
    d = xp.log1p(v + xp.sqrt(v * (v + 2.0)))
    return xp.where(big, logs, d) if far else d


def row_step(n_rows: int, m_rows: int) -> int:
    return max(1, min(n_rows, TILE // max(1, m_rows)))


# ------------------------------------------------------------------ forward passes


@_quiet
def pairwise_dist(xs, ys, c, *, xp):
    """(B, N, M) distances in the dtype of xs from space parts (B, N, n), (B, M, n)."""
    dtype = xs.dtype
    left, right, work, tolerance = sides(xs, ys, c, xp=xp)
    ep = epilogue_dtype(xp, dtype, work)
    inv = 1.0 / _sqrt(c)
    n_rows = xs.shape[-2]
    if n_rows == 0 or ys.shape[-2] == 0:
        return xp.zeros((*xs.shape[:-1], ys.shape[-2]), dtype=dtype, device=device_of(xs))
    step = row_step(n_rows, ys.shape[-2])
    blocks = []
    for r in range(0, n_rows, step):
        sd = tile_dist(*left.rows(r, r + step), right, c, tolerance, ep, xp=xp)
        d = sd * (xp.astype(inv, ep) if not isinstance(inv, float) else inv)
        blocks.append(xp.astype(d, dtype) if d.dtype != dtype else d)
    return blocks[0] if len(blocks) == 1 else xp.concat(blocks, axis=-2)


@_quiet
def neg_dist_lse(xs, ys, c, scale, *, xp):
    """Both log-sum-exps of the logits a = -scale d(x_i, y_j) for space parts (N, n), (M, n),
    streamed over tiles of rows of xs: (lse over j for each i, lse over i for each j, tile),
    in the work dtype. ``tile`` is sqrt(c) d (N, M) when one tile holds every row, for the
    backward pass to reuse instead of recomputing it (memory: that tile, as while computing
    it), else an empty (0, 0) array. Memory: one tile."""
    xs, ys = xp.expand_dims(xs, axis=0), xp.expand_dims(ys, axis=0)
    left, right, work, tolerance = sides(xs, ys, c, xp=xp)
    inv = 1.0 / _sqrt(c)
    n_rows, m_rows = xs.shape[-2], ys.shape[-2]
    step = row_step(n_rows, m_rows)
    rows = []
    # every array made here lives on the inputs' device (a CPU default meets CUDA inputs)
    col_max = xp.full((m_rows,), -math.inf, dtype=work, device=device_of(xs))
    col_sum = xp.zeros((m_rows,), dtype=work, device=device_of(xs))
    for r in range(0, n_rows, step):
        sd = tile_dist(*left.rows(r, r + step), right, c, tolerance, work, xp=xp)
        a = (-scale * inv) * sd[0, ...]
        rows.append(_lse(a, 1, xp))
        new_max = xp.maximum(col_max, xp.max(a, axis=0))
        col_sum = col_sum * xp.exp(col_max - new_max) + xp.sum(xp.exp(a - new_max), axis=0)
        col_max = new_max
    if len(rows) == 1:
        return rows[0], col_max + xp.log(col_sum), sd[0, ...]
    return (
        xp.concat(rows, axis=0),
        col_max + xp.log(col_sum),
        xp.zeros((0, 0), dtype=work, device=device_of(xs)),
    )


def keeps_tile(n_rows: int, m_rows: int) -> bool:
    """Whether neg_dist_lse returns its one tile (every row fits in it)."""
    return row_step(n_rows, m_rows) >= n_rows


def _lse(a, axis, xp):
    m = xp.max(a, axis=axis, keepdims=True)
    return xp.squeeze(m, axis=axis) + xp.log(xp.sum(xp.exp(a - m), axis=axis))


# ------------------------------------------------------------------ gradients


def _add_rows(acc, rows, vals, *, xp):
    """acc with vals added at rows (repeated rows accumulate): torch and jax only, the two
    libraries with autograd; jax drops out-of-range rows (the padding of for_pairs)."""
    if is_jax(xp):
        return acc.at[rows].add(vals, mode="drop")
    return acc.index_add(0, rows, vals)


def tile_grads(gd, sd, xs, x0, right: Side, c, tolerance, *, xp):
    """Gradients of sum(gd * d) over a tile (B, R, M) of distances d(xs_i, ys_j), given
    sd = sqrt(c) d, all in the work dtype: (gxs (B, R, n), gys (B, M, n), gc).

    With W = gd / (sqrt(c) sinh(sd)) and du/dxs = c (y0 xs / x0 - ys), the sums over pairs
    are GEMMs:
        gxs = c (xs (W y0) / x0 - W ys),   gys = c (ys (W^T x0) / y0 - W^T xs).
    Those cancel for near pairs far out (eps |ys| / d relative), so the pairs flagged as the
    forward pass flags them are left out of the GEMMs and added exactly, with
    x0 - y0 = (D.S) / (x0 + y0), D = xs - ys, S = xs + ys:
        du/dxs = c (D - xs (D.S) / ((x0 + y0) x0)),   du/dys = c (-D + ys (D.S) / ((x0 + y0) y0)),
    and W = 0 at d = 0 (the zero subgradient; NaN kept). With the time coordinates depending
    on c, dd/dc = -d / (2c) + W (u - (x0 - y0)^2 / (2 x0 y0)) / c, where for the GEMM pairs
    u - (x0 - y0)^2 / (2 x0 y0) = cosh(sd) - x0 / (2 y0) - y0 / (2 x0) sums by matrix-vector
    products (those pairs have u >= T, so the cancellation costs eps (1 + u) / u, at most
    2e-9 relative); the flagged pairs take the exact form.

    On a CUDA device whose precision rule picks "split" or "half" (``right.scheme``), the
    two gradient GEMMs take that scheme's arithmetic (precision.dot, as the Triton kernels'
    backward pass), and the pairs with sqrt(c) d < precision.NEAR are flagged too.
    """
    s = _sqrt(c)
    y0, ys = right.x0, right.s
    ymax = xp.max(y0, axis=-2, keepdims=True)
    cand = sd < scaled_dist(threshold(x0, ymax, xs.shape[-1], c, tolerance, xp=xp), sd.dtype, xp=xp)
    if right.scheme != "float64":
        from ._triton import precision

        cand = cand | (sd < precision.NEAR)
    # W sqrt(c) for the GEMM pairs; a flagged pair's inf or NaN (d = 0) is dropped by the where
    wg = xp.where(cand, 0.0, gd / xp.sinh(sd))
    wt = xp.matrix_transpose(wg)
    w_y0, w_ys = _products(wg, y0, ys, right.scheme, xp=xp)
    wt_x0, wt_xs = _products(wt, x0, xs, right.scheme, xp=xp)
    k = c / s
    gxs = k * (xs * (w_y0 / x0) - w_ys)
    gys = k * (ys * (wt_x0 / y0) - wt_xs)
    gc = (
        _vdot(wg, xp.cosh(sd), xp=xp)
        - 0.5 * xp.sum(x0 * _matmul(wg, 1.0 / y0, xp=xp))
        - 0.5 * xp.sum(w_y0 / x0)
    ) / (c * s) - _vdot(gd, sd, xp=xp) / (2.0 * c * s)
    nb, r, n = xs.shape
    m = ys.shape[-2]

    def step(state, b, i, j, valid):
        gx, gy, gc = state
        xg, yg = gather(xs, b, i, xp=xp), gather(ys, b, j, xp=xp)
        x0g, y0g = gather(x0, b, i, xp=xp), gather(y0, b, j, xp=xp)
        pair = (b * r + i) * m + j
        sd_g = xp.take(xp.reshape(sd, (-1,)), pair)[:, None]
        sh = xp.sinh(sd_g)
        zero = sh == 0
        w = xp.where(
            zero, 0.0, xp.take(xp.reshape(gd, (-1,)), pair)[:, None] / (s * xp.where(zero, 1.0, sh))
        )
        if valid is not None:
            w = xp.where(valid[:, None], w, 0.0)
        diff = xg - yg
        dot = xp.sum(diff * (xg + yg), axis=-1, keepdims=True)
        den = x0g + y0g
        gx = _add_rows(gx, b * r + i, (c * w) * (diff - xg * dot / (den * x0g)), xp=xp)
        gy = _add_rows(gy, b * m + j, (c * w) * (yg * dot / (den * y0g) - diff), xp=xp)
        half = xp.sinh(0.5 * sd_g)
        gap = dot / den
        gc = gc + xp.sum(w * (2.0 * half * half - gap * gap / (2.0 * x0g * y0g))) / c
        return gx, gy, gc

    gx, gy, gc = for_pairs(
        cand, (xp.reshape(gxs, (nb * r, n)), xp.reshape(gys, (nb * m, n)), gc), step, xp=xp
    )
    return xp.reshape(gx, xs.shape), xp.reshape(gy, ys.shape), gc


def _products(w, t, s, scheme: str, *, xp):
    """(w @ t, w @ s) over (B, ., .) stacks: GEMMs in the work dtype, or by a mixed scheme's
    arithmetic (lorentz._triton.precision.dot; torch only) one batch at a time."""
    if scheme == "float64":
        return _matmul(w, t, xp=xp), _matmul(w, s, xp=xp)
    from ._triton import precision

    out = xp.stack(
        [
            precision.dot(w[b], xp.matrix_transpose(xp.concat([t[b], s[b]], axis=-1)), scheme)[0]
            for b in range(w.shape[0])
        ]
    )
    return out[..., :1], out[..., 1:]


def _vdot(a, b, *, xp):
    """sum(a * b) over every element, in one pass where the library has a dot product."""
    return xp.vecdot(xp.reshape(a, (-1,)), xp.reshape(b, (-1,)))


@_quiet
def pairwise_dist_grads(gd, d, xs, ys, c, *, xp):
    """(gxs, gys, gc) of sum(gd * pairwise_dist(xs, ys, c)), in the work dtype, tile by tile."""
    left, right, work, tolerance = sides(xs, ys, c, xp=xp)
    gd, sd = xp.astype(gd, work), _sqrt(c) * xp.astype(d, work)
    step = row_step(xs.shape[-2], ys.shape[-2])
    gx, gy, gc = [], xp.zeros_like(right.s), 0.0
    for r in range(0, xs.shape[-2], step):
        xs_r, x0_r, _ = left.rows(r, r + step)
        rows = slice(r, r + xs_r.shape[-2])
        a, b, g = tile_grads(
            gd[..., rows, :], sd[..., rows, :], xs_r, x0_r, right, c, tolerance, xp=xp
        )
        gx.append(a)
        gy, gc = gy + b, gc + g
    gx = xp.concat(gx, axis=-2) if len(gx) != 1 else gx[0]
    return gx, gy, gc


@_quiet
def neg_dist_lse_grads(g_row, g_col, row_lse, col_lse, tile, xs, ys, c, scale, *, xp):
    """(gxs, gys, gc, gscale) of sum(g_row * row_lse + g_col * col_lse) (see neg_dist_lse):
    each tile is recomputed (or ``tile`` reused, when neg_dist_lse kept its only one), its
    softmax weights formed from the saved log-sum-exps, and the distance gradients taken by
    tile_grads. Memory: one tile."""
    xs, ys = xp.expand_dims(xs, axis=0), xp.expand_dims(ys, axis=0)
    left, right, work, tolerance = sides(xs, ys, c, xp=xp)
    inv = 1.0 / _sqrt(c)
    step = row_step(xs.shape[-2], ys.shape[-2])
    gx, gy, gc, gscale = [], xp.zeros_like(right.s), 0.0, 0.0
    for r in range(0, xs.shape[-2], step):
        xs_r, x0_r, xg_r = left.rows(r, r + step)
        if tile.shape[0]:
            sd = xp.expand_dims(tile, axis=0)
        else:
            sd = tile_dist(xs_r, x0_r, xg_r, right, c, tolerance, work, xp=xp)
        a = (-scale * inv) * sd[0, ...]
        rows = slice(r, r + xs_r.shape[-2])
        ga = g_row[rows, None] * xp.exp(a - row_lse[rows, None]) + g_col[None, :] * xp.exp(
            a - col_lse[None, :]
        )
        gscale = gscale - inv * _vdot(ga, sd, xp=xp)
        gxs, gys, g = tile_grads(
            xp.expand_dims(-scale * ga, axis=0), sd, xs_r, x0_r, right, c, tolerance, xp=xp
        )
        gx.append(gxs)
        gy, gc = gy + gys, gc + g
    gx = xp.concat(gx, axis=-2) if len(gx) != 1 else gx[0]
    return gx[0, ...], gy[0, ...], gc, gscale


# ------------------------------------------------------------------ nearest neighbours


def smallest_k(u, k: int, *, xp):
    """The k smallest entries of each row of u (R, C) and their columns, ascending, equal
    values in column order: a selection (topk, argpartition) where the library has one, a
    stable sort of the rows that hold a tie at the k-th value."""
    if k >= u.shape[1]:
        order = xp.argsort(u, axis=1, stable=True)
        return xp.take_along_axis(u, order, axis=1), order
    # jax first: its namespace, "jax.numpy", also ends with "numpy"
    if is_jax(xp):
        import jax

        # ascending, equal values in column order; top_k ranks NaN above everything, so a
        # NaN pair (an inf key) would come first: it is ranked last, as elsewhere
        neg, top = jax.lax.top_k(xp.where(xp.isnan(u), -math.inf, -u), k)
        return -neg, top
    vals: Any
    idx: Any
    if is_torch(xp):
        import torch

        vals, idx = torch.topk(u, k, dim=1, largest=False, sorted=False)
    elif getattr(xp, "__name__", "").endswith("numpy"):
        import numpy as np

        idx = np.argpartition(u, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(u, idx, axis=1)
    else:
        order = xp.argsort(u, axis=1, stable=True)[:, :k]
        return xp.take_along_axis(u, order, axis=1), order
    # a selection may take any of several keys tied at the k-th value: such rows are sorted
    kth = xp.max(vals, axis=1, keepdims=True)
    tied = xp.sum(xp.astype(u <= kth, xp.int32), axis=1) > k
    if bool(xp.any(tied)):
        rows = xp.nonzero(tied)[0]
        order = xp.argsort(xp.take(u, rows, axis=0), axis=1, stable=True)[:, :k]
        vals[rows] = xp.take_along_axis(xp.take(u, rows, axis=0), order, axis=1)
        idx[rows] = order
    by_index = xp.argsort(idx, axis=1)
    idx, vals = (
        xp.take_along_axis(idx, by_index, axis=1),
        xp.take_along_axis(vals, by_index, axis=1),
    )
    by_value = xp.argsort(vals, axis=1, stable=True)
    return xp.take_along_axis(vals, by_value, axis=1), xp.take_along_axis(idx, by_value, axis=1)


# queries per block and key-tile elements of knn: memory O(N k + KNN_TILE)
KNN_ROWS = 1024
KNN_TILE = 1 << 21


@_quiet
def knn_indices(qs, ks, k: int, c, *, xp):
    """Indices (N, k) of the k keys nearest each query, ascending, ties to the lower index;
    ranked by u (monotone in d: no logarithm per pair; by sqrt(c) d for blocks of queries
    whose u may overflow), tile by tile with a stable merge (running best first)."""
    work = compute_dtype(xp, getattr(qs, "device", None))
    # ranks as an exact sort up to one float32 ulp (the numba kernel's contract), 2e-13 in
    # float64; on a CUDA device whose precision rule picks "split" or "half", up to that
    # scheme's tolerance, as the Triton kernels rank
    tolerance = 2.0**-23 if qs.dtype != xp.float64 else TOL64
    n_q, n_k = qs.shape[0], ks.shape[0]
    rows = max(1, min(n_q, KNN_ROWS))
    cols = max(k, KNN_TILE // rows)
    left = Side(xp.expand_dims(qs, axis=0), c, xp=xp, work=work, left=True)
    k0_max = xp.max(time(xp.astype(ks, work), c, xp=xp)) if n_k else 1.0
    out = []
    for r in range(0, n_q, rows):
        best_u = best_i = None
        q_rows = left.rows(r, r + rows)
        # far out u = c x0 y0 - ... may overflow (ties at inf): ranked by sqrt(c) d there
        keys = work if maybe(q_rows[1] * k0_max > 2.0**500, xp=xp) else None
        for col in range(0, n_k, cols):
            right = Side(
                xp.expand_dims(ks[col : min(col + cols, n_k), :], axis=0),
                c,
                xp=xp,
                work=work,
                left=False,
            )
            follow_rule(right, qs, ks, xp=xp)
            q_s, q_0, q_gemm = q_rows
            u = tile_dist(q_s, q_0, q_gemm, right, c, tolerance, keys, xp=xp)
            vals, idx = smallest_k(u[0, ...], min(k, u.shape[2]), xp=xp)
            idx = idx + col
            if best_u is not None:
                vals = xp.concat([best_u, vals], axis=1)
                idx = xp.concat([best_i, idx], axis=1)
                order = xp.argsort(vals, axis=1, stable=True)[:, :k]
                vals, idx = (
                    xp.take_along_axis(vals, order, axis=1),
                    xp.take_along_axis(idx, order, axis=1),
                )
            best_u, best_i = vals, idx
        out.append(xp.astype(best_i, xp.int64))
    if not out:
        return xp.zeros((0, k), dtype=xp.int64, device=device_of(qs))
    return out[0] if len(out) == 1 else xp.concat(out, axis=0)
