"""The MERU adapter: drop-in parity, finite gradients where MERU's are NaN, the curvature
gradient, the head and its text-encoder contract, checkpoints in MERU's own layout (recorded in
meru_layout.py from MERU's source) validated field by field, an end-to-end run against MERU's
formulas, HyCoCLIP's loss, and evaluation helpers."""

from __future__ import annotations

import copy
import io
import math
import os
import pickle
from collections import OrderedDict

import mpmath
import numpy as np
import pytest

torch = pytest.importorskip("torch")  # installed by the test extra; CI never skips

from lorentz import meru as L
from lorentz.meru import (
    EncoderOutputError,
    MERUCheckpointError,
    MERUHead,
    load_meru_checkpoint,
)
from lorentz.testing import _meru_layout as meru_layout
from lorentz.testing._meru_models import TinyImage, TinyText
from lorentz.testing._peers import (
    meru_exp_map0,
    meru_half_aperture,
    meru_log_map0,
    meru_oxy_angle,
    meru_pairwise_dist,
    meru_pairwise_inner,
)

gen = torch.Generator().manual_seed(0)


def _space(n=16, dim=8, scale=0.7):
    return scale * torch.randn(n, dim, generator=gen, dtype=torch.float64)


@pytest.mark.parametrize("curv", [1.0, 0.4, 3.0])
def test_drop_ins_agree_with_meru_where_meru_is_accurate(curv):
    # float64, well separated points, norms well above 1e-3: MERU's formulas are accurate
    # there to ~1e-13; 1e-10 relative is the parity bound
    x, y = _space(), _space()
    t = dict(rtol=1e-10, atol=0)
    torch.testing.assert_close(L.pairwise_dist(x, y, curv), meru_pairwise_dist(x, y, curv), **t)
    torch.testing.assert_close(L.pairwise_inner(x, y, curv), meru_pairwise_inner(x, y, curv), **t)
    torch.testing.assert_close(L.exp_map0(x, curv), meru_exp_map0(x, curv), **t)
    torch.testing.assert_close(L.log_map0(x, curv), meru_log_map0(x, curv), **t)
    # MERU adds eps = 1e-8 to the denominators of these two, which alone moves the result by
    # ~1e-9 relative (measured 1.5e-9 on oxy_angle): the formulas are compared with eps = 0
    torch.testing.assert_close(L.oxy_angle(x, y, curv), meru_oxy_angle(x, y, curv, eps=0.0), **t)
    far = 5 * x  # half-aperture below pi/2, where MERU's clamp 1 - eps is not active
    torch.testing.assert_close(
        L.half_aperture(far, curv), meru_half_aperture(far, curv, eps=0.0), **t
    )


def test_drop_ins_run_on_numpy_too():
    x = np.random.default_rng(0).normal(size=(3, 4))
    assert L.pairwise_dist(x, x).shape == (3, 3)
    assert isinstance(L.exp_map0(x), np.ndarray)


def _grad(f, *args):
    args = [a.clone().requires_grad_(True) for a in args]
    f(*args).sum().backward()
    return [a.grad for a in args]


def test_finite_gradients_where_meru_gives_nan():
    # x == y in pairwise_dist (the diagonal of every contrastive batch when an image equals its
    # caption); the origin and (0.75, 0, 0) make -curv<x,x>_L exactly 1 in float32
    x = torch.tensor([[0.0, 0.0, 0.0], [0.75, 0.0, 0.0]])
    assert not all(torch.isfinite(g).all() for g in _grad(lambda a: meru_pairwise_dist(a, a), x))
    assert all(torch.isfinite(g).all() for g in _grad(lambda a: L.pairwise_dist(a, a), x))
    # points on one ray from the origin, and the origin itself, in oxy_angle
    x = _space(4, 5, scale=0.5).float()
    assert all(torch.isfinite(g).all() for g in _grad(lambda a, b: L.oxy_angle(a, b), x, 2 * x))
    assert all(torch.isfinite(g).all() for g in _grad(lambda a, b: L.oxy_angle(a, b), 0 * x, x))


def test_eps_changes_nothing():
    x, y = _space(), _space()
    torch.testing.assert_close(
        L.pairwise_dist(x, y, 1.0, eps=1e-2), L.pairwise_dist(x, y, 1.0), rtol=0, atol=0
    )


def test_documented_differences_from_meru():
    """What docs/meru.md says the drop-ins do differently, each against MERU's formula."""
    x = _space(4, 5)
    # oxy_angle(x, x): 0 here (y lies on the ray through x, outside nothing); MERU's clamped
    # denominator sqrt(max(cxy^2 - 1, eps)) turns 0/0 into acos(~0) = pi/2
    assert float(L.oxy_angle(x, x).abs().max()) == 0.0
    torch.testing.assert_close(
        meru_oxy_angle(x, x), torch.full((4,), math.pi / 2, dtype=torch.float64), rtol=0, atol=1e-3
    )
    # MERU floors distances at acosh(1 + 1e-8) / sqrt(curv) = 1.4142e-4 / sqrt(curv) in float64
    for curv in (1.0, 4.0, 0.25):
        floor = float(mpmath.acosh(1 + mpmath.mpf("1e-8"))) / curv**0.5
        assert float(meru_pairwise_dist(x, x, curv).diagonal().min()) == pytest.approx(
            floor, rel=1e-6
        )
        assert floor == pytest.approx(1.4142e-4 / curv**0.5, rel=1e-4)
        assert float(L.pairwise_dist(x, x, curv).diagonal().max()) == 0.0
    # exp_map0 above sqrt(curv)|v| = asinh(2**15) = 11.09: MERU saturates at |result| = 2**15,
    # this one follows sinh (mpmath: sinh(12) = 81377.4)
    assert math.asinh(2**15) == pytest.approx(11.0904, abs=1e-4)
    v = torch.tensor([[12.0, 0.0]], dtype=torch.float64)
    assert float(meru_exp_map0(v)[0, 0]) == pytest.approx(2**15, rel=1e-12)
    assert float(L.exp_map0(v)[0, 0]) == pytest.approx(float(mpmath.sinh(12)), rel=1e-14)


# -- the curvature gradient of pairwise_inner ----------------------------------------------------
def _inner_mp(a, b, c):
    """<x,y>_L from space parts, the time parts following c (MERU's pairwise_inner), in mpmath."""
    xt = mpmath.sqrt(1 / c + mpmath.fsum(v * v for v in a))
    yt = mpmath.sqrt(1 / c + mpmath.fsum(v * v for v in b))
    return mpmath.fsum(u * v for u, v in zip(a, b)) - xt * yt


