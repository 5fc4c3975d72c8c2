"""Which arithmetic the all-pairs GPU kernels use (pairwise_dist, knn), decided per device and
input dtype, and the host side of the two schemes that need no float64 throughput.

Schemes (the bound each keeps and its proof: docs/gpu-precision.md):

- ``"float64"``: float64 MMA (lorentz._triton.kernels); fast only where float64 is.
- ``"half"``: float16/bfloat16 inputs multiplied on tensor cores in their own precision,
  float32 sums of short chunks in a float-float running sum (lorentz._triton.mixed).
- ``"split"``: float32 inputs split into four 8-bit float16 pieces (fixed point against a
  power-of-two row scale) whose tensor-core products sum exactly in float32
  (lorentz._triton.mixed).

The rule (:func:`choose`): float16/bfloat16 inputs take "half" (bfloat16 on 7.5, which has no
bfloat16 tensor cores: "split"); float32 inputs take
"float64" on the devices with full-rate float64 (compute capability 8.0, 9.0, 10.0: A100,
H100/H200, B200) and on the CPU (Triton's interpreter), "split" everywhere else (7.5, 8.6,
8.7, 8.9, 10.3, 12.x: T4, A10, RTX 30/40/50, L4, L40S, B300). The environment variable
LORENTZ_TRITON_PRECISION = float64 | half | split forces a scheme (read at each call);
"half" takes only float16/bfloat16 inputs. implementation="triton:<scheme>" (``forced``)
beats the variable. The reference's all-pairs GEMM on a CUDA device follows the same rule
(:func:`reference_scheme`, :func:`scheme_u`).
"""

from __future__ import annotations

import os

import torch

ENV = "LORENTZ_TRITON_PRECISION"
SCHEMES = ("float64", "half", "split")
# full-rate float64 (datasheets: 1/2 of float32 or better): A100, H100/H200, B200/GB200
STRONG_FLOAT64 = frozenset({(8, 0), (9, 0), (10, 0)})
HALF = (torch.float16, torch.bfloat16)

# relative error of d allowed from the inexact GEMM before a pair is recomputed: float32
# results as lorentz._triton.ops.TOL; half-precision results 1/8 of the output's own
# rounding (eps/2), so the result stays within 0.63 eps of the exact value
TOL = {torch.float32: 5e-7, torch.float16: 2.0**-10 / 8, torch.bfloat16: 2.0**-7 / 8}
BLOCK, BLOCK_K, BLOCK_K_EXACT = 32, 16, 8
CHUNK = {"half": 64, "split": 256}  # KC: coordinates per float32 sum (split: <= 256, exact)
PIECES = 4
# rows outside this range of scales are recomputed exactly: the float-float parts of their
# sums would leave float32's normal range
SCALE_RANGE = (2.0**-30, 2.0**50)
# backward passes by a mixed scheme: pairs nearer than this (sqrt(c) d) are left out of the
# gradient products, whose GEMM form cancels by |y| / d for them, and added exactly
NEAR = 2.0**-4


def check_scheme(scheme: str, dtype: torch.dtype, name: str) -> str:
    """``scheme`` if it is one of SCHEMES and takes inputs of ``dtype``, else ValueError naming
    ``name`` (the environment variable or ``implementation``)."""
    if scheme not in SCHEMES:
        raise ValueError(
            f"{name} must name one of the schemes {', '.join(SCHEMES)}; got {scheme!r}"
        )
    if scheme == "half" and dtype not in HALF:
        raise ValueError(f"{name}: the half scheme takes float16 or bfloat16 inputs, got {dtype}")
    return scheme


def choose(
    dtype: torch.dtype, capability: tuple[int, int] | None, forced: str | None = None
) -> str:
    """The scheme for inputs of ``dtype`` on a device of compute ``capability`` (None: CPU).
    ``forced`` (from ``implementation="triton:<scheme>"``) beats the environment variable,
    which beats the rule."""
    if forced:
        return check_scheme(forced, dtype, "implementation")
    env = os.environ.get(ENV, "")
    if env:
        if env not in SCHEMES:
            raise ValueError(f"{ENV} must be one of {', '.join(SCHEMES)}; got {env!r}")
        if env == "half" and dtype not in HALF:
            raise ValueError(f"{ENV}=half takes float16 or bfloat16 inputs, got {dtype}")
        return env
    if dtype == torch.bfloat16 and capability is not None and tuple(capability) < (8, 0):
        return "split"  # sm_75 has float16 tensor cores only; the pieces are float16
    if dtype in HALF:
        return "half"
    if capability is None or tuple(capability) in STRONG_FLOAT64:
        return "float64"
    return "split"


