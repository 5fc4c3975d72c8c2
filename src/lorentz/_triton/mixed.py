"""All-pairs distance kernels without float64 throughput: the "half" and "split" schemes of
lorentz._triton.precision (which one runs where, the bound and its proof: docs/gpu-precision.md).

Both form g = xs.ys on tensor cores with float32 accumulation in chunks of KC coordinates,
promote each chunk into a float-float running sum (hi + lo, Two-Sum), and finish
u = c (x0 y0 - g - 1/c) in float-float from the host's float-float x0, y0 and 1/c, then
d = acosh(1 + u) / sqrt(c) in float32. Each pair carries an a-posteriori bound E on the error
of g (the accumulation actually used) plus the float-float roundings; a pair whose d could
move by more than ``tol`` relative (c E > 2 tol u) is recomputed in its tile by the exact
float64 form, so the bound holds for every pair. Flagged pairs are the near ones.

- SPLIT = False ("half"): float16/bfloat16 rows are the MMA operands. Their products are exact
  in float32; a chunk's float32 sum is off by at most gamma(KC) |a_c| |b_c| with the unit of a
  truncating adder (2^-23), so E = gamma(KC) |a| |b|.
- SPLIT = True ("split"): each row is split on the host into four float16 pieces of 8 bits,
  fixed point against a power-of-two row scale (lorentz._triton.precision.split_rows). A piece
  product is an integer below 2^14, and the ten products of levels 0..3 (i + j <= 3) summed
  over KC <= 256 coordinates stay below 2^24: every chunk sum is exact in float32. E covers
  the six dropped products and the residual below the last piece, by Cauchy-Schwarz on
  per-row norms computed by the host.
"""

from __future__ import annotations

import triton
import triton.language as tl

from .kernels import _cosh_minus_one, _log1p, _pair_slice

FF_EPS = tl.constexpr(2.0**-47)  # n float-float steps: error <= n^2 FF_EPS times their largest sum
TRUNC = tl.constexpr(2.0**-23)  # unit roundoff of a float32 adder that truncates


@triton.jit
def _two_sum(hi, lo, x):
    """(hi + lo) + x as a float-float: Knuth's Two-Sum, the rounding error kept in lo."""
    s = hi + x
    bb = s - hi
    return s, lo + ((hi - (s - bb)) + (x - bb))


@triton.jit
def _mul_rn(a, b, ASM: tl.constexpr):
    """a * b rounded once and never contracted into a later addition: Triton's default FP
    fusion would let p = x0 y0 become fma(x0, y0, -g) inside the Two-Sum that subtracts g,
    whose error term then no longer matches (an error of eps32 x0 y0, outside the bound).
    PTX's mul.rn is never contracted; the interpreter (ASM = False) does not contract."""
    if ASM:
        return tl.inline_asm_elementwise(
            "mul.rn.f32 $0, $1, $2;", "=f,f,f", [a, b], dtype=tl.float32, is_pure=True, pack=1
        )
    else:
        return a * b


@triton.jit
def _tile(ptr, rows, ok, kk, stride_r, stride_k, K):
    return tl.load(
        ptr + rows[:, None] * stride_r + kk[None, :] * stride_k,
        mask=ok[:, None] & (kk < K)[None, :],
        other=0.0,
    )


@triton.jit
def _col(meta_ptr, rows, ok, j: tl.constexpr):
    """Column j of the host's (R, 16) float32 row data."""
    return tl.load(meta_ptr + rows * 16 + j, mask=ok, other=0.0)


@triton.jit
def _g_split(
    pa_ptr,
    pb_ptr,
    ra,
    rb,
    ma,
    mb,
    K,
    sp_a,
    sp_b,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    KC: tl.constexpr,
):
    """xs.ys / (sigma_a sigma_b) as a float-float: the level sums of one chunk are exact
    integers (times powers of two), each promoted by a Two-Sum. Piece i of a starts at
    pa_ptr + i sp_a (pointer steps: no int32 product to overflow)."""
    pa1 = pa_ptr + sp_a
    pa2 = pa1 + sp_a
    pa3 = pa2 + sp_a
    pb1 = pb_ptr + sp_b
    pb2 = pb1 + sp_b
    pb3 = pb2 + sp_b
    hi = tl.zeros((BM, BN), dtype=tl.float32)
    lo = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, KC):
        l0 = tl.zeros((BM, BN), dtype=tl.float32)
        l1 = tl.zeros((BM, BN), dtype=tl.float32)
        l2 = tl.zeros((BM, BN), dtype=tl.float32)
        l3 = tl.zeros((BM, BN), dtype=tl.float32)
        for k1 in range(0, KC, BK):
            kk = k0 + k1 + tl.arange(0, BK)
            a0 = _tile(pa_ptr, ra, ma, kk, K, 1, K)
            a1 = _tile(pa1, ra, ma, kk, K, 1, K)
            a2 = _tile(pa2, ra, ma, kk, K, 1, K)
            a3 = _tile(pa3, ra, ma, kk, K, 1, K)
            b0 = tl.trans(_tile(pb_ptr, rb, mb, kk, K, 1, K))
            b1 = tl.trans(_tile(pb1, rb, mb, kk, K, 1, K))
            b2 = tl.trans(_tile(pb2, rb, mb, kk, K, 1, K))
            b3 = tl.trans(_tile(pb3, rb, mb, kk, K, 1, K))
            l0 = tl.dot(a0, b0, l0)
            l1 = tl.dot(a1, b0, tl.dot(a0, b1, l1))
            l2 = tl.dot(a2, b0, tl.dot(a1, b1, tl.dot(a0, b2, l2)))
            l3 = tl.dot(a3, b0, tl.dot(a2, b1, tl.dot(a1, b2, tl.dot(a0, b3, l3))))
        # piece i is worth 2^(-7 - 8 i) of the row scale: level l 2^(-14 - 8 l)
        hi, lo = _two_sum(hi, lo, l0 * 2.0**-14)
        hi, lo = _two_sum(hi, lo, l1 * 2.0**-22)
        hi, lo = _two_sum(hi, lo, l2 * 2.0**-30)
        hi, lo = _two_sum(hi, lo, l3 * 2.0**-38)
    return hi, lo