def _curv_grads(f, x, y, curv):
    """d f(x, y, curv)[i, j] / d curv for every pair, one backward each."""
    c = torch.tensor(curv, dtype=x.dtype, requires_grad=True)
    out = f(x, y, c)
    rows = []
    for i in range(out.shape[0]):
        rows.append(
            [
                float(torch.autograd.grad(out[i, j], c, retain_graph=True)[0])
                for j in range(out.shape[1])
            ]
        )
    return float(c.detach()), np.array(rows)


@pytest.mark.parametrize("radius", [1.0, 8.0, 30.0, 100.0])
def test_pairwise_inner_curv_gradient_near_pairs_float32(radius):
    """Near pairs (1e-3 apart) at |x| = radius, float32: every d<x_i, y_j>_L / dcurv against
    mpmath's numerical derivative of MERU's formula (space parts fixed). Measured before the
    closed form: 1.5e-5 at radius 8, 3.4e-4 at 30, 6.8e-3 at 100; now ~1e-7, MERU's own."""
    mpmath.mp.dps = 40
    g = torch.Generator().manual_seed(int(radius))
    x = radius * torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=-1)
    y = x + 1e-3 * torch.randn(3, 8, generator=g)
    c, got = _curv_grads(L.pairwise_inner, x, y, 0.7)
    cm = mpmath.mpf(c)
    for i, a in enumerate(x.double().tolist()):
        for j, b in enumerate(y.double().tolist()):
            a_mp, b_mp = [mpmath.mpf(v) for v in a], [mpmath.mpf(v) for v in b]
            want = float(mpmath.diff(lambda t, a=a_mp, b=b_mp: _inner_mp(a, b, t), cm))
            assert abs(got[i, j] - want) <= 4e-7 * abs(want), (i, j, got[i, j], want)
    # the value itself is what the exact distance gives, with or without a gradient
    c32 = torch.tensor(0.7)
    torch.testing.assert_close(
        L.pairwise_inner(x, y, c32.requires_grad_(True)).detach(),
        L.pairwise_inner(x, y, torch.tensor(0.7)),
        rtol=0,
        atol=0,
    )


def test_pairwise_inner_curv_gradient_under_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    mpmath.mp.dps = 40
    g = torch.Generator().manual_seed(5)
    x = 30 * torch.nn.functional.normalize(torch.randn(2, 6, generator=g), dim=-1)
    y = x + 1e-3 * torch.randn(2, 6, generator=g)
    xj, yj = jnp.asarray(x.numpy()), jnp.asarray(y.numpy())
    c = np.float32(0.7)
    got = jax.grad(lambda k: L.pairwise_inner(xj, yj, k)[0, 1])(jnp.asarray(c))
    a_mp = [mpmath.mpf(v) for v in x[0].double().tolist()]
    b_mp = [mpmath.mpf(v) for v in y[1].double().tolist()]
    want = float(mpmath.diff(lambda t: _inner_mp(a_mp, b_mp, t), mpmath.mpf(float(c))))
    assert abs(float(got) - want) <= 4e-7 * abs(want)


# -- encoders with MERU's parameter names, built here from the recorded layout -------------------
# The image side follows timm's ViT names (what MERU's build_timm_vit returns with num_classes=0:
# the class token after the final norm); the text side MERU's TransformerTextEncoder names (a
# causal pre-norm transformer returning per-token features). Written for these tests: the
# checkpoint's keys and shapes must fit them, nothing else is borrowed.
class _ViTAttention(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.qkv = torch.nn.Linear(width, 3 * width)
        self.proj = torch.nn.Linear(width, width)

    def forward(self, x):
        b, n, w = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, w))


