"""The MERU adapter: drop-in parity, finite gradients where MERU's are NaN, the head,
checkpoint loading (never executing code), the loss in training, and evaluation helpers."""

from __future__ import annotations

import io
import math
import os
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # installed by the test extra; CI never skips

from lorentz import meru as L  # noqa: E402
from lorentz.meru import MERUHead, load_meru_checkpoint  # noqa: E402


# -- MERU's formulas, transcribed here as the parity target (torch, space components) --------
def meru_pairwise_inner(x, y, curv=1.0):
    xt = torch.sqrt(1 / curv + torch.sum(x**2, dim=-1, keepdim=True))
    yt = torch.sqrt(1 / curv + torch.sum(y**2, dim=-1, keepdim=True))
    return x @ y.T - xt @ yt.T


def meru_pairwise_dist(x, y, curv=1.0, eps=1e-8):
    return torch.acosh(torch.clamp(-curv * meru_pairwise_inner(x, y, curv), min=1 + eps)) / curv**0.5


def meru_exp_map0(x, curv=1.0, eps=1e-8):
    r = curv**0.5 * torch.norm(x, dim=-1, keepdim=True)
    return torch.sinh(torch.clamp(r, min=eps, max=math.asinh(2**15))) * x / torch.clamp(r, min=eps)


def meru_log_map0(x, curv=1.0, eps=1e-8):
    rt = torch.sqrt(1 + curv * torch.sum(x**2, dim=-1, keepdim=True))
    d = torch.acosh(torch.clamp(rt, min=1 + eps))
    return d * x / torch.clamp(curv**0.5 * torch.norm(x, dim=-1, keepdim=True), min=eps)


def meru_half_aperture(x, curv=1.0, min_radius=0.1, eps=1e-8):
    a = 2 * min_radius / (torch.norm(x, dim=-1) * curv**0.5 + eps)
    return torch.asin(torch.clamp(a, min=-1 + eps, max=1 - eps))


def meru_oxy_angle(x, y, curv=1.0, eps=1e-8):
    xt = torch.sqrt(1 / curv + torch.sum(x**2, dim=-1))
    yt = torch.sqrt(1 / curv + torch.sum(y**2, dim=-1))
    cxy = curv * (torch.sum(x * y, dim=-1) - xt * yt)
    num = yt + cxy * xt
    den = torch.sqrt(torch.clamp(cxy**2 - 1, min=eps))
    return torch.acos(torch.clamp(num / (torch.norm(x, dim=-1) * den + eps), min=-1 + eps, max=1 - eps))


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
    torch.testing.assert_close(L.half_aperture(far, curv), meru_half_aperture(far, curv, eps=0.0), **t)


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
    torch.testing.assert_close(L.pairwise_dist(x, y, 1.0, eps=1e-2), L.pairwise_dist(x, y, 1.0), rtol=0, atol=0)


# -- the head and checkpoints ------------------------------------------------------------------
class TinyImage(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 6)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class TinyText(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(20, 5)

    def forward(self, tokens):
        return self.embed(tokens).mean(dim=1)


class _MeanTokens(torch.nn.Module):
    def forward(self, x):
        return x.mean(dim=1)


def _meru_checkpoint_dict(seed=0):
    """A state dict in MERU's exact layout, written key by key as MERU saves it."""
    torch.manual_seed(seed)
    img, txt = TinyImage(), TinyText()
    model = {f"visual.{k}": v for k, v in img.state_dict().items()}
    model.update({f"textual.{k}": v for k, v in txt.state_dict().items()})
    model.update({
        "visual_proj.weight": torch.randn(7, 6),
        "textual_proj.weight": torch.randn(7, 5),
        "curv": torch.tensor(0.3).log(),
        "visual_alpha": torch.tensor(-1.2),
        "textual_alpha": torch.tensor(-0.9),
        "logit_scale": torch.tensor(1 / 0.05).log(),
        # HyCoCLIP-like values that differ from ImageNet's: must come from the file
        "pixel_mean": torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1),
        "pixel_std": torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1),
    })
    return {"model": model, "optimizer": {}, "scheduler": {}, "iteration": 100}


