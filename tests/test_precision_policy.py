"""The precision policy of the all-pairs GPU kernels (lorentz._triton.precision): the rule that
picks a scheme per device and dtype, the switch that forces one, and each scheme's arithmetic
against the float64 reference and mpmath: the Triton kernels through the interpreter on CPU
(small shapes), and the plain torch emulation of the same arithmetic on larger sweeps (near
pairs, far points, 512 and 1024 dimensions). The large sweeps are benchmarks/precision_sweep.py."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":  # before triton is imported: it reads the variable once
    os.environ["TRITON_INTERPRET"] = "1"

import lorentz
from lorentz._triton import (
    ops,
    precision,
)
from lorentz.testing._accuracy import BOUND, OPS, measure
from lorentz.testing._kernel_cases import agree, inputs

F16, BF16, F32 = torch.float16, torch.bfloat16, torch.float32


# ------------------------------------------------------------------ the rule


@pytest.mark.parametrize(
    "capability, dtype, scheme",
    [
        ((8, 0), F32, "float64"),
        ((9, 0), F32, "float64"),
        ((10, 0), F32, "float64"),
        ((7, 5), F32, "split"),
        ((8, 6), F32, "split"),
        ((8, 9), F32, "split"),
        ((10, 3), F32, "split"),
        ((12, 0), F32, "split"),
        ((12, 1), F32, "split"),
        (None, F32, "float64"),
        ((9, 0), F16, "half"),
        ((9, 0), BF16, "half"),
        ((8, 6), BF16, "half"),
        ((7, 5), F16, "half"),
        ((7, 5), BF16, "split"),
        (None, BF16, "half"),
    ],
)
def test_rule(monkeypatch, capability, dtype, scheme):
    monkeypatch.delenv(precision.ENV, raising=False)
    assert precision.choose(dtype, capability) == scheme


def test_switch_forces_a_scheme(monkeypatch):
    monkeypatch.setenv(precision.ENV, "split")
    assert precision.choose(F32, (9, 0)) == "split"
    assert precision.choose(BF16, (9, 0)) == "split"
    monkeypatch.setenv(precision.ENV, "float64")
    assert precision.choose(F32, (8, 9)) == "float64"
    assert precision.choose(F16, (8, 9)) == "float64"
    monkeypatch.setenv(precision.ENV, "half")
    assert precision.choose(F16, (8, 0)) == "half"
    with pytest.raises(ValueError, match="half takes float16 or bfloat16"):
        precision.choose(F32, (8, 0))
    monkeypatch.setenv(precision.ENV, "tf32")
    with pytest.raises(ValueError, match="must be one of float64, half, split"):
        precision.choose(F32, (8, 0))


def test_forced_scheme_beats_the_switch(monkeypatch):
    monkeypatch.setenv(precision.ENV, "float64")
    assert precision.choose(F32, (9, 0), forced="split") == "split"
    assert precision.choose(BF16, (8, 6), forced="float64") == "float64"
    monkeypatch.setenv(precision.ENV, "tf32")  # a forced scheme does not read the variable
    assert precision.choose(F16, (8, 6), forced="half") == "half"
    with pytest.raises(ValueError, match="implementation: the half scheme takes float16"):
        precision.choose(F32, (8, 6), forced="half")
    with pytest.raises(ValueError, match="implementation must name one of the schemes"):
        precision.choose(F32, (8, 6), forced="tf32")


def test_implementation_strings_name_a_scheme():
    from lorentz._registry import split_scheme

    assert split_scheme("triton:split") == ("triton", "split")
    assert split_scheme("triton:float64") == ("triton", "float64")
    assert split_scheme("triton") == ("triton", None)
    assert split_scheme(None) == (None, None)
    for bad in ("triton:tf32", "triton:", "numba:split", "reference:half", "triton:split:x"):
        with pytest.raises(ValueError, match="implementation"):
            split_scheme(bad)


def test_split_is_exact():
    """Pieces are integers in [-128, 128] (exact in float16) and pieces plus residual give the
    row back exactly, the residual below 2^-32 of the row scale."""
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(50, 77, generator=gen) * torch.logspace(-20, 20, 50)[:, None]
    a[3] = 0.0
    a[4, ::2] = 0.0
    a = a.float()
    pieces, sigma, resid = precision.split_rows(a)
    assert torch.all(pieces.abs() <= 128) and torch.equal(pieces, pieces.round())
    assert torch.equal(pieces.to(torch.float16).double(), pieces)
    weights = torch.tensor([2.0 ** (-7 - 8 * i) for i in range(4)], dtype=torch.float64)
    back = (pieces * weights[:, None, None]).sum(0) * sigma[:, None] + resid
    assert torch.equal(back, a.double())
    assert torch.all(resid.abs() <= 2.0**-32 * sigma[:, None])
    assert torch.all(a.double().abs().amax(1) < sigma)


# ------------------------------------------------------------------ kernels, interpreted


def tensor(a, dtype=F32):
    return torch.as_tensor(np.asarray(a)).to(device=DEVICE, dtype=dtype)


@pytest.mark.parametrize(
    "kind", ["random", "near-duplicate", "far", "n=1", "one row", "non-contiguous"]
)
def test_split_kernel(monkeypatch, kind):
    monkeypatch.setenv(precision.ENV, "split")
    x, y = (tensor(a) for a in inputs(kind, np.float32, 0.7))
    got = lorentz.pairwise_dist(x, y, c=0.7, implementation="triton")
    want = lorentz.pairwise_dist(x.double(), y.double(), c=0.7, implementation="reference")
    assert got.dtype == F32
    agree(got.cpu().numpy(), want.cpu().numpy(), np.float32)


@pytest.mark.parametrize("kind", ["near-duplicate", "far"])
def test_split_kernel_meets_the_bound_against_mpmath(monkeypatch, kind):
    monkeypatch.setenv(precision.ENV, "split")
    c = 0.7
    x, y = inputs(kind, np.float32, c)
    got = lorentz.pairwise_dist(tensor(x), tensor(y), c=c, implementation="triton").cpu().numpy()
    for i in range(x.shape[0]):
        for j in (i, i + x.shape[0]):
            err, bound = measure(OPS["dist"], got[i, j], (x[i], y[j]), c, "float32")
            assert err <= bound, (i, j, err, bound)


def test_split_kernel_matches_its_emulation(monkeypatch):
    """Pairs the bound lets through come out of the kernel as out of the emulation (both
    float32 epilogues; they differ in log1p's last bits only)."""
    monkeypatch.setenv(precision.ENV, "split")
    gen = torch.Generator().manual_seed(8)
    xs = (0.3 * torch.randn(40, 96, generator=gen)).float()
    ys = torch.cat(
        [
            xs[:8] + 1e-4 * torch.randn(8, 96, generator=gen).float(),
            (0.3 * torch.randn(30, 96, generator=gen)).float(),
        ]
    )
    x = lorentz.expmap0(torch.cat([torch.zeros(40, 1), xs], 1).double()).float()
    y = lorentz.expmap0(torch.cat([torch.zeros(38, 1), ys], 1).double()).float()
    got = lorentz.pairwise_dist(x.to(DEVICE), y.to(DEVICE), implementation="triton").cpu()
    d, redo, _, _ = precision.emulate(x[:, 1:], y[:, 1:], 1.0, "split")
    assert redo.sum() >= 8  # the near pairs
    assert torch.allclose(got.double()[~redo], d[~redo], rtol=4e-7, atol=0)


@pytest.mark.parametrize("dtype", [F16, BF16])
@pytest.mark.parametrize("kind", ["random", "near-duplicate", "far"])
def test_half_kernel(monkeypatch, dtype, kind):
    """float16/bfloat16 take the half scheme by the rule: the exact value for the rounded
    inputs, rounded once to the input dtype (0.5 eps) plus the scheme's 1/8 eps."""
    monkeypatch.delenv(precision.ENV, raising=False)
    assert precision.choose(dtype, None) == "half"
    x, y = (tensor(a, dtype) for a in inputs(kind, np.float32, 1.0))
    got = lorentz.pairwise_dist(x, y, implementation="triton")
    assert got.dtype == dtype
    want = lorentz.pairwise_dist(x.double(), y.double(), implementation="reference")
    rel = (got.double() - want).abs() / want.abs().clamp_min(1e-300)
    assert rel.max() <= 0.63 * torch.finfo(dtype).eps, rel.max()


@pytest.mark.parametrize("scheme", ["split", "float64"])
def test_knn_by_scheme(monkeypatch, scheme):
    monkeypatch.setenv(precision.ENV, scheme)
    x, y = (tensor(a) for a in inputs("random", np.float32, 1.0))
    d, i = lorentz.knn(x, y, 3, implementation="triton")
    d_ref, i_ref = lorentz.knn(x.double(), y.double(), 3, implementation="reference")
    assert torch.equal(i, i_ref)
    agree(d.cpu().numpy(), d_ref.cpu().numpy(), np.float32)


def test_half_knn(monkeypatch):
    monkeypatch.delenv(precision.ENV, raising=False)
    x, y = (tensor(a, BF16) for a in inputs("random", np.float32, 1.0))
    d, _i = lorentz.knn(x, y, 3, implementation="triton")
    d_ref, _ = lorentz.knn(x.double(), y.double(), 3, implementation="reference")
    assert torch.all((d.double() - d_ref).abs() <= 0.63 * torch.finfo(BF16).eps * d_ref)


@pytest.mark.slow
@pytest.mark.parametrize("scheme, dtype", [("split", F32), ("half", BF16)])
def test_opcheck_and_compile_by_scheme(monkeypatch, scheme, dtype):
    """The mixed schemes inside the same torch operators: opcheck (fake tensors, autograd
    registration) and torch.compile(fullgraph=True) of a distance and its gradient."""
    monkeypatch.setenv(precision.ENV, scheme)
    x, y = (tensor(a, dtype) for a in inputs("random", np.float32, 1.0))
    c = torch.tensor(0.9, dtype=torch.float64, device=DEVICE)
    torch.library.opcheck(torch.ops.lorentz.pairwise_dist.default, (x[:, 1:], y[:, 1:], c))
    torch.library.opcheck(torch.ops.lorentz.knn.default, (x[:, 1:], y[:, 1:], c, 3))
    d = torch.ops.lorentz.pairwise_dist(x[:, 1:], y[:, 1:], c, scheme)
    torch.library.opcheck(
        torch.ops.lorentz.pairwise_dist_mixed_backward.default,
        (x[:, 1:], y[:, 1:], c, d, torch.ones_like(d), scheme),
    )
    backend = "inductor" if DEVICE == "cuda" else "aot_eager"

    def f(a, b):
        return torch.ops.lorentz.pairwise_dist(a, b, c).double().sum()

    a = x[:, 1:].detach().clone().requires_grad_()
    got = torch.compile(f, fullgraph=True, backend=backend)(a, y[:, 1:])
    got.backward()
    assert torch.isfinite(a.grad.float()).all()
    want = lorentz.pairwise_dist(x.double(), y.double(), c=0.9, implementation="reference").sum()
    tol = BOUND["float32"] if dtype == F32 else 0.63 * torch.finfo(dtype).eps
    assert abs(got.detach() - want) <= tol * want


def test_a_forced_scheme_reaches_the_kernels(monkeypatch):
    """ops.pairwise_dist(..., scheme) (implementation="triton:<scheme>") beats the variable:
    with LORENTZ_TRITON_PRECISION=float64 the forced split scheme's output is the split
    emulation's on the pairs its bound lets through, not the float64 kernel's."""
    monkeypatch.setenv(precision.ENV, "float64")
    gen = torch.Generator().manual_seed(9)
    xs = (0.3 * torch.randn(20, 64, generator=gen)).float()
    ys = (0.3 * torch.randn(18, 64, generator=gen)).float()
    x, y = lorentz.from_space(xs.double()).float(), lorentz.from_space(ys.double()).float()
    got = ops.pairwise_dist(x.to(DEVICE), y.to(DEVICE), 1.0, "split").cpu().double()
    d, redo, _, _ = precision.emulate(x[:, 1:], y[:, 1:], 1.0, "split")
    exact = lorentz.pairwise_dist(x.double(), y.double(), implementation="reference")
    # the emulation's float32 arithmetic (log1p's last bits aside), not the float64 kernel's
    # d rounded once: that one is exact.float() on every pair here
    assert torch.allclose(got[~redo], d[~redo], rtol=4e-7, atol=0)
    forced64 = ops.pairwise_dist(x.to(DEVICE), y.to(DEVICE), 1.0, "float64").cpu().double()
    assert torch.equal(forced64, exact.float().double())
    assert (got != forced64).sum() > 20
    assert torch.all((got - exact).abs() <= BOUND["float32"] * exact)


# ------------------------------------------------------------------ the reference on a GPU


def play_gpu(monkeypatch, capability):
    """CPU tensors as if on a CUDA device of ``capability``, counting the scheme's GEMMs."""
    calls = []
    monkeypatch.setattr(precision, "capability", lambda a: capability)
    real = precision.scheme_u

    def counted(xs, ys, c, scheme, kc=None):
        calls.append(scheme)
        return real(xs, ys, c, scheme, kc)

    monkeypatch.setattr(precision, "scheme_u", counted)
    return calls


@pytest.mark.parametrize(
    "capability, dtype, scheme",
    [
        ((8, 9), F32, "split"),
        ((12, 0), F32, "split"),
        ((8, 6), BF16, "half"),
        ((9, 0), F16, "half"),
        ((9, 0), F32, "float64"),
    ],
)
def test_reference_on_a_gpu_follows_the_rule(monkeypatch, capability, dtype, scheme):
    """pairwise_dist(implementation="reference") of 512-dimensional rows: MERU-like, near
    copies (1e-7 .. 1e-2 relative) and far points (norms to 1e3, float32), on a simulated
    device: the rule's scheme runs, every pair within the contract of the float64 distance of
    the rounded inputs (float32: 2e-6; half inputs: their one rounding, 0.5 eps, plus the
    scheme's 1/8 eps)."""
    monkeypatch.delenv(precision.ENV, raising=False)
    gen = torch.Generator().manual_seed(11)
    xs, ys = sweep_points(96, 512, dtype, gen, far=True)
    xs2, ys2 = sweep_points(64, 512, dtype, gen, far=False)
    xs, ys = torch.cat([xs, xs2]), torch.cat([ys, ys2])
    ys[0] = xs[0]  # a pair at distance 0
    want = lorentz.pairwise_dist(
        lorentz.from_space(xs.double()), lorentz.from_space(ys.double()), implementation="reference"
    )
    calls = play_gpu(monkeypatch, capability)
    x, y = lorentz.from_space(xs.double()).to(dtype), lorentz.from_space(ys.double()).to(dtype)
    x[:, 1:], y[:, 1:] = xs, ys  # the rounded space parts themselves
    got = lorentz.pairwise_dist(x, y, implementation="reference")
    assert calls == ([scheme] if scheme != "float64" else [])
    assert got.dtype == dtype and got[0, 0] == 0
    rel = (got.double() - want).abs() / want.clamp_min(1e-300)
    tol = BOUND["float32"] if dtype == F32 else 0.63 * torch.finfo(dtype).eps
    assert rel.max() <= tol, rel.max()


@pytest.mark.parametrize(
    "capability, dtype, scheme", [((8, 9), F32, "split"), ((9, 0), BF16, "half")]
)
def test_reference_knn_on_a_gpu_follows_the_rule(monkeypatch, capability, dtype, scheme):
    """knn(implementation="reference") on a simulated device ranks by the rule's scheme (it
    ranked by float64 GEMMs on every device): float32 the same neighbours as float64 here,
    half inputs their distances within the half contract of the float64 ones (the ranking's
    tolerance is the scheme's, 1/8 eps, as the Triton kernels')."""
    monkeypatch.delenv(precision.ENV, raising=False)
    gen = torch.Generator().manual_seed(15)
    xs = 0.3 * torch.randn(40, 64, generator=gen, dtype=torch.float64)
    step = 1e-4 * torch.randn(10, 64, generator=gen, dtype=torch.float64)
    ys = torch.cat(
        [xs[:10] * (1 + step), 0.3 * torch.randn(200, 64, generator=gen, dtype=torch.float64)]
    )
    xs, ys = xs.to(dtype), ys.to(dtype)
    x, y = lorentz.from_space(xs.double()), lorentz.from_space(ys.double())
    d_ref, i_ref = lorentz.knn(x, y, 5, implementation="reference")
    calls = play_gpu(monkeypatch, capability)
    x, y = x.to(dtype), y.to(dtype)
    x[:, 1:], y[:, 1:] = xs, ys
    d, i = lorentz.knn(x, y, 5, implementation="reference")
    assert calls == [scheme]
    if dtype == F32:
        assert torch.equal(i, i_ref)
        assert torch.all((d.double() - d_ref).abs() <= BOUND["float32"] * d_ref)
    else:
        assert torch.all((d.double() - d_ref).abs() <= 0.63 * torch.finfo(dtype).eps * d_ref)


def test_reference_loss_on_a_gpu_follows_the_rule(monkeypatch):
    """meru_loss(implementation="reference") on a simulated sm_89: the all-pairs log-sum-exps
    take the split scheme's tiles and their backward pass its products; the loss within 2e-6
    of the float64 one. The gradients within twice the error of the float64 GEMMs' on the
    same float32 inputs (relative to the largest component): float32 logits -s d carry
    s d eps32 (about 1e-6 here), which no GEMM precision removes; measured 1.8e-6 against
    1.1e-6."""
    from lorentz.meru import meru_loss

    monkeypatch.delenv(precision.ENV, raising=False)
    gen = torch.Generator().manual_seed(12)
    image = (0.3 * torch.randn(48, 64, generator=gen)).float()
    text = (image + 0.3 * torch.randn(48, 64, generator=gen)).float()

    def loss_and_grads(a, b):
        a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
        loss = meru_loss(a, b, curv=1.0, logit_scale=10.0, implementation="reference")["loss"]
        loss.backward()
        return loss.detach().double(), [a.grad.double(), b.grad.double()]

    def error(grads, want):
        return max(float((g - w).abs().max() / w.abs().max()) for g, w in zip(grads, want))

    want, want_grads = loss_and_grads(image.double(), text.double())
    _, float64_gemms = loss_and_grads(image, text)
    calls = play_gpu(monkeypatch, (8, 9))
    dots = count_dots(monkeypatch)
    got, grads = loss_and_grads(image, text)
    assert calls and set(calls) == {"split"}
    assert dots and set(dots) == {"split"}
    assert abs(got - want) <= 2e-6 * want
    assert all(torch.isfinite(g).all() for g in grads)
    assert error(grads, want_grads) <= 2.0 * error(float64_gemms, want_grads)


# ------------------------------------------------------------------ backward passes by scheme


def count_dots(monkeypatch):
    """The schemes of the gradient products taken (precision.dot)."""
    calls = []
    real = precision.dot
    monkeypatch.setattr(
        precision, "dot", lambda a, b, scheme: (calls.append(scheme), real(a, b, scheme))[1]
    )
    return calls


def backward_case(dtype):
    """Rows and weights for sum(G * pairwise_dist(x, y)): MERU-like rows with near copies, far
    rows (float32: norms to 30), one pair at distance 0; the points as ``dtype`` (their space
    parts the rounded ones) and in float64 from those same space parts."""
    gen = torch.Generator().manual_seed(13)
    far = 30.0 if dtype == F32 else 1.0
    xs = torch.cat(
        [
            0.3 * torch.randn(24, 64, generator=gen, dtype=torch.float64),
            far * torch.randn(8, 64, generator=gen, dtype=torch.float64),
        ]
    )
    step = 1e-5 * torch.randn(6, 64, generator=gen, dtype=torch.float64)
    ys = torch.cat(
        [
            xs[:6] * (1 + step),
            0.5 * torch.randn(20, 64, generator=gen, dtype=torch.float64),
            xs[6:7],
        ]
    )
    xs, ys = xs.to(dtype), ys.to(dtype)
    x64, y64 = lorentz.from_space(xs.double()), lorentz.from_space(ys.double())
    x, y = x64.to(dtype), y64.to(dtype)
    x[:, 1:], y[:, 1:] = xs, ys
    return x, y, x64, y64, torch.randn(32, 27, generator=gen, dtype=torch.float64)


def pairwise_grads(x, y, weights, **kw):
    x, y = x.clone().requires_grad_(), y.clone().requires_grad_()
    (lorentz.pairwise_dist(x, y, **kw).double() * weights).sum().backward()
    return x.grad.double(), y.grad.double()


def assert_grads_close(got, want, tol):
    """Each gradient finite and within ``tol`` of the largest component of ``want``'s."""
    for g, w in zip(got, want, strict=True):
        assert torch.isfinite(g).all()
        err = (g - w).abs().max() / w.abs().max()
        assert err <= tol, err


@pytest.mark.parametrize("scheme, dtype", [("split", F32), ("half", F16), ("half", BF16)])
def test_triton_backward_follows_the_scheme(monkeypatch, scheme, dtype):
    """pairwise_dist(implementation="triton:<scheme>")'s backward pass forms its products by
    the scheme's arithmetic (it was float64 GEMMs under every scheme), near pairs and the
    pair at distance 0 exactly. float32: within the contract (2e-6) of the largest component
    of the exact gradient (2.0e-7 here). Half inputs: within 1/8 eps (the scheme's share) of
    the float64 kernel's gradient (0.012 eps here) and within 1 eps of the exact one, where
    the float64 kernel is itself 0.73 eps (float16) off: d is returned in the inputs' dtype,
    so the incoming gradient is rounded there (0.5 eps), and so is the result."""
    x, y, x64, y64, weights = backward_case(dtype)
    want = pairwise_grads(x64, y64, weights, implementation="reference")
    x, y, weights = x.to(DEVICE), y.to(DEVICE), weights.to(DEVICE)
    calls = count_dots(monkeypatch)
    got = [g.cpu() for g in pairwise_grads(x, y, weights, implementation=f"triton:{scheme}")]
    assert calls == [scheme, scheme]
    if dtype == F32:
        assert_grads_close(got, want, BOUND["float32"])
    else:
        eps = torch.finfo(dtype).eps
        kernel64 = pairwise_grads(x, y, weights, implementation="triton:float64")
        assert_grads_close(got, [g.cpu() for g in kernel64], 0.125 * eps)
        assert_grads_close(got, want, eps)


@pytest.mark.parametrize(
    "capability, dtype, scheme",
    [
        ((8, 9), F32, "split"),
        ((9, 0), BF16, "half"),
        ((8, 6), F16, "half"),
        ((9, 0), F32, "float64"),
    ],
)
def test_reference_backward_on_a_gpu_follows_the_rule(monkeypatch, capability, dtype, scheme):
    """pairwise_dist(implementation="reference")'s backward pass on a simulated device: the
    rule's scheme forms the gradient products (float64 GEMMs where it picks float64), and moves
    the gradient by at most its share of the contract from the float64 GEMMs' on the same
    inputs (float32: 2e-6; half inputs: 1/8 eps, their reference gradient being itself within
    1.05 eps of the exact one, from d returned in their dtype)."""
    monkeypatch.delenv(precision.ENV, raising=False)
    x, y, _, _, weights = backward_case(dtype)
    want = pairwise_grads(x, y, weights, implementation="reference")
    play_gpu(monkeypatch, capability)
    calls = count_dots(monkeypatch)
    got = pairwise_grads(x, y, weights, implementation="reference")
    assert calls == ([scheme, scheme] if scheme != "float64" else [])
    assert_grads_close(
        got, want, BOUND["float32"] if dtype == F32 else 0.125 * torch.finfo(dtype).eps
    )


@pytest.mark.parametrize("implementation", ["triton:split", "reference"])
def test_backward_by_scheme_keeps_nan(monkeypatch, implementation):
    """A NaN coordinate reaches the gradients of its row and of every row it is paired with:
    the split pieces read NaN as 0, so the products are set NaN for non-finite rows."""
    x, y, _, _, weights = backward_case(F32)
    x[3, 5] = torch.nan
    play_gpu(monkeypatch, (8, 9))
    gx, gy = pairwise_grads(
        x.to(DEVICE), y.to(DEVICE), weights.to(DEVICE), implementation=implementation
    )
    assert torch.isnan(gx[3]).any() and torch.isfinite(gx[torch.arange(32) != 3]).all()
    assert torch.isnan(gy).any(1).all()


# ------------------------------------------------------------------ emulation, larger sweeps


def sweep_points(n, k, dtype, gen, far=False):
    """MERU-like rows (N(0, 0.3^2) per coordinate), or far out (norms to 1e3 for float32), with
    near copies (moved by 1e-6 .. 1e-2 relative) of half of them."""
    base = 0.3 * torch.randn(n, k, generator=gen, dtype=torch.float64)
    if far:
        base *= torch.logspace(0, 3 if dtype == F32 else 1.5, n, dtype=torch.float64)[:, None] / 7
    step = torch.logspace(-7, -2, n // 2, dtype=torch.float64)[:, None]
    near = base[: n // 2] * (1 + step * torch.randn(n // 2, k, generator=gen, dtype=torch.float64))
    return base.to(dtype), torch.cat([near, base[n // 2 :]]).to(dtype)


def reference(xs, ys, c):
    """float64 cancellation-free distance of the rounded inputs (the numba kernels: 1e-12)."""
    x, y = xs.double().numpy(), ys.double().numpy()
    x = np.concatenate([np.sqrt(1 / c + (x * x).sum(1, keepdims=True)), x], 1)
    y = np.concatenate([np.sqrt(1 / c + (y * y).sum(1, keepdims=True)), y], 1)
    return torch.as_tensor(lorentz.pairwise_dist(x, y, c=c, implementation="numba"))


def check_emulation(scheme, dtype, n, k, c, far, seed):
    gen = torch.Generator().manual_seed(seed)
    xs, ys = sweep_points(n, k, dtype, gen, far)
    r = precision.sweep_case(xs, ys, c, scheme, reference(xs, ys, c))
    assert r["violations"] == 0  # no pair's GEMM error above its bound E
    tol = BOUND["float32"] if scheme == "split" else 0.125 * torch.finfo(dtype).eps
    assert r["worst"] <= tol, r["worst"]
    return r["flagged"], r["worst"]


@pytest.mark.parametrize("k", [512, 1024])
@pytest.mark.parametrize("far", [False, True])
def test_split_emulation(k, far):
    flagged, _worst = check_emulation("split", F32, 256, k, 1.0, far, seed=k + far)
    assert flagged < 0.02  # the near copies' own pairs, not the bulk


@pytest.mark.parametrize("dtype", [F16, BF16])
@pytest.mark.parametrize("far", [False, True])
def test_half_emulation(dtype, far):
    flagged, _worst = check_emulation("half", dtype, 256, 512, 0.5, far, seed=7 + far)
    assert flagged < 0.05


# ------------------------------------------------------------------ cubins


@pytest.mark.slow
def test_mixed_kernels_compile_for_every_gpu_of_the_rule():
    """The interpreter runs any Python: compile the split and half variants to cubins for
    every architecture the rule names (sm_75 .. sm_120, the newest the installed Triton
    targets; bfloat16 from sm_80), which needs no GPU. About 4 minutes on 2 cores."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    here = os.path.dirname(__file__)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")]))
    out = subprocess.run(
        [sys.executable, os.path.join(here, "triton_arches.py"), "--mixed-only"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # split, half float16 and half bfloat16 on each; sm_75 has no bfloat16 MMA (the rule
    # sends bfloat16 there to split)
    assert out.stdout.count(": ok,") == 3 * 7 - 1, out.stdout


def test_implementation_forces_a_scheme(monkeypatch):
    """pairwise_dist and knn take implementation="triton:<scheme>" over the variable; a bad
    scheme name or "half" for float32 inputs raise naming ``implementation``."""
    monkeypatch.setenv(precision.ENV, "float64")
    x, y = (tensor(a) for a in inputs("near-duplicate", np.float32, 1.0))
    got = lorentz.pairwise_dist(x, y, implementation="triton:split")
    assert torch.equal(got, ops.pairwise_dist(x, y, 1.0, "split"))
    assert not torch.equal(got, lorentz.pairwise_dist(x, y, implementation="triton"))
    want = lorentz.pairwise_dist(x.double(), y.double(), implementation="reference")
    agree(got.cpu().numpy(), want.cpu().numpy(), np.float32)
    d, i = lorentz.knn(x, y, 2, implementation="triton:split")
    d_ref, i_ref = lorentz.knn(x.double(), y.double(), 2, implementation="reference")
    assert torch.equal(i, i_ref)
    agree(d.cpu().numpy(), d_ref.cpu().numpy(), np.float32)
    with pytest.raises(ValueError, match="implementation"):
        lorentz.pairwise_dist(x, y, implementation="triton:tf32")
    with pytest.raises(ValueError, match="implementation: the half scheme"):
        lorentz.knn(x, y, 2, implementation="triton:half")