class _ViTMlp(torch.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1 = torch.nn.Linear(width, 4 * width)
        self.fc2 = torch.nn.Linear(4 * width, width)

    def forward(self, x):
        return self.fc2(torch.nn.functional.gelu(self.fc1(x)))


class _ViTBlock(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.norm1 = torch.nn.LayerNorm(width)
        self.attn = _ViTAttention(width, heads)
        self.norm2 = torch.nn.LayerNorm(width)
        self.mlp = _ViTMlp(width)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(torch.nn.Module):
    def __init__(self, width, patch):
        super().__init__()
        self.proj = torch.nn.Conv2d(3, width, patch, stride=patch)


class ViTLike(torch.nn.Module):
    def __init__(self, width=16, depth=2, heads=2, patch=4, image=8):
        super().__init__()
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, 1 + (image // patch) ** 2, width))
        self.patch_embed = _PatchEmbed(width, patch)
        self.blocks = torch.nn.Sequential(*[_ViTBlock(width, heads) for _ in range(depth)])
        self.norm = torch.nn.LayerNorm(width)

    def forward(self, images):
        x = self.patch_embed.proj(images).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))[:, 0]


class _TextBlock(torch.nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = torch.nn.LayerNorm(width)
        self.mlp = torch.nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", torch.nn.Linear(width, 4 * width)),
                    ("gelu", torch.nn.GELU()),
                    ("c_proj", torch.nn.Linear(4 * width, width)),
                ]
            )
        )
        self.ln_2 = torch.nn.LayerNorm(width)

    def forward(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class TextLike(torch.nn.Module):
    """Per-token features (B, T, width) of a causal transformer: MERU's text-encoder contract."""

    def __init__(self, width=16, layers=2, heads=2, vocab=49408, context=77):
        super().__init__()
        self.context_length = context
        self.token_embed = torch.nn.Embedding(vocab, width)
        self.posit_embed = torch.nn.Parameter(torch.zeros(context, width))
        self.resblocks = torch.nn.ModuleList([_TextBlock(width, heads) for _ in range(layers)])
        self.ln_final = torch.nn.LayerNorm(width)
        self.register_buffer("attn_mask", torch.ones(context, context).triu(1).bool())

    def forward(self, tokens):
        t = tokens.shape[1]
        x = self.token_embed(tokens) + self.posit_embed[:t]
        for block in self.resblocks:
            x = block(x, self.attn_mask[:t, :t])
        return self.ln_final(x)


TINY = {
    "vision_width": 16,
    "vision_depth": 2,
    "patch": 4,
    "image": 8,
    "text_width": 16,
    "text_layers": 2,
    "vocab": 49408,
    "context": 77,
    "embed_dim": 12,
}
SOT, EOT = 49406, meru_layout.EOT_ID


def _tiny_encoders(dtype=torch.float32):
    return (ViTLike(16, 2, 2, 4, 8).to(dtype), TextLike(16, 2, 2, 49408, 77).to(dtype))


def _random_state(record, generator, scalars):
    """Random tensors of the record's shapes and dtypes; the causal mask for the bool buffer;
    the head's scalars (logs) and pixel statistics as given."""
    state = {}
    for key, (shape, dtype) in record.items():
        if dtype == "bool":
            state[key] = torch.ones(shape).triu(1).bool()
        elif key.endswith(
            (
                "norm1.weight",
                "norm2.weight",
                "norm.weight",
                "ln_1.weight",
                "ln_2.weight",
                "ln_final.weight",
            )
        ):
            state[key] = 1 + 0.1 * torch.randn(shape, generator=generator)
        else:
            state[key] = 0.2 * torch.randn(shape, generator=generator)
    state.update(scalars)
    return state


_SCALARS = {
    "curv": torch.tensor(0.6).log(),
    "visual_alpha": torch.tensor(-0.4),
    "textual_alpha": torch.tensor(-0.3),
    "logit_scale": torch.tensor(20.0).log(),
    # values that differ from the ImageNet defaults: they must come from the file
    "pixel_mean": torch.tensor([0.5, 0.4, 0.3]).view(3, 1, 1),
    "pixel_std": torch.tensor([0.2, 0.25, 0.3]).view(3, 1, 1),
}


class _WarmupCosine(torch.optim.lr_scheduler.LambdaLR):
    """A scheduler whose multiplier is a bound method with integer attributes, as MERU's is:
    what its state dict then holds (plain numbers, no code) is what the loader must accept."""

    def __init__(self, optimizer, total_steps, warmup_steps):
        self.total_steps, self.warmup_steps = total_steps, warmup_steps
        super().__init__(optimizer, self._multiplier)

    def _multiplier(self, step):
        if step < self.warmup_steps:
            return step / self.warmup_steps
        return (
            math.cos(
                0.5 * math.pi * (step - self.warmup_steps) / (self.total_steps - self.warmup_steps)
            )
            ** 2
        )


def _saved_as_meru_saves(state, directory, iteration=1000, seed=0):
    """The top-level dict of MERU's CheckpointManager.step (model, optimizer, scheduler,
    scaler, iteration) written with torch.save under its file name. The optimizer (AdamW as in
    MERU's configurations) has taken one step over parameters of the record's shapes."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(v.clone()) for v in state.values() if v.dtype.is_floating_point]
    optimizer = torch.optim.AdamW(params, lr=5e-4, betas=(0.9, 0.98), weight_decay=0.2)
    scheduler = _WarmupCosine(optimizer, total_steps=120000, warmup_steps=4000)
    for p in params:
        p.grad = torch.randn(p.shape, generator=g)
    optimizer.step()
    scheduler.step()
    ckpt = {
        "model": state,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": torch.amp.GradScaler("cpu").state_dict(),
        "iteration": iteration,
    }
    assert tuple(ckpt) == meru_layout.TOP_LEVEL
    path = os.path.join(directory, f"checkpoint_{iteration:0>8d}.pth")
    torch.save(ckpt, path)
    return path


def _tiny_checkpoint(directory, seed=0, **scalars):
    state = _random_state(
        meru_layout.layout(**TINY), torch.Generator().manual_seed(seed), {**_SCALARS, **scalars}
    )
    return state, _saved_as_meru_saves(state, directory, seed=seed)


def _captions(n, generator, lengths=(3, 9)):
    """Token lists as MERU's tokenizer returns them: start, word ids, end of text."""
    out = []
    for _ in range(n):
        k = int(torch.randint(lengths[0], lengths[1], (), generator=generator))
        words = torch.randint(1, SOT, (k,), generator=generator)
        out.append(torch.cat([torch.tensor([SOT]), words, torch.tensor([EOT])]).int())
    return out


def test_the_record_is_consistent():
    """The per-size rules reproduce every key, shape and dtype of the three released models,
    the key counts of the record, and the encoders written here have the rules' layout."""
    for name, sizes in meru_layout.RELEASED_SIZES.items():
        rules = meru_layout.layout(**sizes, **meru_layout.COMMON_SIZES)
        assert rules == meru_layout.expand(name)
        assert len(rules) == meru_layout.RELEASED[name]["count"]
    tiny = meru_layout.layout(**TINY)
    image, text = _tiny_encoders()
    mine = {
        f"visual.{k}": (tuple(v.shape), str(v.dtype)[6:]) for k, v in image.state_dict().items()
    }
    mine.update(
        {f"textual.{k}": (tuple(v.shape), str(v.dtype)[6:]) for k, v in text.state_dict().items()}
    )
    assert mine == {k: v for k, v in tiny.items() if k.startswith(("visual.", "textual."))}


def _cheap_state(record):
    """The record's tensors without their memory (a ViT-L is 1.2 GB): a broadcast zero per
    floating tensor, the real mask, the head's scalars and projections filled in."""
    state = {}
    for key, (shape, dtype) in record.items():
        if dtype == "bool":
            state[key] = torch.ones(shape).triu(1).bool()
        else:
            state[key] = torch.zeros(()).expand(shape)
    state.update(_SCALARS)
    g = torch.Generator().manual_seed(1)
    for key in ("visual_proj.weight", "textual_proj.weight"):
        state[key] = torch.randn(record[key][0], generator=g)
    return state


@pytest.mark.parametrize("name", list(meru_layout.RELEASED))
def test_released_layouts_load(name):
    record = meru_layout.expand(name)
    state = _cheap_state(record)
    head = load_meru_checkpoint(
        {"model": state, "optimizer": {}, "scheduler": {}, "scaler": {}, "iteration": 120000}
    )
    width = record["visual_proj.weight"][0][1]
    assert head.visual_proj.weight.shape == (512, width) and head.textual_proj.weight.shape == (
        512,
        512,
    )
    assert head.pixel_mean.shape == (3, 1, 1) and torch.equal(head.pixel_std, _SCALARS["pixel_std"])
    assert torch.equal(head.visual_proj.weight, state["visual_proj.weight"])
    assert float(head.curv.detach().exp()) == pytest.approx(0.6, rel=1e-7)
    # a head's own state dict has MERU's layout for everything but the encoders
    mine = {k: (tuple(v.shape), str(v.dtype)[6:]) for k, v in head.state_dict().items()}
    assert mine == {k: v for k, v in record.items() if not k.startswith(("visual.", "textual."))}


def test_released_vit_s_loads_into_encoders_of_its_layout():
    """MERU ViT-S at full size (22M + 38M parameters), into encoders with its key names."""
    record = meru_layout.expand("meru_vit_s")
    state = _cheap_state(record)
    with torch.device("meta"):  # allocated, not initialised: the checkpoint overwrites all
        image, text = ViTLike(384, 12, 12, 16, 224), TextLike(512, 12, 8, 49408, 77)
    image, text = image.to_empty(device="cpu"), text.to_empty(device="cpu")
    head = load_meru_checkpoint({"model": state}, image, text)
    assert head.visual is image and head.context_length == 77
    assert float(image.blocks[11].mlp.fc2.weight.detach().abs().max()) == 0.0
    assert torch.equal(text.attn_mask, state["textual.attn_mask"])


# -- loading what MERU saves, field by field -------------------------------------------------------
def test_checkpoint_saved_as_meru_saves_loads(tmp_path):
    state, path = _tiny_checkpoint(tmp_path)
    image, text = _tiny_encoders()
    head = load_meru_checkpoint(path, image, text)
    assert not head.training
    for key, value in state.items():
        assert torch.equal(head.state_dict()[key], value), key
    assert head.pixel_mean.shape == (3, 1, 1)
    # MERU's constructor arguments, not the file, set the clamp range and the weights
    assert head._curv_minmax == {"min": math.log(0.1), "max": math.log(10.0)}
    assert head.entail_weight == 0.2 and head.curv.requires_grad
    frozen = load_meru_checkpoint(
        path, *_tiny_encoders(), curv_init=0.5, learn_curv=False, entail_weight=0.0
    )
    assert frozen._curv_minmax == {"min": math.log(0.05), "max": math.log(5.0)}
    assert not frozen.curv.requires_grad and frozen.entail_weight == 0.0
    # the head alone (no encoders given): the encoders' keys are left aside
    alone = load_meru_checkpoint(path)
    assert torch.equal(alone.textual_proj.weight, state["textual_proj.weight"])
    with pytest.raises(RuntimeError, match="no encoder"):
        alone.encode_image(torch.rand(1, 3, 8, 8))


def _corrupt(what):
    g = torch.Generator().manual_seed(2)
    state = _random_state(meru_layout.layout(**TINY), g, dict(_SCALARS))
    ckpt = {"model": state, "iteration": 3}
    if what == "nan curv":
        state["curv"] = torch.tensor(float("nan"))
    elif what == "inf curv":
        state["curv"] = torch.tensor(float("inf"))
    elif what == "zero curvature":  # exp(-200) is 0 in float32
        state["curv"] = torch.tensor(-200.0)
    elif what == "infinite curvature":  # exp(200) overflows float32
        state["curv"] = torch.tensor(200.0)
    elif what == "nan alpha":
        state["visual_alpha"] = torch.tensor(float("nan"))
    elif what == "inf logit_scale":
        state["logit_scale"] = torch.tensor(float("-inf"))
    elif what == "curv shape":
        state["curv"] = torch.zeros(1)
    elif what == "curv dtype":
        state["curv"] = torch.tensor(0)
    elif what == "curv not a tensor":
        state["curv"] = 0.0
    elif what == "pixel_mean shape":
        state["pixel_mean"] = torch.zeros(3)
    elif what == "pixel_std zero":
        state["pixel_std"] = torch.tensor([0.2, 0.0, 0.3]).view(3, 1, 1)
    elif what == "nan pixel_mean":
        state["pixel_mean"] = torch.tensor([0.2, float("nan"), 0.3]).view(3, 1, 1)
    elif what == "projection widths":
        state["textual_proj.weight"] = torch.zeros(11, 16)
    elif what == "projection ndim":
        state["visual_proj.weight"] = torch.zeros(12)
    elif what == "nan projection":
        state["visual_proj.weight"][3, 4] = float("nan")
    elif what == "missing":
        del state["textual_alpha"]
    elif what == "foreign":
        state["extra.weight"] = torch.zeros(1)
    elif what == "non-string key":
        state[7] = torch.zeros(1)
    elif what == "model not a dict":
        ckpt["model"] = [1, 2]
    elif what == "no model":
        ckpt = {"state_dict": state}
    elif what == "not a dict":
        ckpt = [state]
    return ckpt


# each corruption and a word its message must contain (the field it names)
CORRUPTIONS = {
    "nan curv": "'curv'",
    "inf curv": "'curv'",
    "zero curvature": "'curv'",
    "infinite curvature": "'curv'",
    "nan alpha": "'visual_alpha'",
    "inf logit_scale": "'logit_scale'",
    "curv shape": "'curv'",
    "curv dtype": "'curv'",
    "curv not a tensor": "'curv'",
    "pixel_mean shape": "'pixel_mean'",
    "pixel_std zero": "'pixel_std'",
    "nan pixel_mean": "'pixel_mean'",
    "projection widths": "'textual_proj.weight'",
    "projection ndim": "'visual_proj.weight'",
    "nan projection": "'visual_proj.weight'",
    "missing": "'textual_alpha'",
    "foreign": "'extra.weight'",
    "non-string key": "not strings",
    "model not a dict": "['model']",
    "no model": "'model'",
    "not a dict": "list",
}


@pytest.mark.parametrize("what", list(CORRUPTIONS))
def test_every_field_is_validated(what, tmp_path):
    ckpt = _corrupt(what)
    if what == "not a dict":  # in memory, a list is neither a path nor a loaded checkpoint
        with pytest.raises(TypeError, match="path_or_state_dict"):
            load_meru_checkpoint(ckpt)
    else:
        with pytest.raises(MERUCheckpointError, match=CORRUPTIONS[what].replace("[", "\\[")):
            load_meru_checkpoint(ckpt)
    if what not in ("curv not a tensor", "non-string key"):  # torch.save keeps those too
        path = tmp_path / "bad.pth"
        torch.save(ckpt, path)
        with pytest.raises(MERUCheckpointError, match=CORRUPTIONS[what].replace("[", "\\[")):
            load_meru_checkpoint(path, *_tiny_encoders())


def test_encoder_weights_are_validated():
    g = torch.Generator().manual_seed(3)

    def fresh():
        return _random_state(meru_layout.layout(**TINY), g, dict(_SCALARS))

    state = fresh()
    del state["visual.blocks.1.mlp.fc1.bias"]
    with pytest.raises(
        MERUCheckpointError, match=r"image_encoder: missing \['visual.blocks.1.mlp.fc1.bias'\]"
    ):
        load_meru_checkpoint({"model": state}, *_tiny_encoders())
    state = fresh()
    state["textual.resblocks.0.extra"] = torch.zeros(2)
    with pytest.raises(MERUCheckpointError, match=r"unexpected \['textual.resblocks.0.extra'\]"):
        load_meru_checkpoint({"model": state}, *_tiny_encoders())
    state = fresh()
    state["textual.posit_embed"] = torch.zeros(76, 16)
    with pytest.raises(MERUCheckpointError, match=r"'textual.posit_embed'\] has shape \(76, 16\)"):
        load_meru_checkpoint({"model": state}, *_tiny_encoders())
    state = fresh()
    state["visual.pos_embed"][0, 1, 2] = float("inf")
    with pytest.raises(MERUCheckpointError, match=r"'visual\.pos_embed'.*NaN or infinite"):
        load_meru_checkpoint({"model": state}, *_tiny_encoders())
    # a wrapper renames the keys: the message lists them
    state = fresh()
    wrapped = torch.nn.Sequential(OrderedDict([("encoder", _tiny_encoders()[1])]))
    with pytest.raises(MERUCheckpointError, match=r"textual\.encoder\.token_embed\.weight"):
        load_meru_checkpoint({"model": state}, _tiny_encoders()[0], wrapped)


def test_constructor_arguments_are_validated():
    ckpt = {
        "model": _random_state(
            meru_layout.layout(**TINY), torch.Generator().manual_seed(0), dict(_SCALARS)
        )
    }
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="curv_init"):
            load_meru_checkpoint(ckpt, curv_init=bad)
    with pytest.raises(ValueError, match="entail_weight"):
        load_meru_checkpoint(ckpt, entail_weight=-0.1)
    with pytest.raises(TypeError, match="learn_curv"):
        load_meru_checkpoint(ckpt, learn_curv=1)
    with pytest.raises(ValueError, match="text_pooling"):
        load_meru_checkpoint(ckpt, text_pooling="mean")


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(MERUCheckpointError, match="not a torch checkpoint"):
        load_meru_checkpoint(junk)
    with pytest.raises(TypeError, match="path_or_state_dict"):
        load_meru_checkpoint(42)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"model": _Exploit()}, fh)
    with pytest.raises(MERUCheckpointError, match="would execute code"):
        load_meru_checkpoint(path)
    buf = io.BytesIO()
    torch.save({"model": {"x": _Exploit()}}, buf)
    buf.seek(0)
    with pytest.raises(MERUCheckpointError, match="would execute code"):
        load_meru_checkpoint(buf)