def test_checkpoint_round_trip_end_to_end(tmp_path):
    ckpt = _meru_checkpoint_dict()
    path = tmp_path / "meru.pth"
    torch.save(ckpt, path)
    head = load_meru_checkpoint(path, TinyImage(), TinyText())
    assert not head.training
    torch.testing.assert_close(head.pixel_mean.flatten(), torch.tensor([0.5, 0.4, 0.3]))
    torch.testing.assert_close(head.curv.exp(), torch.tensor(0.3))
    images = torch.rand(2, 3, 8, 8)
    tokens = torch.randint(0, 20, (2, 4))
    emb_i, emb_t = head.encode_image(images), head.encode_text(tokens)
    assert emb_i.shape == (2, 7) and emb_t.shape == (2, 7) and emb_i.dtype == torch.float32
    # the same computation written out from the checkpoint's tensors
    m = ckpt["model"]
    img = TinyImage()
    img.load_state_dict({k[7:]: v for k, v in m.items() if k.startswith("visual.")})
    feats = img((images - m["pixel_mean"]) / m["pixel_std"]) @ m["visual_proj.weight"].T
    torch.testing.assert_close(emb_i, L.exp_map0(feats * m["visual_alpha"].exp(), m["curv"].exp()))
    # eval mode applies no clamp: an out-of-range alpha in the file survives
    ckpt["model"]["visual_alpha"] = torch.tensor(0.5)
    head = load_meru_checkpoint(ckpt, TinyImage(), TinyText())
    head.encode_image(images)
    assert float(head.visual_alpha.detach()) == 0.5


def test_checkpoint_key_errors():
    ckpt = _meru_checkpoint_dict()
    del ckpt["model"]["textual_alpha"]
    with pytest.raises(KeyError, match="missing keys: \\['textual_alpha'\\]"):
        load_meru_checkpoint(ckpt)
    ckpt = _meru_checkpoint_dict()
    ckpt["model"]["extra.weight"] = torch.zeros(1)
    with pytest.raises(KeyError, match="unexpected \\['extra.weight'\\]"):
        load_meru_checkpoint(ckpt, TinyImage(), TinyText())
    ckpt = _meru_checkpoint_dict()
    del ckpt["model"]["visual.fc.bias"]
    with pytest.raises(KeyError, match="missing \\['visual.fc.bias'\\]"):
        load_meru_checkpoint(ckpt, TinyImage(), TinyText())
    with pytest.raises(ValueError, match="not a MERU checkpoint"):
        load_meru_checkpoint({"state_dict": {}})


def test_not_a_checkpoint(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    with pytest.raises(ValueError, match="not"):
        load_meru_checkpoint(junk)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"model": _Exploit()}, fh)
    with pytest.raises(ValueError, match="would execute code"):
        load_meru_checkpoint(path)
    buf = io.BytesIO()
    torch.save({"model": {"x": _Exploit()}}, buf)
    buf.seek(0)
    with pytest.raises(ValueError, match="would execute code"):
        load_meru_checkpoint(buf)


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
    table = torch.cat([dirs + 0.1 * torch.randn(3, 3, generator=gen) for _ in range(2)])  # token k, k+3 -> class k
    text = torch.nn.Embedding.from_pretrained(table)
    head = MERUHead(torch.nn.Flatten(), torch.nn.Sequential(text, _MeanTokens()), 3, 3, 3,
                    pixel_mean=(0.0, 0.0, 0.0), pixel_std=(1.0, 1.0, 1.0)).eval()
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
    assert res["top1"] == pytest.approx(5 / 6) and res["macro"] == pytest.approx((1 + 1 + 2 / 3) / 3)
    # retrieval: captions equal to their images are found first
    img = _space(5, 4)
    txt = torch.cat([img, img + 1e-3])  # two captions per image
    owner = torch.cat([torch.arange(5), torch.arange(5)])
    rec = L.retrieval_recall(img, txt, owner, ks=(1, 2))
    assert rec["image_to_text@1"] == 1.0 and rec["text_to_image@1"] == 1.0


def test_hycoclip_box_terms_and_eta():
    torch.manual_seed(3)
    img, txt = _space(5, 4), _space(5, 4)
    box_i, box_t = 0.5 * img.clone().requires_grad_(True), 0.5 * txt.clone().requires_grad_(True)
    base = L.meru_loss(img, txt, curv=1.0, logit_scale=10.0)
    out = L.meru_loss(img, txt, curv=1.0, logit_scale=10.0, boxes=(box_i, box_t))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and float(out["loss"]) != float(base["loss"])
    # the box-only terms: with boxes equal to the full pair, both contrastive halves agree
    same = L.meru_loss(img, txt, curv=1.0, logit_scale=10.0, boxes=(img, txt))
    torch.testing.assert_close(same["contrastive"], base["contrastive"])
    # eta = 0 removes the aperture: the entailment term is the mean angle
    flat = L.meru_loss(img, txt, curv=1.0, logit_scale=10.0, eta_inter=0.0)
    torch.testing.assert_close(flat["entailment"], L.oxy_angle(txt, img).mean())


def test_embeddings_stay_float32_under_autocast():
    head = MERUHead(TinyImage(), TinyText(), 6, 5, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        emb = head.encode_image(torch.rand(2, 3, 8, 8))
        txt = head.encode_text(torch.randint(0, 20, (2, 4)))
    assert emb.dtype == torch.float32 and txt.dtype == torch.float32
