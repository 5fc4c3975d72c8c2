"""Triton kernels: exact pairwise distance (and squared distance), all-pairs exterior angles,
the origin maps, and the row log-sum-exp of negative distances behind the fused MERU loss;
forward and backward.

Nothing here imports the rest of the library: the formulas are the reference ones
(lorentz._reference), tested against it. Inputs may be float16, bfloat16 or float32; every
kernel computes in float64, as the numba kernels do, for the reason they give: a float32
inner product of n terms can be off by n eps32 |xs||ys| (3e-5 relative at n = 512), more than
the whole 2e-6 error budget of the distance, while products of float32 numbers are exact in
float64 and their sum is good to (n + 4) eps64. Pairs whose GEMM value could still miss the
budget (near pairs, where u = c (x0 y0 - xs.ys) - 1 cancels) are recomputed in the epilogue
with the cancellation-free formula, so the bound holds for every pair. This is the "float64"
scheme of lorentz._triton.precision; pairwise_dist and knn on devices without full-rate float64,
and on half-precision inputs, take lorentz._triton.mixed instead.

Triton has no expm1, log1p, sinh or asinh that also runs in its CPU interpreter, so they are
formed here from exp and log with Kahan's corrections (exact to a few ulp in float64).
"""

from __future__ import annotations

import triton
import triton.language as tl

EPS64 = tl.constexpr(2.0**-52)  # a jit function reads only constexpr globals


@triton.jit
def _log1p(w):
    """log(1 + w), w >= 0: log(z) w / (z - 1) with z = 1 + w cancels the rounding of z."""
    z = 1.0 + w
    return tl.where(z == 1.0, w, tl.log(z) * (w / tl.where(z == 1.0, 1.0, z - 1.0)))


@triton.jit
def _expm1(t):
    """exp(t) - 1, t >= 0: below 1, (e - 1) t / log(e) with e = exp(t) cancels the rounding
    of e; above, e - 1 has no cancellation (and stays inf, not nan, where e overflows)."""
    e = tl.exp(t)
    small = (e - 1.0) * (t / tl.where(e == 1.0, 1.0, tl.log(e)))
    return tl.where(t >= 1.0, e - 1.0, tl.where(e == 1.0, t, small))


@triton.jit
def _acosh1p(u):
    """acosh(1 + u) = log1p(u + sqrt(u (u + 2))), u >= 0: no cancellation at u ~ 0."""
    return _log1p(u + tl.sqrt(u * (u + 2.0)))


@triton.jit
def _sinhc_cosh(t):
    """sinh(t)/t and cosh(t) for t >= 0, from m = expm1(t): sinh = (m + m/(1+m))/2, with
    m/(1+m) as 1 - 1/(1+m) for large m (inf/inf otherwise)."""
    m = _expm1(t)
    sinh = 0.5 * (m + tl.where(m > 1.0, 1.0 - 1.0 / (1.0 + m), m / (1.0 + m)))
    sinhc = tl.where(t == 0.0, 1.0, sinh / tl.where(t == 0.0, 1.0, t))
    cosh = 0.5 * (1.0 + m) + 0.5 / (1.0 + m)
    return sinhc, cosh


@triton.jit
def _asinhc(t):
    """asinh(t)/t for t >= 0: asinh t = log1p(t + t^2 / (1 + sqrt(1 + t^2)))."""
    a = _log1p(t + t * t / (1.0 + tl.sqrt(1.0 + t * t)))
    return tl.where(t == 0.0, 1.0, a / tl.where(t == 0.0, 1.0, t))


@triton.jit
def _load_rows(ptr, rows, row_ok, cols, col_ok, stride_r, stride_k):
    return tl.load(
        ptr + rows[:, None] * stride_r + cols[None, :] * stride_k,
        mask=row_ok[:, None] & col_ok[None, :],
        other=0.0,
    ).to(tl.float64)


@triton.jit
def _pair_slice(a_ptr, b_ptr, ra, rb, ma, mb, k0, K, sa_r, sa_k, sb_r, sb_k, BKR: tl.constexpr):
    """Coordinates k0 .. k0 + BKR of the rows of a and b, and every pairwise difference (3-D)."""
    kk = k0 + tl.arange(0, BKR)
    a = _load_rows(a_ptr, ra, ma, kk, kk < K, sa_r, sa_k)
    b = _load_rows(b_ptr, rb, mb, kk, kk < K, sb_r, sb_k)
    return a, b, a[:, None, :] - b[None, :, :]