# -- the text-encoder contract ---------------------------------------------------------------------
def test_pad_tokens_cuts_and_pads_as_meru():
    long = torch.arange(100, 190).int()  # 90 tokens, its last one standing for end of text
    short = torch.tensor([SOT, 5, EOT]).int()
    padded = L.pad_tokens([short, long], 77)
    assert padded.shape == (2, 77)
    assert padded[0, :3].tolist() == [SOT, 5, EOT] and not padded[0, 3:].any()
    assert padded[1, :76].tolist() == list(range(100, 176)) and int(padded[1, 76]) == 189
    assert L.pad_tokens([short, short], 77).shape == (2, 3)  # padded to the longest, not to 77
    with pytest.raises(ValueError, match=r"tokens\[1\]"):
        L.pad_tokens([short, torch.zeros(2, 2).int()])
    with pytest.raises(TypeError, match=r"tokens\[0\]"):
        L.pad_tokens([short.float()])


def test_text_pooling_at_the_end_of_text_token():
    torch.manual_seed(0)
    image, text = _tiny_encoders()
    head = MERUHead(image, text, 16, 16, 12).eval()  # MERU's text encoder, unchanged
    g = torch.Generator().manual_seed(4)
    caps = _captions(3, g) + [
        torch.cat(
            [torch.tensor([SOT]), torch.randint(1, SOT, (88,), generator=g), torch.tensor([EOT])]
        ).int()
    ]  # 90 tokens: cut to 77
    got = head.text_features(caps)
    with torch.no_grad():
        for i, cap in enumerate(caps):
            row = cap if len(cap) <= 77 else torch.cat([cap[:76], cap[-1:]])
            # alone, unpadded: the causal encoder's output at the last (end-of-text) position
            want = text(row[None].long())[0, -1] @ head.textual_proj.weight.T
            torch.testing.assert_close(got[i], want, rtol=1e-5, atol=1e-6)
    # a padded (B, T) tensor is taken as it is
    torch.testing.assert_close(head.text_features(L.pad_tokens(caps, 77)), got, rtol=0, atol=0)
    with pytest.raises(ValueError, match="context_length 77"):
        head.text_features(torch.ones(2, 78, dtype=torch.long))