def capability(a: torch.Tensor) -> tuple[int, int] | None:
    """The compute capability of the CUDA device holding ``a``; None for other devices. The one
    lookup every caller goes through (tests replace it to play a given GPU on CPU tensors)."""
    if not a.is_cuda:
        return None
    major, minor = torch.cuda.get_device_capability(a.device)
    return major, minor


def scheme_for(a: torch.Tensor, forced: str | None = None) -> str:
    return choose(a.dtype, capability(a), forced)


def reference_scheme(a: torch.Tensor) -> str:
    """The scheme of the all-pairs reference (lorentz._allpairs) for torch rows ``a``: float64
    inputs and devices other than CUDA GPUs keep the float64 GEMM (the CPU's float64 is
    fast); on a CUDA device the rule (and the environment variable) decides as for the
    Triton kernels."""
    if a.dtype not in (torch.float32, *HALF):
        return "float64"
    cap = capability(a)
    return "float64" if cap is None else choose(a.dtype, cap)


# ------------------------------------------------------------------ host side of the schemes


def split_rows(a: torch.Tensor):
    """Rows of ``a`` as sigma (2^-7 s0 + 2^-15 s1 + 2^-23 s2 + 2^-31 s3) + r: sigma the power
    of two just above the row's largest |component|, s_i integers in [-128, 128] (exact in
    float16), |r| <= 2^-32 sigma per component. Returns the pieces (4, R, K) as float64, sigma
    (R,) and r (R, K), all exact (float64 arithmetic on float32 or half inputs)."""
    a64 = torch.nan_to_num(a.double(), nan=0.0, posinf=0.0, neginf=0.0)
    _, e = torch.frexp(a64.abs().amax(1) if a64.shape[1] else a64.new_zeros(a64.shape[0]))
    sigma = torch.ldexp(torch.ones_like(a64[:, 0] if a64.shape[1] else a64[:, :0].sum(1)), e)
    t = a64 / sigma[:, None] * 2.0**7
    pieces = []
    for i in range(PIECES):
        if i:
            t = t * 2.0**8
        s = torch.round(t)
        pieces.append(s)
        t = t - s
    return torch.stack(pieces), sigma, t * sigma[:, None] * 2.0**-31


def _up(v: torch.Tensor) -> torch.Tensor:
    """float64 non-negative values as float32 values no smaller."""
    return (v * (1.0 + 2.0**-20)).float()


def row_data(a: torch.Tensor, c: torch.Tensor, scheme: str):
    """(R, 16) float32 per-row data read by the mixed kernels, and for "split" the float16
    pieces (4, R, K). Columns: 0, 1 x0 as hi + lo; 2 the row scale; 3 an upper bound on |a|
    and |a - r|; 4 |r|; 5-7 |A_1|, |A_2|, |A_3| (piece i times its weight); 8-10 the tails
    |A_1| + |A_2| + |A_3|, |A_2| + |A_3|, |A_3|; 11 recompute every pair of this row."""
    r_count = a.shape[0]
    a64 = a.double()
    c64 = c.double().reshape(())
    data = torch.zeros((r_count, 16), dtype=torch.float64, device=a.device)
    sq = (a64 * a64).sum(1)
    x0 = torch.sqrt(1.0 / c64 + sq)
    hi = x0.float()
    data[:, 0] = hi.double()
    data[:, 1] = (x0 - hi.double()).float().double()
    norm = torch.sqrt(sq)
    scale_ok = torch.isfinite(sq)
    pieces16 = None
    if scheme == "split":
        pieces, sigma, resid = split_rows(a)
        weights = (
            sigma[None, :]
            * torch.tensor(
                [2.0 ** (-7 - 8 * i) for i in range(PIECES)], dtype=torch.float64, device=a.device
            )[:, None]
        )
        pn = weights * torch.sqrt((pieces * pieces).sum(2))  # (4, R)
        approx = a64 - resid
        data[:, 2] = sigma
        data[:, 3] = torch.maximum(norm, torch.sqrt((approx * approx).sum(1)))
        data[:, 4] = torch.sqrt((resid * resid).sum(1))
        data[:, 5:8] = pn[1:].T
        data[:, 8] = pn[1] + pn[2] + pn[3]
        data[:, 9] = pn[2] + pn[3]
        data[:, 10] = pn[3]
        big = a64.abs().amax(1) if a.shape[1] else norm
        scale_ok &= (big == 0) | ((sigma >= SCALE_RANGE[0]) & (sigma <= SCALE_RANGE[1]))
        pieces16 = pieces.to(torch.float16).contiguous()
    else:
        data[:, 2] = 1.0
        data[:, 3] = norm
        big = a64.abs().amax(1) if a.shape[1] else norm
        scale_ok &= (big == 0) | ((big >= SCALE_RANGE[0]) & (big <= SCALE_RANGE[1]))
    c_ok = (c64 >= SCALE_RANGE[0]) & (c64 <= 1.0 / SCALE_RANGE[0])
    data[:, 11] = torch.where(scale_ok & c_ok, 0.0, 1.0)
    data[:, 3:11] = torch.nan_to_num(data[:, 3:11], nan=0.0, posinf=0.0)
    out = torch.cat([data[:, :3].float(), _up(data[:, 3:11]), data[:, 11:].float()], 1)
    return out.contiguous(), pieces16