@triton.jit
def _cosh_minus_one(
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
    den,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BKR: tl.constexpr,
):
    """u of every pair of the tile by the cancellation-free form, float64: (|D|^2 + c |xs^ys|^2)
    / den with den = x0 y0 + 1/c + xs.ys, na = |xs|^2 and nb = |ys|^2 per row; also xs.D
    (D = xs - ys) and |xs^ys|^2, which the exterior angle takes.

    |xs^ys|^2 = |s|^2 |D_perp|^2 with s the shorter point and D = xs - ys. D_perp is formed
    against both points and the shorter chosen per pair afterwards: a per-pair choice of
    the 3-D operand does not compile with triton 3.6 (a layout-conversion pass fails)."""
    dd = tl.zeros((BM, BN), dtype=tl.float64)
    ad = tl.zeros((BM, BN), dtype=tl.float64)
    bd = tl.zeros((BM, BN), dtype=tl.float64)
    for k0 in range(0, K, BKR):
        a, b, diff = _pair_slice(a_ptr, b_ptr, ra, rb, ma, mb, k0, K, sa_r, sa_k, sb_r, sb_k, BKR)
        dd += tl.sum(diff * diff, axis=2)
        ad += tl.sum(a[:, None, :] * diff, axis=2)
        bd += tl.sum(b[None, :, :] * diff, axis=2)
    along_a = tl.where(na > 0.0, 1.0 / tl.where(na > 0.0, na, 1.0), 0.0)[:, None] * ad
    along_b = tl.where(nb > 0.0, 1.0 / tl.where(nb > 0.0, nb, 1.0), 0.0)[None, :] * bd
    perp_a = tl.zeros((BM, BN), dtype=tl.float64)
    perp_b = tl.zeros((BM, BN), dtype=tl.float64)
    for k0 in range(0, K, BKR):
        a, b, diff = _pair_slice(a_ptr, b_ptr, ra, rb, ma, mb, k0, K, sa_r, sa_k, sb_r, sb_k, BKR)
        qa = diff - along_a[:, :, None] * a[:, None, :]
        qb = diff - along_b[:, :, None] * b[None, :, :]
        perp_a += tl.sum(qa * qa, axis=2)
        perp_b += tl.sum(qb * qb, axis=2)
    a_short = na[:, None] <= nb[None, :]
    wedge = tl.where(a_short, na[:, None] * perp_a, nb[None, :] * perp_b)
    return (dd + c * wedge) / den, ad, wedge


@triton.jit
def _gram(
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
):
    """g = xs.ys of every pair of the tile by a float64 GEMM, and |xs|^2, |ys|^2 per row."""
    g = tl.zeros((BM, BN), dtype=tl.float64)
    na = tl.zeros((BM,), dtype=tl.float64)
    nb = tl.zeros((BN,), dtype=tl.float64)
    for k0 in range(0, K, BK):
        kk = k0 + tl.arange(0, BK)
        a = _load_rows(a_ptr, ra, ma, kk, kk < K, sa_r, sa_k)
        b = _load_rows(b_ptr, rb, mb, kk, kk < K, sb_r, sb_k)
        g += tl.dot(a, tl.trans(b))
        na += tl.sum(a * a, axis=1)
        nb += tl.sum(b * b, axis=1)
    return g, na, nb


@triton.jit
def _cosh_minus_one_tile(
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
    tol,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    BKR: tl.constexpr,
):
    """u = cosh(sqrt(c) d) - 1 for the rows ra of a against the rows rb of b (space parts),
    with a0 and b0, their time coordinates. float64 throughout.

    The GEMM gives g = xs.ys. Where g < 0 every term of the reference's opposite-side form
    is >= 0. Where g >= 0, u = c (x0 y0 - g) - 1 is off by at most slack x0 y0 (slack =
    (K + 4) eps64 c: the dot product, x0, y0 and their product); d moves by at most that
    over sqrt(u (u+2)), at most slack x0 y0 / (2u) relative to d. Pairs where that could
    exceed ``tol`` are recomputed from the differences (Lagrange's identity), tile by tile
    and only in tiles that have one.
    """
    g, na, nb = _gram(a_ptr, b_ptr, ra, rb, ma, mb, K, sa_r, sa_k, sb_r, sb_k, BM, BN, BK)
    inv_c = 1.0 / c
    a0 = tl.sqrt(inv_c + na)
    b0 = tl.sqrt(inv_c + nb)
    p = a0[:, None] * b0[None, :]
    r = tl.sqrt(inv_c)
    opposite = c * (
        na[:, None] * b0[None, :] / (a0[:, None] + r) + r * nb[None, :] / (b0[None, :] + r) - g
    )
    same = c * (p - g) - 1.0
    u = tl.where(g < 0.0, opposite, same)
    slack = (K + 4) * EPS64 * c
    redo = (g >= 0.0) & (slack * p > tol * 2.0 * same) & ma[:, None] & mb[None, :]
    if tl.max(redo.to(tl.int32)) > 0:
        exact, _ad, _wedge = _cosh_minus_one(
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
            p + inv_c + g,
            BM,
            BN,
            BKR,
        )
        u = tl.where(redo, exact, u)
    # rounding can leave the GEMM form a hair below 0 (padding rows, coincident points)
    return tl.maximum(u, 0.0, propagate_nan=tl.PropagateNan.ALL), a0, b0  # NaN stays NaN