@triton.jit
def _g_half(
    a_ptr,
    b_ptr,
    ra,
    rb,
    ma,
    mb,
    K,
    sa_r,
    sa_k,
    sb_r,
    sb_k,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    KC: tl.constexpr,
):
    """xs.ys as a float-float from float16/bfloat16 MMAs, float32 sums of KC coordinates."""
    hi = tl.zeros((BM, BN), dtype=tl.float32)
    lo = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, KC):
        acc = tl.zeros((BM, BN), dtype=tl.float32)
        for k1 in range(0, KC, BK):
            kk = k0 + k1 + tl.arange(0, BK)
            a = _tile(a_ptr, ra, ma, kk, sa_r, sa_k, K)
            b = _tile(b_ptr, rb, mb, kk, sb_r, sb_k, K)
            acc = tl.dot(a, tl.trans(b), acc)
        hi, lo = _two_sum(hi, lo, acc)
    return hi, lo


@triton.jit
def _exact_tile(
    a_ptr,
    b_ptr,
    ra,
    rb,
    ma,
    mb,
    K,
    sa_r,
    sa_k,
    sb_r,
    sb_k,
    c,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BKR: tl.constexpr,
):
    """u of every pair of the tile in float64 from the input rows, as lorentz._triton.kernels
    finishes its flagged pairs: the Lagrange form where xs.ys >= 0, the opposite-side form
    (every term >= 0) elsewhere. Row sums by 3-D slices, not an fp64 MMA (Triton 3.6 cannot
    lower one whose operands were loaded as 16-bit values on sm_90)."""
    na = tl.zeros((BM,), dtype=tl.float64)
    nb = tl.zeros((BN,), dtype=tl.float64)
    g = tl.zeros((BM, BN), dtype=tl.float64)
    for k0 in range(0, K, BKR):
        a, b, _diff = _pair_slice(a_ptr, b_ptr, ra, rb, ma, mb, k0, K, sa_r, sa_k, sb_r, sb_k, BKR)
        na += tl.sum(a * a, axis=1)
        nb += tl.sum(b * b, axis=1)
        g += tl.sum(a[:, None, :] * b[None, :, :], axis=2)
    inv_c = 1.0 / c
    a0 = tl.sqrt(inv_c + na)
    b0 = tl.sqrt(inv_c + nb)
    r = tl.sqrt(inv_c)
    opposite = c * (
        na[:, None] * b0[None, :] / (a0[:, None] + r) + r * nb[None, :] / (b0[None, :] + r) - g
    )
    same, _ad, _wedge = _cosh_minus_one(
        a_ptr,
        b_ptr,
        ra,
        rb,
        ma,
        mb,
        K,
        sa_r,
        sa_k,
        sb_r,
        sb_k,
        c,
        na,
        nb,
        a0[:, None] * b0[None, :] + inv_c + g,
        BM,
        BN,
        BKR,
    )
    return tl.where(g < 0.0, opposite, same)