def c_data(c: torch.Tensor) -> torch.Tensor:
    """float32 c, then 1/c as a float-float (hi, lo); no host synchronisation."""
    c64 = c.double().reshape(1)
    ic = 1.0 / c64
    ic_hi = ic.float()
    return torch.cat([c64.float(), ic_hi, (ic - ic_hi.double()).float()])


def launch_pairwise(
    xs: torch.Tensor, ys: torch.Tensor, c: torch.Tensor, out: torch.Tensor, scheme: str, launch
) -> None:
    """out = d(xs[i], ys[j]) by a mixed scheme; ``launch(kernel, grid, *args, **meta)``."""
    import triton

    from . import mixed

    m, n, k = xs.shape[0], ys.shape[0], xs.shape[1]
    if scheme == "half" and (xs.dtype not in HALF or ys.dtype != xs.dtype):
        raise ValueError(
            f"the half scheme takes float16 or bfloat16 rows of one dtype, "
            f"got {xs.dtype} and {ys.dtype}"
        )
    ma, pa = row_data(xs, c, scheme)
    mb, pb = row_data(ys, c, scheme)
    if scheme == "split":
        xs, ys = xs.float(), ys.float()  # the exact recompute reads these
    kc = min(CHUNK[scheme], BLOCK_K * triton.cdiv(max(k, 1), BLOCK_K))
    chunks = triton.cdiv(k, kc)
    ff_terms = (4 if scheme == "split" else 1) * chunks + 6
    tol = TOL[xs.dtype] if scheme == "half" else TOL[torch.float32]
    grid = (triton.cdiv(m, BLOCK), triton.cdiv(n, BLOCK))
    launch(
        mixed.pairwise_dist_mixed_kernel,
        grid,
        xs,
        ys,
        pa if pa is not None else xs,
        pb if pb is not None else ys,
        ma,
        mb,
        c,
        c_data(c),
        out,
        m,
        n,
        k,
        xs.stride(0),
        xs.stride(1),
        ys.stride(0),
        ys.stride(1),
        out.stride(0),
        out.stride(1),
        m * k,
        n * k,
        tol,
        ff_terms,
        SPLIT=scheme == "split",
        BM=BLOCK,
        BN=BLOCK,
        BK=BLOCK_K,
        KC=kc,
        BKR=BLOCK_K_EXACT,
        ASM=out.is_cuda,
    )


# ------------------------------------------------------------------ the schemes in plain torch
#
# The arithmetic of the mixed kernels written with torch matrix products: the emulation the
# CPU sweeps and tests check the kernels' bound with, the reference path's GEMM on CUDA
# devices without float64 throughput (lorentz._allpairs), and the gradient GEMMs of MERU's
# loss under the mixed schemes (lorentz._triton.ops). Every float32 matrix product here is
# exact (split: integers below 2^24) or bounded by gamma(KC) (half values), whatever the
# summation order of the library's GEMM, TF32 included (8-bit pieces and float16/bfloat16
# values are exact in TF32's 11-bit significand).


def _two_sum(hi, lo, x):
    s = hi + x
    bb = s - hi
    return s, lo + ((hi - (s - bb)) + (x - bb))