@triton.jit
def pairwise_dist_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
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
    tol,
    SQUARED: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    BKR: tl.constexpr,
):
    """out[i, j] = d(a[i], b[j]), or with SQUARED the squared Lorentzian distance 2u/c (Law et
    al.; ``tol`` then bounds u's relative error, half d's); out may be float32 or float64."""
    ra = tl.program_id(0) * BM + tl.arange(0, BM)
    rb = tl.program_id(1) * BN + tl.arange(0, BN)
    ma, mb = ra < M, rb < N
    c = tl.load(c_ptr).to(tl.float64)
    u, _a0, _b0 = _cosh_minus_one_tile(
        a_ptr, b_ptr, ra, rb, ma, mb, K, sa_r, sa_k, sb_r, sb_k, c, tol, BM, BN, BK, BKR
    )
    if SQUARED:
        d = 2.0 * u / c
    else:
        d = _acosh1p(u) / tl.sqrt(c)
    tl.store(
        out_ptr + ra[:, None] * so_r + rb[None, :] * so_c,
        d.to(out_ptr.dtype.element_ty),
        mask=ma[:, None] & mb[None, :],
    )


# squared space lengths the angle's GEMM form takes (lorentz._pairwise.ANGLE_LO2, ANGLE_HI2),
# and c |xs|^2 up to which its recompute takes the plain form (lorentz._reference.exterior_angle)
ANGLE_LO2 = tl.constexpr(2.0**-480)
ANGLE_HI2 = tl.constexpr(2.0**480)
ANGLE_FAR2 = tl.constexpr(2.0**40)
HALF_PI = tl.constexpr(1.5707963267948966)
PI = tl.constexpr(3.141592653589793)


@triton.jit
def _atan2_upper(w, k):
    """atan2(w, k) for w >= 0, 0 at (0, 0): a guess good to 2e-3 from a rational fit of atan
    on [0, 1] (by octant), then one exact step, atan2 = a + atan(tan(atan2 - a)), whose
    argument (w cos a - k sin a) / (k cos a + w sin a) is below 2e-3, so that three terms of
    atan's series leave 1e-20. (Triton's interpreter has no atan2.)"""
    big = tl.maximum(w, tl.abs(k))
    z = tl.minimum(w, tl.abs(k)) / tl.where(big > 0.0, big, 1.0)
    a = 0.7853981633974483 * z - z * (z - 1.0) * (0.2447 + 0.0663 * z)
    a = tl.where(w > tl.abs(k), HALF_PI - a, a)
    a = tl.where(k < 0.0, PI - a, a)
    sa, ca = tl.sin(a), tl.cos(a)
    t = (w * ca - k * sa) / tl.where(big > 0.0, k * ca + w * sa, 1.0)
    t2 = t * t
    return a + t * (1.0 - t2 * (1.0 / 3.0 - 0.2 * t2))