@triton.jit
def pairwise_dist_mixed_kernel(
    a_ptr,
    b_ptr,
    pa_ptr,
    pb_ptr,
    ma_ptr,
    mb_ptr,
    c_ptr,
    cf_ptr,
    out_ptr,
    M,
    N,
    K,
    sa_r,
    sa_k,
    sb_r,
    sb_k,
    so_r,
    so_c,
    sp_a,
    sp_b,
    tol,
    ff_terms,
    SPLIT: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    KC: tl.constexpr,
    BKR: tl.constexpr,
    ASM: tl.constexpr,
):
    """out[i, j] = d(a[i], b[j]) (out float32 or float64). Row data (ma_ptr, mb_ptr, (R, 16)
    float32, lorentz._triton.precision.row_data): x0 hi and lo, the row scale, |a| (an upper
    bound), the residual norm, the piece norms and their tails, a recompute flag. cf_ptr:
    float32 c, then 1/c as hi and lo (c_ptr: c in float64, for the exact recompute)."""
    c32 = tl.load(cf_ptr)
    ic_hi = tl.load(cf_ptr + 1)
    ic_lo = tl.load(cf_ptr + 2)
    ra = tl.program_id(0) * BM + tl.arange(0, BM)
    rb = tl.program_id(1) * BN + tl.arange(0, BN)
    ma, mb = ra < M, rb < N
    if SPLIT:
        g_hi, g_lo = _g_split(pa_ptr, pb_ptr, ra, rb, ma, mb, K, sp_a, sp_b, BM, BN, BK, KC)
        scale = _col(ma_ptr, ra, ma, 2)[:, None] * _col(mb_ptr, rb, mb, 2)[None, :]
        g_hi, g_lo = g_hi * scale, g_lo * scale  # powers of two: exact
        # |g - xs.ys| <= |r_a| |b| + |a| |r_b| + sum over dropped products |A_i| |B_j|
        err = (
            _col(ma_ptr, ra, ma, 3)[:, None] * _col(mb_ptr, rb, mb, 4)[None, :]
            + _col(ma_ptr, ra, ma, 4)[:, None] * _col(mb_ptr, rb, mb, 3)[None, :]
            + _col(ma_ptr, ra, ma, 5)[:, None] * _col(mb_ptr, rb, mb, 10)[None, :]
            + _col(ma_ptr, ra, ma, 6)[:, None] * _col(mb_ptr, rb, mb, 9)[None, :]
            + _col(ma_ptr, ra, ma, 7)[:, None] * _col(mb_ptr, rb, mb, 8)[None, :]
        )
    else:
        g_hi, g_lo = _g_half(
            a_ptr, b_ptr, ra, rb, ma, mb, K, sa_r, sa_k, sb_r, sb_k, BM, BN, BK, KC
        )
        gamma = KC * TRUNC / (1.0 - KC * TRUNC)
        # + K 2^-126: bfloat16 products below float32's normal range (flushed or subnormal)
        err = (
            gamma * (_col(ma_ptr, ra, ma, 3)[:, None] * _col(mb_ptr, rb, mb, 3)[None, :])
            + K * 2.0**-126
        )
    a0h = _col(ma_ptr, ra, ma, 0)
    a0l = _col(ma_ptr, ra, ma, 1)
    b0h = _col(mb_ptr, rb, mb, 0)
    b0l = _col(mb_ptr, rb, mb, 1)
    # p = x0 y0 as a float-float (Two-Prod by fma), then w = p - g - 1/c
    p_hi = _mul_rn(
        tl.broadcast_to(a0h[:, None], (BM, BN)), tl.broadcast_to(b0h[None, :], (BM, BN)), ASM
    )
    p_lo = tl.fma(a0h[:, None], b0h[None, :], -p_hi) + (
        a0h[:, None] * b0l[None, :] + a0l[:, None] * b0h[None, :]
    )
    w_hi, w_lo = _two_sum(p_hi, p_lo - g_lo, -g_hi)
    w_hi, w_lo = _two_sum(w_hi, w_lo - ic_lo, -ic_hi)
    u = tl.maximum(c32 * (w_hi + w_lo), 0.0, propagate_nan=tl.PropagateNan.ALL)
    norms = _col(ma_ptr, ra, ma, 3)[:, None] * _col(mb_ptr, rb, mb, 3)[None, :]
    # the running sums stay below x0 y0 + (2 + K/8192) |a| |b| + 1/c (docs/gpu-precision.md)
    err += (ff_terms * ff_terms) * FF_EPS * (p_hi + (2.0 + K / 8192.0) * norms + ic_hi)
    flag = (_col(ma_ptr, ra, ma, 11)[:, None] + _col(mb_ptr, rb, mb, 11)[None, :]) > 0.0
    # d moves by at most c err / sqrt(u (u + 2)) <= c err d / (2 u): recompute when that
    # could pass tol d (the factor 1 + 2^-10 covers the float32 rounding of the test itself)
    redo = flag | (c32 * err * (1.0 + 2.0**-10) > tol * 2.0 * u) | (u != u)
    redo = redo & ma[:, None] & mb[None, :]
    # acosh(1 + u) = log1p(u + sqrt(u) sqrt(u + 2)): no overflow of u^2 in float32
    d = (_log1p(u + tl.sqrt(u) * tl.sqrt(u + 2.0)) / tl.sqrt(c32)).to(tl.float64)
    if tl.max(redo.to(tl.int32)) > 0:
        c64 = tl.load(c_ptr).to(tl.float64)
        exact = _exact_tile(
            a_ptr, b_ptr, ra, rb, ma, mb, K, sa_r, sa_k, sb_r, sb_k, c64, BM, BN, BKR
        )
        exact = tl.maximum(exact, 0.0, propagate_nan=tl.PropagateNan.ALL)
        d64 = _log1p(exact + tl.sqrt(exact) * tl.sqrt(exact + 2.0)) / tl.sqrt(c64)
        d = tl.where(redo, d64, d)
    tl.store(
        out_ptr + ra[:, None] * so_r + rb[None, :] * so_c,
        d.to(out_ptr.dtype.element_ty),
        mask=ma[:, None] & mb[None, :],
    )
