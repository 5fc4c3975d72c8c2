"""The Triton kernels against the reference, forward and backward: on a GPU where there is
one, otherwise on CPU tensors through Triton's interpreter (shapes kept to <= 128 rows, which
it runs in well under a second). Random, near-duplicate, far-out and odd-shaped inputs,
float16 and bfloat16, learnable c and logit scale, opcheck and torch.compile(fullgraph=True),
and the fused MERU loss, whose B x M logits must not be kept for the backward."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":  # before triton is imported: it reads the variable once
    os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")  # installed by CI (extra triton); never skipped there

import lorentz
from lorentz._triton import ops
from lorentz.meru import meru_loss
from lorentz.testing._accuracy import BOUND, OPS, measure
from lorentz.testing._kernel_cases import KINDS, agree, hard_rows, inputs, pairwise_hard_rows

assert (DEVICE == "cpu") == ops.INTERPRET, (
    "lorentz._triton was imported before the interpreter was chosen"
)

gen = torch.Generator().manual_seed(5)
# Gradients: float32 inputs against the float64 reference on the same inputs. Measured up to
# 1.4e-7 relative (max |diff| / max |ref|); the bound leaves a factor ~7 for other data.
GRAD_RTOL = 1e-6


def tensor(a, dtype=torch.float32):
    return torch.as_tensor(np.asarray(a)).to(device=DEVICE, dtype=dtype)


def randn(*shape, scale=1.0, generator=None):
    return (scale * torch.randn(*shape, generator=generator or gen, dtype=torch.float64)).to(DEVICE)


def close(got, want, rtol, floor=0.0):
    """max |got - want| <= rtol max(max |want|, floor)."""
    got, want = got.double(), want.double()
    assert got.shape == want.shape
    assert torch.all(torch.isfinite(got))
    err, scale = (got - want).abs().max(), max(want.abs().max(), floor)
    assert err <= rtol * scale, (err, scale)


def leaf(a, dtype=None):
    return a.detach().clone().to(dtype or a.dtype).requires_grad_()


# ------------------------------------------------------------------ forward


@pytest.mark.parametrize("c", [1.0, 0.3])
@pytest.mark.parametrize("kind", KINDS)
def test_pairwise_dist(kind, c):
    x, y = (tensor(a) for a in inputs(kind, np.float32, c))
    got = lorentz.pairwise_dist(x, y, c=c, implementation="triton")
    want = lorentz.pairwise_dist(x, y, c=c, implementation="reference")
    assert got.dtype == torch.float32 and got.device == x.device
    agree(got.cpu().numpy(), want.cpu().numpy(), np.float32)


@pytest.mark.parametrize("kind", ["near-duplicate", "far"])
def test_pairwise_dist_meets_the_bound_against_mpmath(kind):
    """Near pairs far out are where the GEMM form fails: the epilogue must recompute them."""
    c = 0.7
    x, y = inputs(kind, np.float32, c)
    got = lorentz.pairwise_dist(tensor(x), tensor(y), c=c, implementation="triton").cpu().numpy()
    for i in range(x.shape[0]):
        for j in (i, i + x.shape[0]):  # the point itself and its moved copy
            err, bound = measure(OPS["dist"], got[i, j], (x[i], y[j]), c, "float32")
            assert err <= bound, (i, j, err, bound)


@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 123, 7), (33, 2, 37), (3, 70, 64)])
def test_pairwise_dist_odd_shapes(shape):
    """Rows, columns and the dimension off the block sizes (32 and 32)."""
    m, n, k = shape
    x = lorentz.expmap0(
        torch.cat([torch.zeros(m, 1, device=DEVICE, dtype=torch.float64), randn(m, k)], 1)
    )
    y = lorentz.expmap0(
        torch.cat([torch.zeros(n, 1, device=DEVICE, dtype=torch.float64), randn(n, k)], 1)
    )
    got = lorentz.pairwise_dist(x.float(), y.float(), implementation="triton")
    want = lorentz.pairwise_dist(x.float().double(), y.float().double(), implementation="reference")
    agree(got.cpu().numpy(), want.cpu().numpy(), np.float32)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs(dtype):
    """Computed from the half-precision values exactly, then rounded once to the input dtype."""
    x, y = (tensor(a, dtype) for a in inputs("random", np.float32, 1.0))
    got = lorentz.pairwise_dist(x, y, implementation="triton")
    assert got.dtype == dtype
    want = lorentz.pairwise_dist(x.double(), y.double(), implementation="reference")
    close(got, want, torch.finfo(dtype).eps)
    u = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] / 4], 1)
    for op in (lorentz.expmap0, lorentz.logmap0):
        got = op(u, implementation="triton")
        assert got.dtype == dtype
        close(got, op(u.double(), implementation="reference"), torch.finfo(dtype).eps)


@pytest.mark.parametrize("kind", ["random", "far", "n=1", "one row", "non-contiguous"])
@pytest.mark.parametrize("op", ["expmap0", "logmap0"])
def test_origin_maps(op, kind):
    x, _ = (tensor(a) for a in inputs(kind, np.float32, 2.0))
    if op == "expmap0":  # tangent norms up to 20: sinh stays finite in float32
        xs = x[:, 1:] * torch.clamp(20 / torch.linalg.norm(x[:, 1:], dim=1, keepdim=True), max=1)
        x = torch.cat([torch.zeros_like(x[:, :1]), xs], 1)
    f = getattr(lorentz, op)
    got, want = (
        f(x, c=2.0, implementation="triton"),
        f(x.double(), c=2.0, implementation="reference"),
    )
    assert got.dtype == torch.float32 and got.shape == x.shape
    close(got, want, 2 * BOUND["float32"])


def test_origin_maps_batch_shape_and_zero():
    u = torch.zeros(2, 3, 4, device=DEVICE)
    u[0, 1, 1:] = randn(3).float()
    y = lorentz.expmap0(u, implementation="triton")
    assert y.shape == (2, 3, 4)
    assert torch.equal(y[1], lorentz.expmap0(u[1], implementation="reference"))  # the origin
    close(lorentz.logmap0(y, implementation="triton"), u, 2 * BOUND["float32"])


@pytest.mark.parametrize("kind", ["random", "near-duplicate", "far", "one column"])
def test_knn(kind):
    x, y = (tensor(a) for a in inputs(kind, np.float32, 1.0))
    k = min(3, y.shape[0])
    d, i = lorentz.knn(x, y, k, implementation="triton")
    d_ref, i_ref = lorentz.knn(x.double(), y.double(), k, implementation="reference")
    assert d.dtype == torch.float32 and i.dtype == torch.int64
    assert torch.equal(i, i_ref)  # the float64 distances order exactly as the reference's
    agree(d.cpu().numpy(), d_ref.cpu().numpy(), np.float32)


def test_knn_ties_keep_the_lower_index_across_key_blocks(monkeypatch):
    monkeypatch.setattr(ops, "KNN_KEYS", 3)  # several key blocks
    x = lorentz.expmap0(torch.tensor([[0.0, 0.5, -0.2]], device=DEVICE))
    far = lorentz.expmap0(randn(4, 3, scale=3.0).float() * torch.tensor([0.0, 1, 1], device=DEVICE))
    y = torch.cat([far, x, far[:1], x, x])  # three exact ties at rows 4, 6, 7
    d, i = lorentz.knn(x, y, 3, implementation="triton")
    assert i.tolist() == [[4, 6, 7]] and d.tolist() == [[0.0, 0.0, 0.0]]


# ------------------------------------------------------------------ backward


def _grads(f, dtype, *arrays, c=0.7):
    args = [leaf(a, dtype) for a in arrays]
    cc = torch.tensor(c, dtype=torch.float64, device=DEVICE, requires_grad=True)
    out = f(*args, cc)
    # weights exact in float32: a float32 operator then receives the same upstream gradient as
    # the float64 reference (float64 weights rounded on the way in moved a c-gradient that
    # cancels to 0.043 from terms near 1.7 by 5.7e-8, past GRAD_RTOL, for one seed)
    weights = torch.linspace(-1, 2, out.numel(), dtype=torch.float32, device=DEVICE).double()
    (out.double().reshape(-1) * weights).sum().backward()
    return [a.grad for a in args] + [cc.grad]


@pytest.mark.parametrize("kind", ["random", "near-duplicate", "far", "one row"])
def test_pairwise_dist_gradients(kind):
    x, y = (tensor(a) for a in inputs(kind, np.float32, 0.7))
    got = _grads(
        lambda a, b, c: lorentz.pairwise_dist(a, b, c=c, implementation="triton"),
        torch.float32,
        x,
        y,
    )
    want = _grads(
        lambda a, b, c: lorentz.pairwise_dist(a, b, c=c, implementation="reference"),
        torch.float64,
        x,
        y,
    )
    assert got[0].dtype == torch.float32 and got[2].dtype == torch.float64
    # the time coordinate is re-derived from the space part (the library's convention)
    assert torch.all(got[0][:, 0] == 0)
    for g, w in zip(got, want):
        close(g, w, GRAD_RTOL)


@pytest.mark.parametrize("op", ["expmap0", "logmap0"])
@pytest.mark.parametrize("scale", [1e-4, 0.5, 4.0])
def test_origin_map_gradients(op, scale):
    """Small tangents test the cancellation-prone (cosh t - sinhc t) / |u|^2 terms."""
    u = torch.cat(
        [torch.zeros(37, 1, device=DEVICE, dtype=torch.float64), randn(37, 9, scale=scale)], 1
    )
    u[0, 1:] = 0.0
    f = getattr(lorentz, op)
    got = _grads(lambda a, c: f(a, c=c, implementation="triton"), torch.float32, u)
    want = _grads(lambda a, c: f(a, c=c, implementation="reference"), torch.float64, u.float())
    for g, w in zip(got, want):
        close(g, w, GRAD_RTOL)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gradients_come_back_in_the_input_dtype(dtype):
    x, y = (tensor(a, dtype) for a in inputs("random", np.float32, 1.0))
    gx, gy, _ = _grads(
        lambda a, b, c: lorentz.pairwise_dist(a, b, c=c, implementation="triton"), dtype, x, y
    )
    assert gx.dtype == gy.dtype == dtype
    want = _grads(
        lambda a, b, c: lorentz.pairwise_dist(a, b, c=c, implementation="reference"),
        torch.float64,
        x,
        y,
    )
    close(gx, want[0], 2 * torch.finfo(dtype).eps)
    (gu, _) = _grads(lambda a, c: lorentz.expmap0(a, c=c, implementation="triton"), dtype, x / 4)
    assert gu.dtype == dtype


def test_knn_distances_have_gradients():
    x, y = (tensor(a) for a in inputs("random", np.float32, 1.0))
    gx, gy, gc = _grads(
        lambda a, b, c: lorentz.knn(a, b, 2, c=c, implementation="triton")[0], torch.float32, x, y
    )
    wx, wy, wc = _grads(
        lambda a, b, c: lorentz.knn(a, b, 2, c=c, implementation="reference")[0],
        torch.float64,
        x,
        y,
    )
    for g, w in ((gx, wx), (gy, wy), (gc, wc)):
        close(g, w, GRAD_RTOL)


# ------------------------------------------------------------------ squared distance, angles

ALL_PAIRS = ("pairwise_sqdist", "pairwise_exterior_angle")


def _all_pairs_agree(op, got, want):
    """Both within the float32 contract of the exact value, so within twice it of each other:
    relative for the squared distance, in radians for the angle; NaN where the other has NaN."""
    got, want = got.double().cpu().numpy(), want.double().cpu().numpy()
    tol = 2 * BOUND["float32"]
    rtol, atol = (tol, 0) if op == "pairwise_sqdist" else (0, tol)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


@pytest.mark.parametrize("c", [1.0, 0.3])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op", ALL_PAIRS)
def test_all_pairs_operations(op, kind, c):
    x, y = (tensor(a) for a in inputs(kind, np.float32, c))
    f = getattr(lorentz, op)
    got = f(x, y, c=c, implementation="triton")
    assert got.dtype == torch.float32 and got.device == x.device
    _all_pairs_agree(op, got, f(x.double(), y.double(), c=c, implementation="reference"))


@pytest.mark.parametrize("c", [1.0, 0.3])
@pytest.mark.parametrize("op", ALL_PAIRS)
def test_all_pairs_operations_on_the_hard_rows(op, c):
    """Every pair of the hard rows (the origin, collinear points, near pairs far out and near
    the origin, |xs| = 1e7 past the plain form's range, a NaN row) against themselves and
    reversed: the kernel's GEMM values, its recomputed pairs and the pairs it leaves to the
    host all agree with the reference; NaN exactly in the NaN row and column."""
    x = tensor(pairwise_hard_rows("float32", c))
    f = getattr(lorentz, op)
    # the interpreter runs the kernels in numpy, which warns of NaN arithmetic; a GPU does not
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for a, b in ((x, x), (x, x.flip(0)), (x.repeat(3, 1), x.flip(0).repeat(2, 1))):
            got = f(a, b, c=c, implementation="triton")
            _all_pairs_agree(op, got, f(a.double(), b.double(), c=c, implementation="reference"))
            nan = torch.isnan(a[:, 1])[:, None] | torch.isnan(b[:, 1])[None, :]
            assert torch.equal(torch.isnan(got), nan)
        d = f(x, x, c=c, implementation="triton")
    assert torch.all(torch.diag(d)[~torch.isnan(x[:, 1])] == 0)  # x == y
    if op == "pairwise_exterior_angle":  # collinear: 0 on the ray beyond x, pi behind; origin
        assert d[1, 2] == 0 and d[2, 1] == pytest.approx(np.pi, abs=1e-6)
        close(d[0, 1:3], torch.full((2,), np.pi / 2, device=DEVICE), 1e-6)


@pytest.mark.parametrize("op", ALL_PAIRS)
def test_all_pairs_operations_meet_the_bound_against_mpmath(op):
    """The pairs the GEMM form cannot give (near pairs far out, x == y) against mpmath."""
    c = 0.7
    for kind in ("near-duplicate", "far"):
        x, y = inputs(kind, np.float32, c)
        got = getattr(lorentz, op)(tensor(x), tensor(y), c=c, implementation="triton")
        got = got.cpu().numpy()
        for i in range(x.shape[0]):
            for j in (i, i + x.shape[0]):
                if op == "pairwise_exterior_angle" and j == i:
                    continue  # x == y: the oracle's angle is undefined there (0 above)
                err, bound = measure(
                    OPS[op[len("pairwise_") :]], got[i, j], (x[i], y[j]), c, "float32"
                )
                assert err <= bound, (kind, i, j, err, bound)


@pytest.mark.parametrize("kind", ["random", "near-duplicate", "far", "n=1", "one row", "hard"])
@pytest.mark.parametrize("op", ALL_PAIRS)
def test_all_pairs_gradients(op, kind):
    """Against the reference's autodiff in float64: the GEMM sums, and the pairs the backward
    takes from the reference (near, collinear, far-out pairs; n = 1 is collinear throughout)."""
    if kind == "hard":  # without the NaN row
        x = tensor(pairwise_hard_rows("float32", 0.7))
        x = x[~torch.isnan(x[:, 1])]
        x, y = x, x.flip(0)
    else:
        x, y = (tensor(a) for a in inputs(kind, np.float32, 0.7))
    f = getattr(lorentz, op)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        got = _grads(lambda a, b, c: f(a, b, c=c, implementation="triton"), torch.float32, x, y)
    want = _grads(lambda a, b, c: f(a, b, c=c, implementation="reference"), torch.float64, x, y)
    assert got[0].dtype == torch.float32 and got[2].dtype == torch.float64
    assert torch.all(got[0][:, 0] == 0)
    if op == "pairwise_sqdist":
        # the reference's autodiff sums terms of the size of s/c into a dc that is their tiny
        # difference, -(x0 - y0)^2 / (c^2 x0 y0) per pair: for "far" it came out -7.1e-8 for
        # an exact -2.9e-8. mpmath differentiates the definition instead.
        want[2] = _sqdist_dc(x, y, 0.7)
    for g, w in zip(got, want):
        close(g, w, GRAD_RTOL)


def _sqdist_dc(x, y, c):
    """d/dc of sum_ij w_ij (2 (x0 y0 - xs.ys) - 2/c) at fixed space parts (_grads' weights), by
    mpmath at 40 digits."""
    mpmath = pytest.importorskip("mpmath")
    xs, ys = x[:, 1:].double().tolist(), y[:, 1:].double().tolist()
    n = len(xs) * len(ys)
    weights = torch.linspace(-1, 2, n, dtype=torch.float32).double().reshape(len(xs), len(ys))
    total = 0
    with mpmath.workdps(40):
        for i, a in enumerate(xs):
            na = mpmath.fsum(t * t for t in map(mpmath.mpf, a))
            for j, b in enumerate(ys):
                nb = mpmath.fsum(t * t for t in map(mpmath.mpf, b))
                g = mpmath.fsum(mpmath.mpf(p) * q for p, q in zip(a, b))

                def s(cc, na=na, nb=nb, g=g):
                    return 2 * (mpmath.sqrt(1 / cc + na) * mpmath.sqrt(1 / cc + nb) - g) - 2 / cc

                total += float(weights[i, j]) * mpmath.diff(s, mpmath.mpf(c))
    return torch.tensor(float(total), dtype=torch.float64)


# ------------------------------------------------------------------ the fused MERU loss


def _meru(impl, dtype, image, text, **kw):
    i, t = leaf(image, dtype), leaf(text, dtype)
    curv = torch.tensor(0.75, dtype=dtype, device=DEVICE, requires_grad=True)  # exact in float16
    scale = torch.tensor(10.0, dtype=dtype, device=DEVICE, requires_grad=True)
    kw = {k: (leaf(v, dtype) if k in ("all_image",) else v) for k, v in kw.items()}
    if "boxes" in kw:
        kw["boxes"] = tuple(leaf(b, dtype) for b in kw["boxes"])
    out = meru_loss(i, t, curv=curv, logit_scale=scale, implementation=impl, **kw)
    out["loss"].backward()
    grads = [i.grad, t.grad, curv.grad, scale.grad]
    if "all_image" in kw:
        grads.append(kw["all_image"].grad)
    return [out["loss"], out["contrastive"], out["entailment"]], grads


def _meru_case(case):
    """Inputs of one case from a generator of its own: the same whichever tests ran before."""
    own = torch.Generator().manual_seed(sum(map(ord, case)))

    def randn(*shape, scale=1.0):
        return globals()["randn"](*shape, scale=scale, generator=own)

    b, m, n = {"1 x 1": (1, 1, 3), "5 x 123": (5, 123, 7)}.get(case, (9, 13, 20))
    image, text = randn(b, n, scale=0.3), randn(m, n, scale=0.3)
    kw = {}
    if case == "targets":
        kw["targets"] = torch.tensor([3, 1, 4, 0, 5, 9, 2, 6, 7], device=DEVICE)
    if case == "all_image":
        kw["all_image"], kw["targets"] = randn(m, n, scale=0.3), torch.arange(b, device=DEVICE) + 2
    if case == "boxes":
        kw["boxes"] = (randn(b, n, scale=0.3), randn(b, n, scale=0.3))
    if case == "caption equals image":  # where MERU's acosh clamp gives NaN gradients
        text[:b] = image
        text[1] = image[1] * (1 + 1e-6)
    if case == "far":
        image, text = image * 30, text * 30
    return image, text, kw


@pytest.mark.parametrize(
    "case",
    ["default", "targets", "all_image", "boxes", "caption equals image", "far", "1 x 1", "5 x 123"],
)
def test_meru_loss_matches_the_reference(case):
    image, text, kw = _meru_case(case)
    values, grads = _meru("triton", torch.float32, image.float(), text.float(), **kw)
    want_values, want_grads = _meru("reference", torch.float64, image.float(), text.float(), **kw)
    assert values[0].dtype == torch.float32
    for got, want in zip(
        values, want_values
    ):  # a loss of 0 (1 x 1) is exact to its logits' rounding
        close(got, want, 2e-6, floor=1.0)
    for got, want in zip(grads, want_grads):  # likewise its gradients, 0 up to O(1) terms' rounding
        close(got, want, GRAD_RTOL, floor=1.0 if case == "1 x 1" else 0.0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_meru_loss_half_precision(dtype):
    image, text, _ = _meru_case("default")
    values, grads = _meru("triton", dtype, image, text)
    want_values, want_grads = _meru("reference", torch.float64, image.to(dtype), text.to(dtype))
    assert values[0].dtype == torch.float32 and grads[0].dtype == dtype
    close(values[0], want_values[0], 1e-6)
    for got, want in zip(grads[:2], want_grads[:2]):
        close(got, want, 2 * torch.finfo(dtype).eps)


def test_meru_loss_keeps_no_batch_by_batch_tensor_for_the_backward():
    b, m, n = 40, 50, 8
    image, text = leaf(randn(b, n, scale=0.3).float()), leaf(randn(m, n, scale=0.3).float())
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel()) or t, lambda t: t
    ):
        fused = meru_loss(image, text, curv=1.0, logit_scale=10.0, implementation="triton")["loss"]
    assert max(saved) < b * m  # the largest is an (M, n) embedding
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel()) or t, lambda t: t
    ):
        dense = lorentz.pairwise_dist(lorentz.from_space(image), lorentz.from_space(text)).sum()
    assert max(saved) >= b * m  # an all-pairs distance keeps its (B, M) output: the check can fail
    fused.backward()
    dense.backward()


# ------------------------------------------------------------------ torch.library and dispatch


def test_opcheck():
    x, y = (tensor(a) for a in inputs("random", np.float32, 1.0))
    c = torch.tensor(0.9, dtype=torch.float64, device=DEVICE)
    cases = [
        (torch.ops.lorentz.pairwise_dist.default, (x[:, 1:], y[:, 1:], c)),
        (torch.ops.lorentz.pairwise_sqdist.default, (x[:, 1:], y[:, 1:], c)),
        (torch.ops.lorentz.pairwise_exterior_angle.default, (x[:, 1:], y[:, 1:], c)),
        (torch.ops.lorentz.expmap0.default, (x / 4, c)),
        (torch.ops.lorentz.logmap0.default, (x, c)),
        (torch.ops.lorentz.knn.default, (x[:, 1:], y[:, 1:], c, 3)),
        (torch.ops.lorentz.neg_dist_lse.default, (x[:, 1:], y[:, 1:], c, c * 10)),
    ]
    for op, args in cases:
        torch.library.opcheck(op, args)


@pytest.mark.slow
def test_torch_compile_fullgraph():
    backend = "inductor" if DEVICE == "cuda" else "aot_eager"  # inductor needs a GPU for triton
    x, y = (tensor(a) for a in inputs("random", np.float32, 1.0))

    def f(a, b, c, s):
        loss = meru_loss(a[:, 1:], b[:, 1:], curv=c, logit_scale=s, implementation="triton")["loss"]
        return (
            loss
            + lorentz.pairwise_dist(
                lorentz.expmap0(a, c=c, implementation="triton"), b, c=c, implementation="triton"
            ).sum()
            + lorentz.pairwise_sqdist(a, b, c=c, implementation="triton").mean()
            + lorentz.pairwise_exterior_angle(a, b, c=c, implementation="triton").sum()
        )

    compiled = torch.compile(f, fullgraph=True, backend=backend)
    c, s = torch.tensor(0.9, device=DEVICE), torch.tensor(10.0, device=DEVICE)
    x = x[:20]  # B <= M
    a, b = leaf(x / 4), leaf(y)
    got = compiled(a, b, c, s)
    got.backward()
    a2, b2 = leaf(x / 4), leaf(y)
    want = f(a2, b2, c, s)
    want.backward()
    close(got, want, 1e-6)
    close(a.grad, a2.grad, 1e-6)
    close(b.grad, b2.grad, 1e-6)


def test_dispatch_errors():
    x = tensor(inputs("random", np.float32, 1.0)[0])
    with pytest.raises(ValueError, match="the triton kernels take float16, bfloat16 or float32"):
        lorentz.expmap0(x.double(), implementation="triton")
    with pytest.raises(ValueError, match="the triton kernels take a scalar c"):
        lorentz.expmap0(x, c=torch.ones(x.shape[0], device=DEVICE), implementation="triton")
    with pytest.raises(ValueError, match="take torch tensors"):
        lorentz.pairwise_dist(x.cpu().numpy(), x.cpu().numpy(), implementation="triton")
    with pytest.raises(ValueError, match="meru_loss: implementation='triton' cannot run here"):
        meru_loss(x.double(), x.double(), curv=1.0, logit_scale=1.0, implementation="triton")
    with pytest.raises(ValueError, match="implementation must be None, 'reference' or 'triton'"):
        meru_loss(x, x, curv=1.0, logit_scale=1.0, implementation="numba")


def test_without_gpu_or_interpreter_the_other_implementations_work():
    code = (
        "import torch, lorentz\n"
        "x = lorentz.expmap0(torch.tensor([[0.0, 1.0], [0.0, -2.0]]))\n"
        "assert torch.allclose(lorentz.pairwise_dist(x, x)[0, 1], torch.tensor(3.0))\n"
        "try:\n"
        "    lorentz.pairwise_dist(x, x, implementation='triton')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert "take CUDA tensors (or CPU tensors with TRITON_INTERPRET=1)" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["80", "90", "100"])
def test_kernels_compile_for_a_gpu(arch):
    """The interpreter runs any Python: compile every kernel to a cubin for the GPUs whose
    float64 rate the precision rule relies on (sm_80 A100, sm_90 H100/H200, sm_100 B200),
    which needs no GPU, so that what is tested here is also valid compiled Triton."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [os.path.dirname(__file__), env.get("PYTHONPATH")])
    )
    script = os.path.join(os.path.dirname(__file__), "triton_sm90.py")
    out = subprocess.run([sys.executable, script, arch], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    from lorentz._triton import COMPILED

    # every kernel the package declares, once each (and once per value of a boolean constant)
    assert out.stdout.count(": ok,") >= len({n for names in COMPILED.values() for n in names})
    assert "FAILED" not in out.stdout


def test_every_kernel_belongs_to_an_operation():
    """The compile tests build the kernels the package declares per operation: a jit kernel
    missing from lorentz._triton.COMPILED would be launched but never compiled for a GPU."""
    from lorentz._registry import OPERATIONS
    from lorentz._triton import COMPILED, KERNELS
    from lorentz._triton import kernels as K

    declared = {n for names in COMPILED.values() for n in names}
    # jit functions (the interpreter's stand-ins too) carry their source function as .fn
    jit = {name for name, obj in vars(K).items() if name.endswith("_kernel") and hasattr(obj, "fn")}
    assert jit == declared
    assert set(COMPILED) <= set(OPERATIONS) and KERNELS["torch"] == set(COMPILED)


@pytest.mark.parametrize(
    "op",
    [
        "dist",
        "pairwise_dist",
        "pairwise_sqdist",
        "pairwise_exterior_angle",
        "knn",
        "expmap0",
        "logmap0",
    ],
)
def test_the_triton_kernels_run_when_asked(op, monkeypatch):
    """A spy on the Triton host functions: "triton" runs them, "reference" does not."""
    seen = []
    original = getattr(ops, op)
    monkeypatch.setattr(ops, op, lambda *a, **k: seen.append(op) or original(*a, **k))
    x, y = (tensor(a) for a in inputs("random", np.float32, 1.0))
    calls = {
        "dist": lambda impl: lorentz.dist(x[:5], y[:5], implementation=impl),
        "pairwise_dist": lambda impl: lorentz.pairwise_dist(x, y, implementation=impl),
        "pairwise_sqdist": lambda impl: lorentz.pairwise_sqdist(x, y, implementation=impl),
        "pairwise_exterior_angle": lambda impl: lorentz.pairwise_exterior_angle(
            x, y, implementation=impl
        ),
        "knn": lambda impl: lorentz.knn(x, y, 2, implementation=impl),
        "expmap0": lambda impl: lorentz.expmap0(x / 4, implementation=impl),
        "logmap0": lambda impl: lorentz.logmap0(x, implementation=impl),
    }
    calls[op]("reference")
    assert not seen
    calls[op]("triton")
    assert seen == [op]


def test_the_fused_loss_runs_when_asked(monkeypatch):
    seen = []
    original = ops.neg_dist_lse
    monkeypatch.setattr(ops, "neg_dist_lse", lambda *a: seen.append(1) or original(*a))
    image, text, _ = _meru_case("default")
    meru_loss(image.float(), text.float(), curv=1.0, logit_scale=10.0, implementation="reference")
    assert not seen
    meru_loss(image.float(), text.float(), curv=1.0, logit_scale=10.0, implementation="triton")
    assert len(seen) == 2  # one log-sum-exp per direction


def test_nan_reaches_exactly_what_it_touches():
    """The NaN policy (tests/test_nan.py) on the Triton kernels: a NaN coordinate makes its
    row NaN, never 0, and leaves the other rows as they were."""
    x, y = (tensor(a) for a in inputs("random", np.float32, 1.0))
    dirty = x.clone()
    dirty[1, 2] = float("nan")
    # the interpreter runs the kernels in numpy, which warns of NaN arithmetic; a GPU does not
    with np.errstate(invalid="ignore"):
        _nan_rows(x, y, dirty)


def _nan_rows(x, y, dirty):
    for f in (
        lambda a: lorentz.pairwise_dist(a, y, implementation="triton"),
        lambda a: lorentz.pairwise_sqdist(a, y, implementation="triton"),
        lambda a: lorentz.pairwise_exterior_angle(a, y, implementation="triton"),
        lambda a: lorentz.expmap0(a / 4, implementation="triton"),
        lambda a: lorentz.logmap0(a, implementation="triton")[:, 1:],
        lambda a: lorentz.knn(a, y, 2, implementation="triton")[0],
    ):
        clean, got = f(x), f(dirty)
        assert torch.isnan(got[1]).all()
        keep = [0] + list(range(2, len(x)))
        assert torch.equal(got[keep], clean[keep])
    image, text, _ = _meru_case("default")
    image = image.float()
    image[1, 0] = float("nan")
    assert torch.isnan(
        meru_loss(image, text.float(), curv=1.0, logit_scale=10.0, implementation="triton")["loss"]
    )


# ------------------------------------------------------------------ distance of row pairs


@pytest.mark.parametrize("c", [1.0, 0.3])
@pytest.mark.parametrize("kind", ["hard", *KINDS])
def test_dist_rows(kind, c):
    """Forward and backward (x, y and a learnable c) against the reference on the same
    float32 values; the hard rows hold near pairs far out, x == y, the origin, huge and tiny
    norms."""
    if kind == "hard":
        x, y = hard_rows(np.float32, c)
    else:
        x, y = inputs(kind, np.float32, c)
        m = min(len(x), len(y))
        x, y = x[:m], y[:m]
    x, y = tensor(x), tensor(y)
    got = lorentz.dist(x, y, c=c, implementation="triton")
    assert got.dtype == torch.float32 and got.shape == x.shape[:-1]
    agree(
        got.cpu().numpy(),
        lorentz.dist(x, y, c=c, implementation="reference").cpu().numpy(),
        np.float32,
    )
    got = _grads(
        lambda a, b, cc: lorentz.dist(a, b, c=cc, implementation="triton"), torch.float32, x, y, c=c
    )
    want = _grads(
        lambda a, b, cc: lorentz.dist(a, b, c=cc, implementation="reference"),
        torch.float64,
        x,
        y,
        c=c,
    )
    for g, w in zip(got, want):
        close(g, w, GRAD_RTOL)


def test_dist_meets_the_bound_against_mpmath():
    x, y = hard_rows(np.float32, 0.7)
    got = lorentz.dist(tensor(x), tensor(y), c=0.7, implementation="triton").cpu().numpy()
    for i in range(len(x)):
        err, bound = measure(OPS["dist"], got[i], (x[i], y[i]), 0.7, "float32")
        assert err <= bound, (i, err, bound)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_dist_half_precision_and_broadcasting(dtype):
    x, y = (tensor(a, dtype) for a in inputs("random", np.float32, 1.0))
    got = lorentz.dist(x[:4, None], y[None, :3], keepdim=True, implementation="triton")
    assert got.dtype == dtype and got.shape == (4, 3, 1)
    want = lorentz.dist(
        x[:4, None].double(), y[None, :3].double(), keepdim=True, implementation="reference"
    )
    close(got, want, torch.finfo(dtype).eps)
    gx, gy, _ = _grads(
        lambda a, b, c: lorentz.dist(a[:4, None], b[None, :3], c=c, implementation="triton"),
        dtype,
        x,
        y,
    )
    assert gx.dtype == gy.dtype == dtype
    want = _grads(
        lambda a, b, c: lorentz.dist(a[:4, None], b[None, :3], c=c, implementation="reference"),
        torch.float64,
        x,
        y,
    )
    close(gx, want[0], 2 * torch.finfo(dtype).eps)
    close(gy, want[1], 2 * torch.finfo(dtype).eps)


def test_dist_operators_pass_opcheck_and_nan_stays_in_its_row():
    x, y = (tensor(a) for a in inputs("random", np.float32, 1.0))
    m = min(len(x), len(y))
    x, y = x[:m], y[:m]
    c = torch.tensor(0.9, dtype=torch.float64, device=DEVICE)
    torch.library.opcheck(torch.ops.lorentz.dist.default, (x, y, c))
    dirty = x.clone()
    dirty[1, 2] = float("nan")
    with np.errstate(invalid="ignore"):  # the interpreter warns of NaN arithmetic
        clean = lorentz.dist(x, y, implementation="triton")
        got = lorentz.dist(dirty, y, implementation="triton")
        gx, _, _ = _grads(
            lambda a, b, cc: lorentz.dist(a, b, c=cc, implementation="triton"),
            torch.float32,
            dirty,
            y,
        )
    assert torch.isnan(got[1]) and torch.isnan(gx[1, 1:]).all()
    keep = [0, *range(2, m)]
    assert torch.equal(got[keep], clean[keep]) and torch.isfinite(gx[keep]).all()


# ------------------------------------------------------------------ the loss by a forced scheme


@pytest.mark.parametrize("case", ["default", "all_image", "caption equals image", "far", "5 x 123"])
def test_meru_loss_split_scheme_matches_the_reference(case):
    """implementation="triton:split" (the scheme of float32 inputs on GPUs without float64
    throughput): distance tiles from the mixed kernel, gradients by split-piece products with
    the near pairs exact; values and gradients against the float64 reference."""
    image, text, kw = _meru_case(case)
    values, grads = _meru("triton:split", torch.float32, image.float(), text.float(), **kw)
    want_values, want_grads = _meru("reference", torch.float64, image.float(), text.float(), **kw)
    for got, want in zip(values, want_values):
        close(got, want, 2e-6, floor=1.0)
    # the float32 contract, 2e-6 (not GRAD_RTOL): the tiles' d come from the kernel's float32
    # epilogue (within 5e-7 of d, its bound's tol), which the softmax weights of the logits
    # -s d carry; measured worst 1.3e-6 (case "far", d ~ 40, s = 10), 4.8e-7 elsewhere
    for got, want in zip(grads, want_grads):
        close(got, want, 2e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_meru_loss_half_scheme(dtype):
    image, text, _ = _meru_case("default")
    values, grads = _meru("triton:half", dtype, image, text)
    want_values, want_grads = _meru("reference", torch.float64, image.to(dtype), text.to(dtype))
    assert values[0].dtype == torch.float32 and grads[0].dtype == dtype
    close(values[0], want_values[0], 1e-6)
    for got, want in zip(grads[:2], want_grads[:2]):
        close(got, want, 2 * torch.finfo(dtype).eps)


def test_forced_schemes_are_validated():
    x = lorentz.from_space(randn(4, 3).float())
    with pytest.raises(ValueError, match="implementation"):
        meru_loss(x[:, 1:], x[:, 1:], curv=1.0, logit_scale=1.0, implementation="triton:tf32")
    with pytest.raises(ValueError, match="implementation: the half scheme takes float16"):
        meru_loss(x[:, 1:], x[:, 1:], curv=1.0, logit_scale=1.0, implementation="triton:half")
    with pytest.raises(ValueError, match="implementation"):
        meru_loss(x[:, 1:], x[:, 1:], curv=1.0, logit_scale=1.0, implementation="numba:split")