@triton.jit
def pairwise_exterior_angle_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
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
    tol,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    BKR: tl.constexpr,
):
    """out[i, j] = the exterior angle at a[i] towards b[j], atan2(W, K) from the GEMM (W =
    |xs^ys|, K = sqrt(c) (x0 g - |xs|^2 y0), lorentz._pairwise.angle_bound), the pairs whose
    bound exceeds ``tol`` radians recomputed from the differences by exterior_angle's plain
    form: atan2(sqrt(c) x0 |D_perp|, xs_hat.D - u |xs|). NaN marks the pairs left to the host:
    rows outside the GEMM's range, and recomputed pairs with x too far out for the plain form
    (the host also takes NaN rows there, which stay NaN)."""
    ra = tl.program_id(0) * BM + tl.arange(0, BM)
    rb = tl.program_id(1) * BN + tl.arange(0, BN)
    ma, mb = ra < M, rb < N
    c = tl.load(c_ptr).to(tl.float64)
    g, na, nb = _gram(a_ptr, b_ptr, ra, rb, ma, mb, K, sa_r, sa_k, sb_r, sb_k, BM, BN, BK)
    inv_c = 1.0 / c
    sc = tl.sqrt(c)
    a0 = tl.sqrt(inv_c + na)
    b0 = tl.sqrt(inv_c + nb)
    nab = na[:, None] * nb[None, :]
    w = tl.sqrt(tl.maximum(nab - g * g, 0.0))
    k = sc * (a0[:, None] * g - (na[:, None] * b0[None, :]))
    e2 = (4.0 * K + 12.0) * EPS64 * nab
    dw = tl.where(w > 0.0, tl.minimum(tl.sqrt(e2), e2 / tl.where(w > 0.0, w, 1.0)), tl.sqrt(e2))
    dw += 2.0 * EPS64 * w
    dk = (2.0 * K + 8.0) * EPS64 * sc * (a0[:, None] * tl.sqrt(nab) + na[:, None] * b0[None, :])
    angle = _atan2_upper(w, k)
    in_a = ((na >= ANGLE_LO2) & (na <= ANGLE_HI2)) | (na == 0.0)
    in_b = ((nb >= ANGLE_LO2) & (nb <= ANGLE_HI2)) | (nb == 0.0)
    odd = ~(in_a[:, None] & in_b[None, :])
    # x at the origin has no ray: its W and K are both 0
    redo = ~(dw + dk <= tol * tl.sqrt(w * w + k * k)) | (na == 0.0)[:, None]
    redo = redo & ~odd & ma[:, None] & mb[None, :]
    if tl.max(redo.to(tl.int32)) > 0:
        u, ad, wedge = _cosh_minus_one(
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
        # where g < 0 the cancellation-free form's denominator cancels instead: take the
        # opposite-side form of u (_cosh_minus_one_tile's)
        r = tl.sqrt(inv_c)
        opposite = c * (
            na[:, None] * b0[None, :] / (a0[:, None] + r) + r * nb[None, :] / (b0[None, :] + r) - g
        )
        u = tl.where(g < 0.0, opposite, u)
        rx = tl.sqrt(na)[:, None]
        # |D_perp|^2 = |xs^ys|^2 / |xs|^2, and |ys|^2 where xs = 0 (D = ys)
        perp2 = tl.where(rx > 0.0, wedge / tl.where(rx > 0.0, na[:, None], 1.0), nb[None, :])
        along = tl.where(rx > 0.0, -ad / tl.where(rx > 0.0, rx, 1.0), 0.0)
        exact = _atan2_upper(sc * a0[:, None] * tl.sqrt(perp2), along - u * rx)
        odd = odd | (redo & (c * na > ANGLE_FAR2)[:, None])
        angle = tl.where(redo, exact, angle)
    angle = tl.where(odd, float("nan"), angle)
    tl.store(
        out_ptr + ra[:, None] * so_r + rb[None, :] * so_c,
        angle.to(out_ptr.dtype.element_ty),
        mask=ma[:, None] & mb[None, :],
    )


@triton.jit
def neg_dist_lse_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    scale_ptr,
    lse_ptr,
    M,
    N,
    K,
    sa_r,
    sa_k,
    sb_r,
    sb_k,
    tol,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    BKR: tl.constexpr,
):
    """lse[i] = log sum_j exp(-scale d(a[i], b[j])), streaming over b (online softmax):
    only a running maximum and sum per row, never the M x N logits."""
    ra = tl.program_id(0) * BM + tl.arange(0, BM)
    ma = ra < M
    c = tl.load(c_ptr).to(tl.float64)
    scale = tl.load(scale_ptr).to(tl.float64)
    inv_s = 1.0 / tl.sqrt(c)
    run_max = tl.full((BM,), float("-inf"), dtype=tl.float64)
    run_sum = tl.zeros((BM,), dtype=tl.float64)
    for n0 in range(0, N, BN):
        rb = n0 + tl.arange(0, BN)
        mb = rb < N
        u, _a0, _b0 = _cosh_minus_one_tile(
            a_ptr, b_ptr, ra, rb, ma, mb, K, sa_r, sa_k, sb_r, sb_k, c, tol, BM, BN, BK, BKR
        )
        logit = tl.where(mb[None, :], -scale * inv_s * _acosh1p(u), float("-inf"))
        new_max = tl.maximum(run_max, tl.max(logit, axis=1))
        run_sum = run_sum * tl.exp(run_max - new_max) + tl.sum(
            tl.exp(logit - new_max[:, None]), axis=1
        )
        run_max = new_max
    tl.store(lse_ptr + ra, run_max + tl.log(run_sum), mask=ma)