def test_encoder_outputs_of_the_wrong_shape_are_named():
    image, text = _tiny_encoders()
    tokens = torch.tensor([[SOT, 9, EOT]])
    with pytest.raises(EncoderOutputError, match=r"text_pooling=None, got \(1, 3, 16\)"):
        MERUHead(image, text, 16, 16, 12, text_pooling=None).encode_text(tokens)
    pooled = torch.nn.Sequential(torch.nn.Embedding(49408, 16), _MeanTokens())
    with pytest.raises(EncoderOutputError, match=r"text_pooling='eot', got \(1, 16\)"):
        MERUHead(image, pooled, 16, 16, 12).encode_text(tokens)
    assert MERUHead(image, pooled, 16, 16, 12, text_pooling=None).encode_text(tokens).shape == (
        1,
        12,
    )
    with pytest.raises(EncoderOutputError, match="image_encoder"):
        MERUHead(torch.nn.Identity(), text, 16, 16, 12).encode_image(torch.rand(1, 3, 8, 8))


# -- end to end: MERU's layout saved as MERU saves, loaded, evaluated and trained ------------------
def _meru_forward(
    m, image_encoder, text_encoder, images, tokens, curv_range=(0.1, 10.0), entail_weight=0.2
):
    """MERU's training forward written out from meru/models.py (MERU.forward, encode_image,
    encode_text) with the formulas above, on tensors ``m`` of the checkpoint's names: clamps,
    normalisation, end-of-text pooling, alpha scaling, exp_map0, the two cross-entropies on
    -logit_scale * distance, the entailment cone (eps = 0 in MERU's denominators, which only
    move the result by ~1e-9)."""
    lo, hi = (math.log(v) for v in curv_range)
    curv = m["curv"].clamp(lo, hi).exp()
    scale = m["logit_scale"].clamp(max=math.log(100.0)).exp()
    img = image_encoder((images - m["pixel_mean"]) / m["pixel_std"]) @ m["visual_proj.weight"].T
    img = meru_exp_map0(img * m["visual_alpha"].clamp(max=0).exp(), curv)
    feats = text_encoder(tokens)[torch.arange(tokens.shape[0]), tokens.argmax(dim=-1)]
    txt = meru_exp_map0(
        feats @ m["textual_proj.weight"].T * m["textual_alpha"].clamp(max=0).exp(), curv
    )
    targets = torch.arange(images.shape[0])
    contrastive = 0.5 * (
        torch.nn.functional.cross_entropy(-scale * meru_pairwise_dist(img, txt, curv), targets)
        + torch.nn.functional.cross_entropy(-scale * meru_pairwise_dist(txt, img, curv), targets)
    )
    angle = meru_oxy_angle(txt, img, curv, eps=0.0)
    entailment = torch.clamp(angle - meru_half_aperture(txt, curv, eps=0.0), min=0).mean()
    return contrastive + entail_weight * entailment, contrastive, entailment