def _chunk(scheme: str, k: int) -> int:
    return min(CHUNK[scheme], BLOCK_K * -(-max(k, 1) // BLOCK_K))


def _split_levels(pa: torch.Tensor, pb: torch.Tensor, kc: int):
    """sum_k a_k b_k / (sigma_a sigma_b) as float32 (hi, lo) from the (4, R, K) pieces (float32
    integers): exact level sums of KC coordinates, each promoted by a Two-Sum."""
    k = pa.shape[2]
    hi = pa.new_zeros((pa.shape[1], pb.shape[1]))
    lo = torch.zeros_like(hi)
    for k0 in range(0, k, kc):
        sl = slice(k0, k0 + kc)
        for level in range(PIECES):
            acc = sum(pa[i][:, sl] @ pb[level - i][:, sl].T for i in range(level + 1))
            hi, lo = _two_sum(hi, lo, acc * 2.0 ** (-14 - 8 * level))
    return hi, lo


def _half_levels(a: torch.Tensor, b: torch.Tensor, kc: int):
    """a @ b.T as float32 (hi, lo): float32 sums of KC exact products, Two-Sum promoted."""
    hi = a.new_zeros((a.shape[0], b.shape[0]))
    lo = torch.zeros_like(hi)
    for k0 in range(0, a.shape[1], kc):
        hi, lo = _two_sum(hi, lo, a[:, k0 : k0 + kc] @ b[:, k0 : k0 + kc].T)
    return hi, lo


def _piece_norms(pieces: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(4, R) |A_i|: the norm of piece i of each row times its weight."""
    weights = torch.tensor(
        [2.0 ** (-7 - 8 * i) for i in range(PIECES)], dtype=torch.float64, device=pieces.device
    )[:, None]
    return weights * sigma[None, :] * torch.sqrt((pieces * pieces).sum(2))


def dot(a: torch.Tensor, b: torch.Tensor, scheme: str):
    """a @ b.T (any real rows; float64 in) by ``scheme``'s arithmetic, as float64, and an upper
    bound on each entry's error (float64; zeros for "float64", whose error is the GEMM's own).

    "split": a and b split into pieces (split_rows), exact level sums, float-float running
    sum; the error is the residuals' and dropped products' (Cauchy-Schwarz on row norms, as
    in the kernel) plus n^2 2^-47 times the sum of the level sums' magnitudes.
    "half": a and b rounded to float32 (the caller's inputs already float32 or half values),
    float32 sums of KC products (gamma(KC) |a| |b|), float-float promoted; the error from
    rounding a to float32 is the caller's (the half scheme's contract is in the inputs' eps)."""
    if scheme == "float64":
        g = a.double() @ b.double().T
        return g, torch.zeros_like(g)
    g, err = _dot_by_scheme(a, b, scheme)
    # the pieces read NaN and inf as 0: a product with a non-finite row is NaN
    bad = (~torch.isfinite(a).all(1))[:, None] | (~torch.isfinite(b).all(1))[None, :]
    return torch.where(bad, torch.nan, g), err


def _dot_by_scheme(a: torch.Tensor, b: torch.Tensor, scheme: str):
    k = a.shape[1]
    kc = _chunk(scheme, k)
    terms = -(-k // kc) * (PIECES if scheme == "split" else 1)
    na = torch.sqrt((a.double() ** 2).sum(1))
    nb = torch.sqrt((b.double() ** 2).sum(1))
    if scheme == "split":
        pa, sa, ra = split_rows(a)
        pb, sb, rb = split_rows(b)
        hi, lo = _split_levels(pa.float(), pb.float(), kc)
        g = (hi.double() + lo.double()) * (sa[:, None] * sb[None, :])
        qa, qb = _piece_norms(pa, sa), _piece_norms(pb, sb)
        nra, nrb = torch.sqrt((ra * ra).sum(1)), torch.sqrt((rb * rb).sum(1))
        err = (
            na[:, None] * nrb[None, :]
            + nra[:, None] * nb[None, :]
            + qa[1][:, None] * (qb[3])[None, :]
            + qa[2][:, None] * (qb[2] + qb[3])[None, :]
            + qa[3][:, None] * (qb[1] + qb[2] + qb[3])[None, :]
            + terms**2 * 2.0**-47 * (qa.sum(0)[:, None] * qb.sum(0)[None, :])
        )
    else:
        hi, lo = _half_levels(a.float(), b.float(), kc)
        g = hi.double() + lo.double()
        gamma = kc * 2.0**-23 / (1.0 - kc * 2.0**-23)
        err = (gamma + terms**2 * 2.0**-47 * (1 + gamma)) * (
            na[:, None] * nb[None, :]
        ) + k * 2.0**-126
    return g, err * (1.0 + 2.0**-20)


def scheme_u(xs: torch.Tensor, ys: torch.Tensor, c, scheme: str, kc: int | None = None):
    """The arithmetic of the mixed kernel in plain torch, on the inputs' device: the same
    pieces, exact level sums (float32 matrix products of integers below 2^24), float-float
    promotion, float32 u and per-pair bound. Returns (u float32, the bound's redo mask, the
    bound E on |g - xs.ys| (float32), g float64). The caller recomputes the flagged pairs."""
    c_t = torch.as_tensor(c, dtype=torch.float64, device=xs.device).reshape(())
    k = xs.shape[1]
    kc = kc or _chunk(scheme, k)
    ma, _ = row_data(xs, c_t, scheme)
    mb, _ = row_data(ys, c_t, scheme)
    if scheme == "split":
        pa, _, _ = split_rows(xs)
        pb, _, _ = split_rows(ys)
        hi, lo = _split_levels(pa.float(), pb.float(), kc)
        scale = ma[:, 2][:, None] * mb[:, 2][None, :]
        hi, lo = hi * scale, lo * scale
        err = (
            ma[:, 3][:, None] * mb[:, 4][None, :]
            + ma[:, 4][:, None] * mb[:, 3][None, :]
            + ma[:, 5][:, None] * mb[:, 10][None, :]
            + ma[:, 6][:, None] * mb[:, 9][None, :]
            + ma[:, 7][:, None] * mb[:, 8][None, :]
        )
        ff_terms = 4 * -(-k // kc) + 6
        tol = TOL[torch.float32]
    else:
        hi, lo = _half_levels(xs.float(), ys.float(), kc)  # half values: exact products
        gamma = kc * 2.0**-23 / (1.0 - kc * 2.0**-23)
        err = gamma * (ma[:, 3][:, None] * mb[:, 3][None, :]) + k * 2.0**-126
        ff_terms = -(-k // kc) + 6
        tol = TOL[xs.dtype]
    cf = c_data(c_t)
    c32, ic_hi, ic_lo = cf[0], cf[1], cf[2]
    a0h, a0l, b0h, b0l = ma[:, 0][:, None], ma[:, 1][:, None], mb[:, 0][None, :], mb[:, 1][None, :]
    p_hi = a0h * b0h
    p_lo = (a0h.double() * b0h.double() - p_hi.double()).float() + (a0h * b0l + a0l * b0h)
    w_hi, w_lo = _two_sum(p_hi, p_lo - lo, -hi)
    w_hi, w_lo = _two_sum(w_hi, w_lo - ic_lo, -ic_hi)
    u = torch.clamp(c32 * (w_hi + w_lo), min=0.0)
    norms = ma[:, 3][:, None] * mb[:, 3][None, :]
    err = err + ff_terms**2 * 2.0**-47 * (p_hi + (2.0 + k / 8192.0) * norms + ic_hi)
    flag = (ma[:, 11][:, None] + mb[:, 11][None, :]) > 0
    redo = flag | (c32 * err * (1.0 + 2.0**-10) > tol * 2.0 * u) | torch.isnan(u)
    return u, redo, err, hi.double() + lo.double()


def emulate(xs: torch.Tensor, ys: torch.Tensor, c, scheme: str, kc: int | None = None):
    """scheme_u's arithmetic finished as the kernel finishes it: (d float64 from the float32
    epilogue before any recompute, the redo mask, the bound E, g as float64)."""
    u, redo, err, g = scheme_u(xs, ys, c, scheme, kc)
    c32 = torch.as_tensor(c, dtype=torch.float64, device=xs.device).reshape(()).float()
    d = torch.log1p(u + torch.sqrt(u) * torch.sqrt(u + 2.0)) / torch.sqrt(c32)
    return d.double(), redo, err.double(), g


def sweep_case(xs: torch.Tensor, ys: torch.Tensor, c: float, scheme: str, want: torch.Tensor):
    """One sweep of the emulation against the float64 distances ``want`` of the rounded inputs
    (benchmarks/precision_sweep.py and tests/test_precision_policy.py): the fraction of pairs
    sent to the recompute, the worst relative error of d among the others, and how many pairs
    had a GEMM error above their bound E (the float64 check GEMM's own K eps64 |x||y| aside)."""
    d, redo, err, g = emulate(xs, ys, c, scheme)
    exact_g = xs.double() @ ys.double().T
    slack = 1e-15 * xs.double().norm(dim=1)[:, None] * ys.double().norm(dim=1)[None, :]
    rel = (d - want).abs() / want.clamp_min(1e-300)
    through = ~redo
    return {
        "pairs": rel.numel(),
        "flagged": float(redo.double().mean()),
        "worst": float(rel[through].max()) if through.any() else 0.0,
        "violations": int(((g - exact_g).abs() > err + slack).sum()),
    }