@triton.jit
def neg_dist_lse_grad_kernel(
    a_ptr,
    b_ptr,
    c_ptr,
    scale_ptr,
    lse_ptr,
    w_ptr,
    da_ptr,
    dcs_ptr,
    M,
    N,
    K,
    sa_r,
    sa_k,
    sb_r,
    sb_k,
    tol,
    A_OWNS_LSE: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
    BKR: tl.constexpr,
    KP: tl.constexpr,
):
    """Gradient for the rows of ``a`` of L = sum_r w[r] lse[r], the lse of -scale d over the
    other operand; lse and w belong to the rows of ``a`` (A_OWNS_LSE) or of ``b``.

    Tiles are recomputed: with P = w exp(-scale d - lse) and W = dL/du = -scale P / (sqrt(c)
    sinh(sqrt(c) d)), du/dxs = c (y0/x0 xs - ys), so da[i] = c (a[i]/a0[i] sum_j W b0 -
    (W b)[i]). When A_OWNS_LSE, also per row block: dL/dc and dL/dscale partials in
    dcs[block, 0:2] (the other launch would count them twice).
    """
    pid = tl.program_id(0)
    ra = pid * BM + tl.arange(0, BM)
    ma = ra < M
    c = tl.load(c_ptr).to(tl.float64)
    scale = tl.load(scale_ptr).to(tl.float64)
    s = tl.sqrt(c)
    if A_OWNS_LSE:
        lse_a = tl.load(lse_ptr + ra, mask=ma, other=0.0).to(tl.float64)
        w_a = tl.load(w_ptr + ra, mask=ma, other=0.0).to(tl.float64)
    kk = tl.arange(0, KP)
    acc = tl.zeros((BM, KP), dtype=tl.float64)
    wb0 = tl.zeros((BM,), dtype=tl.float64)
    dc = tl.zeros((BM,), dtype=tl.float64)
    dscale = tl.zeros((BM,), dtype=tl.float64)
    for n0 in range(0, N, BN):
        rb = n0 + tl.arange(0, BN)
        mb = rb < N
        u, a0, b0 = _cosh_minus_one_tile(
            a_ptr, b_ptr, ra, rb, ma, mb, K, sa_r, sa_k, sb_r, sb_k, c, tol, BM, BN, BK, BKR
        )
        sd = _acosh1p(u)
        if A_OWNS_LSE:
            prob = w_a[:, None] * tl.exp(-scale * sd / s - lse_a[:, None])
        else:
            lse_b = tl.load(lse_ptr + rb, mask=mb, other=0.0).to(tl.float64)
            w_b = tl.load(w_ptr + rb, mask=mb, other=0.0).to(tl.float64)
            prob = w_b[None, :] * tl.exp(-scale * sd / s - lse_b[None, :])
        prob = tl.where(ma[:, None] & mb[None, :], prob, 0.0)
        # sinh(sqrt(c) d) = sqrt(u (u + 2)); at d = 0 the reference's gradient is 0
        sinh = tl.sqrt(u * (u + 2.0))
        w = tl.where(sinh == 0.0, 0.0, -scale * prob / (s * tl.where(sinh == 0.0, 1.0, sinh)))
        b = _load_rows(b_ptr, rb, mb, kk, kk < K, sb_r, sb_k)
        acc += tl.dot(w, b)
        wb0 += tl.sum(w * b0[None, :], axis=1)
        if A_OWNS_LSE:
            # du/dc = (u - (x0 - y0)^2 / (2 x0 y0)) / c; d = sd / s adds -d / (2c) per dL/dd
            gap = a0[:, None] - b0[None, :]
            du_dc = (u - gap * gap / (2.0 * a0[:, None] * b0[None, :])) / c
            dc += tl.sum(w * du_dc + scale * prob * sd / (2.0 * c * s), axis=1)
            dscale += tl.sum(-prob * sd / s, axis=1)
    a = _load_rows(a_ptr, ra, ma, kk, kk < K, sa_r, sa_k)
    a0 = tl.sqrt(1.0 / c + tl.sum(a * a, axis=1))
    da = c * (a * (wb0 / a0)[:, None] - acc)
    tl.store(da_ptr + ra[:, None] * K + kk[None, :], da, mask=ma[:, None] & (kk < K)[None, :])
    if A_OWNS_LSE:
        tl.store(dcs_ptr + pid * 2, tl.sum(dc, axis=0))
        tl.store(dcs_ptr + pid * 2 + 1, tl.sum(dscale, axis=0))