def _reference_copy(state, image, text, dtype):
    m = {
        k: v.to(dtype).clone().requires_grad_(True)
        for k, v in state.items()
        if not k.startswith(("visual.", "textual."))
    }
    return m, copy.deepcopy(image).to(dtype), copy.deepcopy(text).to(dtype)


def _batch(seed, n=6):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g), L.pad_tokens(_captions(n, g), 77).long()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_end_to_end_loss_and_gradients_equal_meru_formulas(tmp_path, dtype):
    state, path = _tiny_checkpoint(tmp_path)
    image, text = _tiny_encoders()
    head = load_meru_checkpoint(path, image, text).to(dtype).train()
    ref, ref_image, ref_text = _reference_copy(state, image, text, torch.float64)
    images, tokens = _batch(1)
    out = head.loss(images.to(dtype), tokens)
    out["loss"].backward()
    assert out["loss"].dtype == dtype
    want, want_c, want_e = _meru_forward(ref, ref_image, ref_text, images.double(), tokens)
    want.backward()
    assert float(want_e.detach()) > 0  # the cone term is active: its gradients are compared too
    # float64: the formulas agree where MERU's are accurate (measured 7e-16 on the loss, 1e-13
    # on gradients); float32: the rounding of the encoders' float32 arithmetic (measured 1e-7
    # on the loss, 4e-6 of the largest gradient entry)
    rtol = 1e-12 if dtype == torch.float64 else 1e-6
    for got, exp in (
        (out["loss"], want),
        (out["contrastive"], want_c),
        (out["entailment"], want_e),
    ):
        assert float(got.detach()) == pytest.approx(float(exp.detach()), rel=rtol)
    for name, p in head.named_parameters():
        if name.startswith("visual."):
            g_want = dict(ref_image.named_parameters())[name[7:]].grad
        elif name.startswith("textual."):
            g_want = dict(ref_text.named_parameters())[name[8:]].grad
        else:
            g_want = ref[name].grad
        scale = float(g_want.abs().max())
        err = float((p.grad.double() - g_want).abs().max())
        assert err <= (1e-11 if dtype == torch.float64 else 3e-5) * scale, (name, err, scale)


def test_training_clamp_comes_from_curv_init_not_the_file(tmp_path):
    """Saved at curv 0.6, drifted below MERU's bound 0.1: MERU clamps it to 0.1 (its range
    [curv_init / 10, curv_init * 10] with curv_init = 1.0). A range taken from the file's 0.6
    ([0.06, 6]) would leave 0.07 alone and change the loss."""
    state, path = _tiny_checkpoint(tmp_path, curv=torch.tensor(0.07).log())
    image, text = _tiny_encoders()
    head = load_meru_checkpoint(path, image, text).double().train()
    images, tokens = _batch(2)
    got = head.loss(images.double(), tokens)["loss"]
    assert float(head.curv.detach().exp()) == pytest.approx(0.1, rel=1e-12)
    ref, ref_image, ref_text = _reference_copy(state, image, text, torch.float64)
    want = _meru_forward(ref, ref_image, ref_text, images.double(), tokens)[0]
    assert float(got.detach()) == pytest.approx(float(want.detach()), rel=1e-9)
    other = _meru_forward(
        ref, ref_image, ref_text, images.double(), tokens, curv_range=(0.06, 6.0)
    )[0]
    assert abs(float(other.detach()) - float(want.detach())) > 1e-4 * abs(float(want.detach()))