# ------------------------------------------------------------------ row kernels
# Memory-bound: each program streams BM rows in chunks of BK components (a whole 512-wide row
# of float64 per thread block spills registers: 4x slower than a copy, measured on an H200),
# one pass for the row sums and one more that writes (or, for the distance, that forms the
# part of D orthogonal to the shorter point); the second pass finds its rows in L2.


@triton.jit
def _chunk(ptr, rows, ok, k0, K, stride_r, stride_k, BK: tl.constexpr):
    kk = k0 + tl.arange(0, BK)
    return _load_rows(ptr, rows, ok, kk, kk < K, stride_r, stride_k), kk


@triton.jit
def _store_chunk(ptr, rows, ok, kk, K, value):
    """value into columns 1 + kk of contiguous (R, K + 1) rows."""
    tl.store(
        ptr + rows[:, None] * (K + 1) + 1 + kk[None, :], value, mask=ok[:, None] & (kk < K)[None, :]
    )


@triton.jit
def _sq_rows(ptr, rows, ok, K, stride_r, stride_k, BK: tl.constexpr):
    total = tl.zeros((rows.shape[0],), dtype=tl.float64)
    for k0 in range(0, K, BK):
        a, _kk = _chunk(ptr, rows, ok, k0, K, stride_r, stride_k, BK)
        total += tl.sum(a * a, axis=1)
    return total


@triton.jit
def expmap0_kernel(u_ptr, c_ptr, out_ptr, R, K, su_r, su_k, BM: tl.constexpr, BK: tl.constexpr):
    """Rows of ambient tangent vectors at the origin (time part ignored) to points:
    ys = sinhc(t) us, y0 = cosh(t)/sqrt(c), t = sqrt(c) |us|. out is (R, K + 1), contiguous."""
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    ok = rows < R
    c = tl.load(c_ptr).to(tl.float64)
    t = tl.sqrt(c * _sq_rows(u_ptr + su_k, rows, ok, K, su_r, su_k, BK))
    sinhc, cosh = _sinhc_cosh(t)
    tl.store(out_ptr + rows * (K + 1), cosh / tl.sqrt(c), mask=ok)
    for k0 in range(0, K, BK):
        us, kk = _chunk(u_ptr + su_k, rows, ok, k0, K, su_r, su_k, BK)
        _store_chunk(out_ptr, rows, ok, kk, K, sinhc[:, None] * us)


@triton.jit
def _grad_dot(a_ptr, g_ptr, rows, ok, K, sa_r, sa_k, BK: tl.constexpr):
    """|as|^2 and gs.as per row (g contiguous (R, K + 1), time first)."""
    sq = tl.zeros((rows.shape[0],), dtype=tl.float64)
    dot = tl.zeros((rows.shape[0],), dtype=tl.float64)
    for k0 in range(0, K, BK):
        a, _ = _chunk(a_ptr, rows, ok, k0, K, sa_r, sa_k, BK)
        g, _kk = _chunk(g_ptr + 1, rows, ok, k0, K, K + 1, 1, BK)
        sq += tl.sum(a * a, axis=1)
        dot += tl.sum(g * a, axis=1)
    return sq, dot


@triton.jit
def expmap0_grad_kernel(
    u_ptr, c_ptr, g_ptr, du_ptr, dc_ptr, R, K, su_r, su_k, BM: tl.constexpr, BK: tl.constexpr
):
    """du = k gs + (g0 sqrt(c) k + (gs.us) (cosh t - k) / |us|^2) us, k = sinhc(t);
    dc = (g0 (t sinh t - cosh t) / c + (gs.us) (cosh t - k) / sqrt(c)) / (2 sqrt(c)) per row.
    (cosh t - k) / |us|^2 is formed in float64, where its cancellation costs eps64 |gs|."""
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    ok = rows < R
    c = tl.load(c_ptr).to(tl.float64)
    s = tl.sqrt(c)
    g0 = tl.load(g_ptr + rows * (K + 1), mask=ok, other=0.0).to(tl.float64)
    r2, gu = _grad_dot(u_ptr + su_k, g_ptr, rows, ok, K, su_r, su_k, BK)
    t = tl.sqrt(c * r2)
    k, cosh = _sinhc_cosh(t)
    bend = tl.where(r2 > 0.0, (cosh - k) / tl.where(r2 > 0.0, r2, 1.0), 0.0)
    w = g0 * s * k + gu * bend
    for k0 in range(0, K, BK):
        us, kk = _chunk(u_ptr + su_k, rows, ok, k0, K, su_r, su_k, BK)
        gs, kk = _chunk(g_ptr + 1, rows, ok, k0, K, K + 1, 1, BK)
        _store_chunk(du_ptr, rows, ok, kk, K, k[:, None] * gs + w[:, None] * us)
    tl.store(du_ptr + rows * (K + 1), tl.zeros((BM,), dtype=tl.float64), mask=ok)
    ds = g0 * (t * t * k - cosh) / c + gu * (cosh - k) / s
    tl.store(dc_ptr + rows, ds / (2.0 * s), mask=ok)


@triton.jit
def logmap0_kernel(y_ptr, c_ptr, out_ptr, R, K, sy_r, sy_k, BM: tl.constexpr, BK: tl.constexpr):
    """Rows of points to tangent vectors at the origin: us = asinhc(t) ys, u0 = 0."""
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    ok = rows < R
    c = tl.load(c_ptr).to(tl.float64)
    h = _asinhc(tl.sqrt(c * _sq_rows(y_ptr + sy_k, rows, ok, K, sy_r, sy_k, BK)))
    tl.store(out_ptr + rows * (K + 1), tl.zeros((BM,), dtype=tl.float64), mask=ok)
    for k0 in range(0, K, BK):
        ys, kk = _chunk(y_ptr + sy_k, rows, ok, k0, K, sy_r, sy_k, BK)
        _store_chunk(out_ptr, rows, ok, kk, K, h[:, None] * ys)


@triton.jit
def logmap0_grad_kernel(
    y_ptr, c_ptr, g_ptr, dy_ptr, dc_ptr, R, K, sy_r, sy_k, BM: tl.constexpr, BK: tl.constexpr
):
    """dy = h gs + (gs.ys) (1/sqrt(1+t^2) - h) / |ys|^2 ys, h = asinhc(t);
    dc = (gs.ys) (1/sqrt(1+t^2) - h) / sqrt(c) / (2 sqrt(c)) per row."""
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    ok = rows < R
    c = tl.load(c_ptr).to(tl.float64)
    r2, gy = _grad_dot(y_ptr + sy_k, g_ptr, rows, ok, K, sy_r, sy_k, BK)
    t = tl.sqrt(c * r2)
    h = _asinhc(t)
    bend = 1.0 / tl.sqrt(1.0 + t * t) - h
    scale = tl.where(r2 > 0.0, gy * bend / tl.where(r2 > 0.0, r2, 1.0), 0.0)
    for k0 in range(0, K, BK):
        ys, kk = _chunk(y_ptr + sy_k, rows, ok, k0, K, sy_r, sy_k, BK)
        gs, kk = _chunk(g_ptr + 1, rows, ok, k0, K, K + 1, 1, BK)
        _store_chunk(dy_ptr, rows, ok, kk, K, h[:, None] * gs + scale[:, None] * ys)
    tl.store(dy_ptr + rows * (K + 1), tl.zeros((BM,), dtype=tl.float64), mask=ok)
    tl.store(dc_ptr + rows, gy * bend / (2.0 * c), mask=ok)


@triton.jit
def _u_rows(x_ptr, y_ptr, rows, ok, K, sx_r, sx_k, sy_r, sy_k, c, BK: tl.constexpr):
    """u = cosh(sqrt(c) d) - 1 of row pairs by the Lagrange identity, as in
    lorentz._reference.cosh_minus_one (every term non-negative); also x0, y0 and D.S,
    D = xs - ys, S = xs + ys. Two passes: the sums, then |D_perp|^2, D's part orthogonal to
    the shorter point b, which needs b.D / |b|^2 from the first."""
    zero = tl.zeros((rows.shape[0],), dtype=tl.float64)
    nx, ny, xy, dd, xd, yd = zero, zero, zero, zero, zero, zero
    for k0 in range(0, K, BK):
        xs, _ = _chunk(x_ptr, rows, ok, k0, K, sx_r, sx_k, BK)
        ys, _ = _chunk(y_ptr, rows, ok, k0, K, sy_r, sy_k, BK)
        d = xs - ys
        nx += tl.sum(xs * xs, axis=1)
        ny += tl.sum(ys * ys, axis=1)
        xy += tl.sum(xs * ys, axis=1)
        dd += tl.sum(d * d, axis=1)
        xd += tl.sum(xs * d, axis=1)
        yd += tl.sum(ys * d, axis=1)
    short = nx <= ny
    nb = tl.where(short, nx, ny)
    along = tl.where(nb > 0.0, tl.where(short, xd, yd) / tl.where(nb > 0.0, nb, 1.0), 0.0)
    perp = zero
    for k0 in range(0, K, BK):
        xs, _ = _chunk(x_ptr, rows, ok, k0, K, sx_r, sx_k, BK)
        ys, _ = _chunk(y_ptr, rows, ok, k0, K, sy_r, sy_k, BK)
        p = (xs - ys) - along[:, None] * tl.where(short[:, None], xs, ys)
        perp += tl.sum(p * p, axis=1)
    x0 = tl.sqrt(1.0 / c + nx)
    y0 = tl.sqrt(1.0 / c + ny)
    same = (dd + c * nb * perp) / (x0 * y0 + 1.0 / c + xy)
    a = 1.0 / tl.sqrt(c)
    opposite = c * (nx * y0 / (x0 + a) + a * ny / (y0 + a) - xy)
    return tl.where(xy >= 0.0, same, opposite), x0, y0, xd + yd