def test_end_to_end_zero_shot_and_retrieval(tmp_path):
    state, path = _tiny_checkpoint(tmp_path, seed=5)
    image, text = _tiny_encoders()
    head = load_meru_checkpoint(path, image, text)
    ref, ref_image, ref_text = _reference_copy(state, image, text, torch.float64)
    g = torch.Generator().manual_seed(6)
    n_img, n_cls = 12, 3
    images = torch.rand(n_img, 3, 8, 8, generator=g)
    labels = torch.arange(n_img) % n_cls
    prompts = [_captions(2, g) for _ in range(n_cls)]  # two prompts per class, MERU's lists
    res = L.zero_shot_classification(head, images, labels, prompts)
    # MERU's evaluation (meru/evaluation/classification.py) in float64: prompts averaged in
    # the tangent space, then alpha and exp_map0; scores by pairwise_inner, larger is closer
    with torch.no_grad():
        curv = ref["curv"].exp()
        img = (
            ref_image((images.double() - ref["pixel_mean"]) / ref["pixel_std"])
            @ ref["visual_proj.weight"].T
        )
        img = meru_exp_map0(img * ref["visual_alpha"].exp(), curv)

        def text_feats(caps):
            tok = L.pad_tokens(caps, 77).long()
            return (
                ref_text(tok)[torch.arange(len(caps)), tok.argmax(-1)]
                @ ref["textual_proj.weight"].T
            )

        cls = torch.stack([text_feats(p).mean(0) for p in prompts])
        cls = meru_exp_map0(cls * ref["textual_alpha"].exp(), curv)
        scores = meru_pairwise_inner(img, cls, curv)
    top2 = scores.topk(2, dim=1).values
    assert float((top2[:, 0] - top2[:, 1]).min()) > 1e-6 * float(scores.abs().max())  # no near tie
    pred = scores.argmax(1)
    assert res["predictions"].tolist() == pred.tolist()
    hits = (pred == labels).double()
    assert res["top1"] == pytest.approx(float(hits.mean()), abs=1e-15)
    per_class = [float(hits[labels == k].mean()) for k in range(n_cls)]
    assert res["macro"] == pytest.approx(sum(per_class) / n_cls, abs=1e-15)
    # retrieval over the head's embeddings, against a ranking by MERU's pairwise_inner (float64)
    caps = _captions(2 * n_img, g)
    owner = torch.arange(2 * n_img) % n_img  # two captions per image
    emb_i, emb_t = head.encode_image(images).detach(), head.encode_text(caps).detach()
    with torch.no_grad():
        txt = meru_exp_map0(text_feats(caps) * ref["textual_alpha"].exp(), curv)
    torch.testing.assert_close(emb_i.double(), img, rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(emb_t.double(), txt, rtol=2e-5, atol=1e-6)
    rec = L.retrieval_recall(
        emb_i, emb_t, owner, curv=float(head.curv.detach().exp()), ks=(1, 3, 5)
    )
    s = meru_pairwise_inner(img, txt, curv)
    i2t = s.argsort(dim=1, descending=True)
    t2i = s.T.argsort(dim=1, descending=True)
    for k in (1, 3, 5):
        want_i2t = float((owner[i2t[:, :k]] == torch.arange(n_img)[:, None]).any(1).double().mean())
        want_t2i = float((t2i[:, :k] == owner[:, None]).any(1).double().mean())
        assert rec[f"image_to_text@{k}"] == pytest.approx(want_i2t, abs=1e-15)
        assert rec[f"text_to_image@{k}"] == pytest.approx(want_t2i, abs=1e-15)


def test_double_head_computes_in_float64(tmp_path):
    state, path = _tiny_checkpoint(tmp_path, seed=7)
    image, text = _tiny_encoders()
    head = load_meru_checkpoint(path, image, text).double()
    images, tokens = _batch(8)
    emb = head.encode_image(images.double())
    assert emb.dtype == torch.float64
    ref, ref_image, _ = _reference_copy(state, image, text, torch.float64)
    with torch.no_grad():
        want = (
            ref_image((images.double() - ref["pixel_mean"]) / ref["pixel_std"])
            @ ref["visual_proj.weight"].T
        )
        want = meru_exp_map0(want * ref["visual_alpha"].exp(), ref["curv"].exp())
    torch.testing.assert_close(emb.detach(), want, rtol=1e-12, atol=1e-15)
    assert head.encode_text(tokens).dtype == torch.float64


# -- training and the loss ---------------------------------------------------------------------------
class _MeanTokens(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=1)


def test_training_lowers_the_loss_and_keeps_curv_clamped():
    torch.manual_seed(0)
    head = MERUHead(TinyImage(), TinyText(), 6, 5, 7, curv_init=1.0)
    images = torch.rand(16, 3, 8, 8)
    tokens = torch.randint(0, 20, (16, 4))
    opt = torch.optim.Adam(head.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        out = head.loss(images, tokens)
        assert set(out) == {"loss", "contrastive", "entailment"}
        opt.zero_grad()
        out["loss"].backward()
        assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)
        opt.step()
        losses.append(float(out["loss"].detach()))
        head._clamp()
        assert math.log(0.1) - 1e-6 <= float(head.curv.detach()) <= math.log(10.0) + 1e-6
    assert losses[-1] < 0.5 * losses[0]


def test_meru_loss_targets_and_gathered_text():
    x, t = _space(4, 6).float(), _space(8, 6).float()
    out = L.meru_loss(x, t, curv=1.0, logit_scale=10.0, targets=torch.tensor([4, 5, 6, 7]))
    same = L.meru_loss(x, t[4:], curv=1.0, logit_scale=10.0)
    torch.testing.assert_close(out["entailment"], same["entailment"])
    with pytest.raises(ValueError, match="targets must have shape"):
        L.meru_loss(x, t, curv=1.0, logit_scale=10.0, targets=torch.arange(3))


def test_zero_shot_and_retrieval():
    # images carry their class direction, prompts of class k embed near the same direction
    dirs = torch.eye(3) * 2.0
    table = torch.cat(
        [dirs + 0.1 * torch.randn(3, 3, generator=gen) for _ in range(2)]
    )  # token k, k+3 -> class k
    text = torch.nn.Embedding.from_pretrained(table)
    head = MERUHead(
        torch.nn.Flatten(),
        torch.nn.Sequential(text, _MeanTokens()),
        3,
        3,
        3,
        pixel_mean=(0.0, 0.0, 0.0),
        pixel_std=(1.0, 1.0, 1.0),
        text_pooling=None,
    ).eval()
    with torch.no_grad():
        head.visual_proj.weight.copy_(torch.eye(3))
        head.textual_proj.weight.copy_(torch.eye(3))
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    images = (dirs[labels] + 0.2 * torch.randn(6, 3, generator=gen)).view(6, 3, 1, 1)
    prompts = [torch.tensor([[k], [k + 3]]) for k in range(3)]  # two prompts per class
    res = L.zero_shot_classification(head, images, labels, prompts)
    assert res["top1"] == 1.0 and res["macro"] == 1.0
    assert res["predictions"].tolist() == labels.tolist()
    wrong = torch.tensor([0, 1, 2, 0, 2, 2])  # one label of class 1 changed to class 2
    res = L.zero_shot_classification(head, images, wrong, prompts)
    assert res["top1"] == pytest.approx(5 / 6) and res["macro"] == pytest.approx(
        (1 + 1 + 2 / 3) / 3
    )
    # retrieval: captions equal to their images are found first
    img = _space(5, 4)
    txt = torch.cat([img, img + 1e-3])  # two captions per image
    owner = torch.cat([torch.arange(5), torch.arange(5)])
    rec = L.retrieval_recall(img, txt, owner, ks=(1, 2))
    assert rec["image_to_text@1"] == 1.0 and rec["text_to_image@1"] == 1.0


def test_embeddings_stay_float32_under_autocast():
    head = MERUHead(TinyImage(), TinyText(), 6, 5, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = head.encode_image(torch.rand(2, 3, 8, 8))
        txt = head.encode_text(torch.randint(0, 20, (2, 4)))
    assert emb.dtype == torch.float32 and txt.dtype == torch.float32


# -- HyCoCLIP ------------------------------------------------------------------------------------
# HyCoCLIP.forward, transcribed from hycoclip/models.py (PalAvik/hycoclip at
# 08bb05b863b86971f54daa60247658ed9d25f766) with the formulas above: four cross-entropies on
# -logit_scale * distance (images and box images against all texts, the local texts and box
# texts against all images, targets = arange(B) + rank * B) averaged; four cone terms
# (text -> image and box text -> box image with apertures times 0.7, box image -> image and
# box text -> text times 1.2) summed and halved; loss = contrastive + entail_weight * entailment.
def hycoclip_reference(
    image,
    text,
    box_image,
    box_text,
    curv,
    scale,
    all_image=None,
    all_text=None,
    rank=0,
    entail_weight=0.2,
):
    all_image = image if all_image is None else all_image
    all_text = text if all_text is None else all_text
    targets = torch.arange(image.shape[0]) + rank * image.shape[0]

    def ce(q, keys):
        return torch.nn.functional.cross_entropy(
            -scale * meru_pairwise_dist(q, keys, curv), targets
        )

    def cone(general, specific, eta):
        angle = meru_oxy_angle(general, specific, curv, eps=0.0)
        return torch.clamp(angle - eta * meru_half_aperture(general, curv, eps=0.0), min=0).mean()

    contrastive = 0.25 * (
        ce(image, all_text)
        + ce(text, all_image)
        + ce(box_image, all_text)
        + ce(box_text, all_image)
    )
    entailment = 0.5 * (
        cone(text, image, 0.7)
        + cone(box_text, box_image, 0.7)
        + cone(box_image, image, 1.2)
        + cone(box_text, text, 1.2)
    )
    return contrastive + entail_weight * entailment, contrastive, entailment


def _hycoclip_inputs(seed, b=6, n=5):
    g = torch.Generator().manual_seed(seed)
    image, text = (
        0.8 * torch.randn(b, n, generator=g, dtype=torch.float64),
        0.4 * torch.randn(b, n, generator=g, dtype=torch.float64),
    )
    # boxes: smaller regions and phrases, nearer the origin (more general), as HyCoCLIP intends
    box_image = 0.5 * image + 0.1 * torch.randn(b, n, generator=g, dtype=torch.float64)
    box_text = 0.5 * text + 0.1 * torch.randn(b, n, generator=g, dtype=torch.float64)
    return image, text, box_image, box_text


def _leaves(*arrays):
    return [a.clone().requires_grad_(True) for a in arrays]


@pytest.mark.parametrize("curv", [1.0, 0.3])
def test_hycoclip_loss_equals_its_formula(curv):
    inputs = _hycoclip_inputs(int(curv * 10))
    ours = _leaves(
        *inputs, torch.tensor(curv, dtype=torch.float64), torch.tensor(12.0, dtype=torch.float64)
    )
    theirs = _leaves(
        *inputs, torch.tensor(curv, dtype=torch.float64), torch.tensor(12.0, dtype=torch.float64)
    )
    out = L.hycoclip_loss(*ours[:4], curv=ours[4], logit_scale=ours[5])
    want = hycoclip_reference(*theirs)
    for key, w in zip(("loss", "contrastive", "entailment"), want):
        assert float(out[key].detach()) == pytest.approx(float(w.detach()), rel=1e-12), key
    # every term contributes: the cones are active and differ from MERU's single one
    assert float(want[2].detach()) > 0
    meru = L.meru_loss(*inputs[:2], curv=curv, logit_scale=12.0)
    assert abs(float(meru["entailment"]) - float(want[2].detach())) > 1e-3
    out["loss"].backward()
    want[0].backward()
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-13)


def test_hycoclip_loss_with_gathered_batches_equals_its_formula():
    """Rank 1 of 2: texts and images gathered (M = 2B), boxes local, targets shifted."""
    local = _hycoclip_inputs(21)
    other = _hycoclip_inputs(22)
    all_text = torch.cat([other[1], local[1]])
    all_image = torch.cat([other[0], local[0]])
    b = local[0].shape[0]
    ours = _leaves(local[0], all_text, local[2], local[3], all_image)
    out = L.hycoclip_loss(
        ours[0],
        ours[1],
        ours[2],
        ours[3],
        curv=0.8,
        logit_scale=9.0,
        targets=torch.arange(b) + b,
        all_image=ours[4],
    )
    theirs = _leaves(local[0], all_text, local[2], local[3], all_image)
    want = hycoclip_reference(
        theirs[0],
        theirs[1][b:],
        theirs[2],
        theirs[3],
        0.8,
        9.0,
        all_image=theirs[4],
        all_text=theirs[1],
        rank=1,
    )
    assert float(out["loss"].detach()) == pytest.approx(float(want[0].detach()), rel=1e-12)
    out["loss"].backward()
    want[0].backward()
    for a, w in zip(ours, theirs):
        torch.testing.assert_close(a.grad, w.grad, rtol=1e-10, atol=1e-13)


def test_hycoclip_loss_is_memory_linear_in_the_batch():
    """B = 3000: the all-pairs logits (9e6 per direction) are never kept for the backward."""
    b, n = 3000, 8
    g = torch.Generator().manual_seed(9)
    inputs = [(0.3 * torch.randn(b, n, generator=g)).requires_grad_(True) for _ in range(4)]
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel()) or t, lambda t: t
    ):
        out = L.hycoclip_loss(*inputs, curv=1.0, logit_scale=10.0)
    out["loss"].backward()
    assert max(saved) < 16 * b * n  # a few (B, n) arrays; B x B would be 9e6
    assert all(torch.isfinite(x.grad).all() for x in inputs)


def test_hycoclip_from_a_head_and_its_checkpoint(tmp_path):
    """HyCoCLIP's checkpoints have MERU's layout (meru_layout.py): the same loader, and the
    head's box loss equals the transcription on the head's own embeddings."""
    _, path = _tiny_checkpoint(tmp_path, seed=11)
    head = load_meru_checkpoint(path, *_tiny_encoders()).double().train()
    images, tokens = _batch(12)
    box_images, box_tokens = _batch(13)
    out = head.loss(images.double(), tokens, boxes=(box_images.double(), box_tokens))
    with torch.no_grad():
        emb = [
            head.encode_image(images.double()),
            head.encode_text(tokens),
            head.encode_image(box_images.double()),
            head.encode_text(box_tokens),
        ]
    want = hycoclip_reference(*emb, head.curv.detach().exp(), head.logit_scale.detach().exp())
    assert float(out["loss"].detach()) == pytest.approx(float(want[0]), rel=1e-12)
    with pytest.raises(ValueError, match="box_text must have the shape"):
        L.hycoclip_loss(emb[0], emb[1], emb[2], emb[3][:2], curv=1.0, logit_scale=10.0)