@triton.jit
def dist_kernel(
    x_ptr, y_ptr, c_ptr, out_ptr, R, K, sx_r, sx_k, sy_r, sy_k, BM: tl.constexpr, BK: tl.constexpr
):
    """out[i] = d(x[i], y[i]) for ambient rows (time parts ignored), in float64."""
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    ok = rows < R
    c = tl.load(c_ptr).to(tl.float64)
    u, _x0, _y0, _ds = _u_rows(
        x_ptr + sx_k, y_ptr + sy_k, rows, ok, K, sx_r, sx_k, sy_r, sy_k, c, BK
    )
    tl.store(out_ptr + rows, _acosh1p(u) / tl.sqrt(c), mask=ok)


@triton.jit
def dist_grad_kernel(
    x_ptr,
    y_ptr,
    c_ptr,
    g_ptr,
    dx_ptr,
    dy_ptr,
    dc_ptr,
    R,
    K,
    sx_r,
    sx_k,
    sy_r,
    sy_k,
    BM: tl.constexpr,
    BK: tl.constexpr,
):
    """With W = g / (sqrt(c) sinh(sqrt(c) d)) (0 at x == y, NaN kept) and y0 - x0 = -D.S / (x0 + y0):
    dx = c W (D - D.S / ((x0 + y0) x0) xs), dy = c W (-D + D.S / ((x0 + y0) y0) ys), exact for
    near pairs; dc = W du/dc - g d / (2c), du/dc = (u - (x0 - y0)^2 / (2 x0 y0)) / c, per row."""
    rows = tl.program_id(0) * BM + tl.arange(0, BM)
    ok = rows < R
    c = tl.load(c_ptr).to(tl.float64)
    s = tl.sqrt(c)
    g = tl.load(g_ptr + rows, mask=ok, other=0.0).to(tl.float64)
    u, x0, y0, ds = _u_rows(x_ptr + sx_k, y_ptr + sy_k, rows, ok, K, sx_r, sx_k, sy_r, sy_k, c, BK)
    root = tl.sqrt(u) * tl.sqrt(u + 2.0)  # sinh(sqrt(c) d), without overflow of u^2
    w = tl.where(u == 0.0, 0.0, g / (s * tl.where(u == 0.0, 1.0, root)))
    sum0 = x0 + y0
    kx = ds / (sum0 * x0)
    ky = ds / (sum0 * y0)
    for k0 in range(0, K, BK):
        xs, kk = _chunk(x_ptr + sx_k, rows, ok, k0, K, sx_r, sx_k, BK)
        ys, kk = _chunk(y_ptr + sy_k, rows, ok, k0, K, sy_r, sy_k, BK)
        d = xs - ys
        _store_chunk(dx_ptr, rows, ok, kk, K, (c * w)[:, None] * (d - kx[:, None] * xs))
        _store_chunk(dy_ptr, rows, ok, kk, K, (c * w)[:, None] * (ky[:, None] * ys - d))
    zero = tl.zeros((BM,), dtype=tl.float64)
    tl.store(dx_ptr + rows * (K + 1), zero, mask=ok)
    tl.store(dy_ptr + rows * (K + 1), zero, mask=ok)
    gap = ds / sum0
    du_dc = (u - gap * gap / (2.0 * x0 * y0)) / c
    dc = w * du_dc - g * _acosh1p(u) / (2.0 * c * s)
    tl.store(dc_ptr + rows, tl.where(ok, dc, 0.0), mask=ok)
