"""MERU's checkpoint layout, recorded as data: every state-dict key of its released models with
shape and dtype, and the top-level dict its checkpoint manager writes.

Read from facebookresearch/meru at commit 6d4430055f58354539f68668175135256f99d47f:

- meru/models.py: ``CLIPBaseline.__init__`` (``visual_proj`` and ``textual_proj``, Linear
  without bias, (embed_dim, width); ``logit_scale``, 0-d; ``pixel_mean`` / ``pixel_std``
  registered as ``torch.tensor(...).view(-1, 1, 1)``, i.e. (3, 1, 1)) and ``MERU.__init__``
  (``curv``, ``visual_alpha``, ``textual_alpha``, 0-d, all stored as logs; the clamp range
  ``_curv_minmax`` is a plain attribute computed from ``curv_init``, not in the state dict);
- meru/encoders/text_encoders.py: ``TransformerTextEncoder`` (``token_embed``,
  ``posit_embed`` (context, width), blocks ``resblocks.{i}`` of ``nn.MultiheadAttention``
  (``in_proj_weight`` (3W, W)), ``ln_1``, ``ln_2``, ``mlp.c_fc`` (4W, W), ``mlp.c_proj``,
  ``ln_final``, and the causal ``attn_mask`` registered as a bool buffer, so saved);
- meru/encoders/image_encoders.py: ``build_timm_vit`` (timm ViT, ``num_classes=0``,
  ``global_pool="token"`` with a class token, ``nn.LayerNorm``; the fixed 2-D sin-cos position
  embedding is copied into ``pos_embed``, which stays in the state dict); ViT-S is MERU's own
  ``vit_small_mocov3_patch16_224`` (width 384, depth 12, 12 heads);
- configs/train_meru_vit_{s,b,l}.py: ``textual = TransformerTextEncoder("L12_W512",
  vocab_size=49408, context_length=77)``, ``embed_dim=512``, ``curv_init=1.0``,
  ``learn_curv=True``, ``entail_weight=0.2``; the ViT arch per size;
- meru/utils/checkpointing.py and scripts/train.py: ``CheckpointManager(model=model,
  optimizer=optimizer, scheduler=scheduler, scaler=scaler)``; ``step`` saves
  ``{name: obj.state_dict() for each} | {"iteration": int}`` with ``torch.save`` (the DDP
  wrapper's inner module), ``final_step`` the same without ``"iteration"``.

The timm names (``cls_token``, ``pos_embed`` (1, 1 + patches, W), ``patch_embed.proj``,
``blocks.{i}.norm1 / attn.qkv / attn.proj / norm2 / mlp.fc1 / mlp.fc2``, ``norm``) were read
from huggingface/pytorch-image-models at tag v0.9.5 (81089b10a24b3a780988a1cdf075dd1de9c17042),
the release MERU's README installed (``pip install --pre timm``, August 2023):
timm/models/vision_transformer.py (``VisionTransformer``, ``Block``, ``Attention``; qkv bias
on by default; no ``fc_norm`` and no ``head`` weights with token pooling and 0 classes),
timm/layers/mlp.py, timm/layers/patch_embed.py.

HyCoCLIP (PalAvik/hycoclip at commit 08bb05b863b86971f54daa60247658ed9d25f766):
``HyCoCLIP(MERU)`` adds no parameter or buffer, its encoders and checkpoint manager are
MERU's files unchanged, and configs/train_hycoclip_vit_{s,b,l}.py use the same encoders,
``embed_dim=512`` and ``entail_weight=0.2``: its checkpoints have exactly this layout.

Everything is float32 (MERU trains with autocast; parameters stay float32) except the text
encoder's ``attn_mask`` (bool).

Cross-checked once, outside this repository: the state dicts of MERU's three models built from
that commit with timm 0.9.5 have exactly these keys, shapes and dtypes (307, 307 and 451 keys),
and a checkpoint written by MERU's own CheckpointManager loads through load_meru_checkpoint
with MERU's encoders passed unchanged (embeddings equal to MERU's encode_image / encode_text to
float32 rounding).
"""

from __future__ import annotations

F32, BOOL = "float32", "bool"

# The released models (MERU's README: meru_vit_s.pth, meru_vit_b.pth, meru_vit_l.pth). Keys
# with "{i}" repeat for every block; BLOCKS gives how many.
RELEASED = {
    "meru_vit_s": {
        "blocks": {"visual.blocks": 12, "textual.resblocks": 12},
        "keys": {
            "logit_scale": ((), F32),
            "curv": ((), F32),
            "visual_alpha": ((), F32),
            "textual_alpha": ((), F32),
            "pixel_mean": ((3, 1, 1), F32),
            "pixel_std": ((3, 1, 1), F32),
            "visual_proj.weight": ((512, 384), F32),
            "textual_proj.weight": ((512, 512), F32),
            "visual.cls_token": ((1, 1, 384), F32),
            "visual.pos_embed": ((1, 197, 384), F32),
            "visual.patch_embed.proj.weight": ((384, 3, 16, 16), F32),
            "visual.patch_embed.proj.bias": ((384,), F32),
            "visual.blocks.{i}.norm1.weight": ((384,), F32),
            "visual.blocks.{i}.norm1.bias": ((384,), F32),
            "visual.blocks.{i}.attn.qkv.weight": ((1152, 384), F32),
            "visual.blocks.{i}.attn.qkv.bias": ((1152,), F32),
            "visual.blocks.{i}.attn.proj.weight": ((384, 384), F32),
            "visual.blocks.{i}.attn.proj.bias": ((384,), F32),
            "visual.blocks.{i}.norm2.weight": ((384,), F32),
            "visual.blocks.{i}.norm2.bias": ((384,), F32),
            "visual.blocks.{i}.mlp.fc1.weight": ((1536, 384), F32),
            "visual.blocks.{i}.mlp.fc1.bias": ((1536,), F32),
            "visual.blocks.{i}.mlp.fc2.weight": ((384, 1536), F32),
            "visual.blocks.{i}.mlp.fc2.bias": ((384,), F32),
            "visual.norm.weight": ((384,), F32),
            "visual.norm.bias": ((384,), F32),
        },
        "count": 307,
    },
    "meru_vit_b": {
        "blocks": {"visual.blocks": 12, "textual.resblocks": 12},
        "keys": {
            "logit_scale": ((), F32),
            "curv": ((), F32),
            "visual_alpha": ((), F32),
            "textual_alpha": ((), F32),
            "pixel_mean": ((3, 1, 1), F32),
            "pixel_std": ((3, 1, 1), F32),
            "visual_proj.weight": ((512, 768), F32),
            "textual_proj.weight": ((512, 512), F32),
            "visual.cls_token": ((1, 1, 768), F32),
            "visual.pos_embed": ((1, 197, 768), F32),
            "visual.patch_embed.proj.weight": ((768, 3, 16, 16), F32),
            "visual.patch_embed.proj.bias": ((768,), F32),
            "visual.blocks.{i}.norm1.weight": ((768,), F32),
            "visual.blocks.{i}.norm1.bias": ((768,), F32),
            "visual.blocks.{i}.attn.qkv.weight": ((2304, 768), F32),
            "visual.blocks.{i}.attn.qkv.bias": ((2304,), F32),
            "visual.blocks.{i}.attn.proj.weight": ((768, 768), F32),
            "visual.blocks.{i}.attn.proj.bias": ((768,), F32),
            "visual.blocks.{i}.norm2.weight": ((768,), F32),
            "visual.blocks.{i}.norm2.bias": ((768,), F32),
            "visual.blocks.{i}.mlp.fc1.weight": ((3072, 768), F32),
            "visual.blocks.{i}.mlp.fc1.bias": ((3072,), F32),
            "visual.blocks.{i}.mlp.fc2.weight": ((768, 3072), F32),
            "visual.blocks.{i}.mlp.fc2.bias": ((768,), F32),
            "visual.norm.weight": ((768,), F32),
            "visual.norm.bias": ((768,), F32),
        },
        "count": 307,
    },
    "meru_vit_l": {
        "blocks": {"visual.blocks": 24, "textual.resblocks": 12},
        "keys": {
            "logit_scale": ((), F32),
            "curv": ((), F32),
            "visual_alpha": ((), F32),
            "textual_alpha": ((), F32),
            "pixel_mean": ((3, 1, 1), F32),
            "pixel_std": ((3, 1, 1), F32),
            "visual_proj.weight": ((512, 1024), F32),
            "textual_proj.weight": ((512, 512), F32),
            "visual.cls_token": ((1, 1, 1024), F32),
            "visual.pos_embed": ((1, 197, 1024), F32),
            "visual.patch_embed.proj.weight": ((1024, 3, 16, 16), F32),
            "visual.patch_embed.proj.bias": ((1024,), F32),
            "visual.blocks.{i}.norm1.weight": ((1024,), F32),
            "visual.blocks.{i}.norm1.bias": ((1024,), F32),
            "visual.blocks.{i}.attn.qkv.weight": ((3072, 1024), F32),
            "visual.blocks.{i}.attn.qkv.bias": ((3072,), F32),
            "visual.blocks.{i}.attn.proj.weight": ((1024, 1024), F32),
            "visual.blocks.{i}.attn.proj.bias": ((1024,), F32),
            "visual.blocks.{i}.norm2.weight": ((1024,), F32),
            "visual.blocks.{i}.norm2.bias": ((1024,), F32),
            "visual.blocks.{i}.mlp.fc1.weight": ((4096, 1024), F32),
            "visual.blocks.{i}.mlp.fc1.bias": ((4096,), F32),
            "visual.blocks.{i}.mlp.fc2.weight": ((1024, 4096), F32),
            "visual.blocks.{i}.mlp.fc2.bias": ((1024,), F32),
            "visual.norm.weight": ((1024,), F32),
            "visual.norm.bias": ((1024,), F32),
        },
        "count": 451,
    },
}

# The text encoder is the same in the three (L12_W512, vocabulary 49408, context 77).
TEXT_KEYS = {
    "textual.token_embed.weight": ((49408, 512), F32),
    "textual.posit_embed": ((77, 512), F32),
    "textual.attn_mask": ((77, 77), BOOL),
    "textual.resblocks.{i}.attn.in_proj_weight": ((1536, 512), F32),
    "textual.resblocks.{i}.attn.in_proj_bias": ((1536,), F32),
    "textual.resblocks.{i}.attn.out_proj.weight": ((512, 512), F32),
    "textual.resblocks.{i}.attn.out_proj.bias": ((512,), F32),
    "textual.resblocks.{i}.ln_1.weight": ((512,), F32),
    "textual.resblocks.{i}.ln_1.bias": ((512,), F32),
    "textual.resblocks.{i}.mlp.c_fc.weight": ((2048, 512), F32),
    "textual.resblocks.{i}.mlp.c_fc.bias": ((2048,), F32),
    "textual.resblocks.{i}.mlp.c_proj.weight": ((512, 2048), F32),
    "textual.resblocks.{i}.mlp.c_proj.bias": ((512,), F32),
    "textual.resblocks.{i}.ln_2.weight": ((512,), F32),
    "textual.resblocks.{i}.ln_2.bias": ((512,), F32),
    "textual.ln_final.weight": ((512,), F32),
    "textual.ln_final.bias": ((512,), F32),
}

# checkpoint_XXXXXXXX.pth from CheckpointManager.step; checkpoint_final.pth lacks "iteration"
TOP_LEVEL = ("model", "optimizer", "scheduler", "scaler", "iteration")

# MERU's end-of-text token: the largest id of its 49408-token vocabulary (CLIP's BPE)
EOT_ID = 49407


def expand(name: str) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every key of a released model, the per-block entries repeated."""
    record: dict = RELEASED[name]
    templates = {**record["keys"], **TEXT_KEYS}
    out = {}
    for key, value in templates.items():
        if "{i}" not in key:
            out[key] = value
            continue
        stem = key.split(".{i}.")[0]
        for i in range(record["blocks"][stem]):
            out[key.replace("{i}", str(i))] = value
    return out


def layout(
    *, vision_width, vision_depth, patch, image, text_width, text_layers, vocab, context, embed_dim
) -> dict[str, tuple[tuple[int, ...], str]]:
    """The same layout at any size, by the rules read above (shapes as functions of the widths);
    the tests check that it reproduces RELEASED exactly before using it for small models."""
    v, t = vision_width, text_width
    tokens = 1 + (image // patch) ** 2
    out = {
        "logit_scale": ((), F32),
        "curv": ((), F32),
        "visual_alpha": ((), F32),
        "textual_alpha": ((), F32),
        "pixel_mean": ((3, 1, 1), F32),
        "pixel_std": ((3, 1, 1), F32),
        "visual_proj.weight": ((embed_dim, v), F32),
        "textual_proj.weight": ((embed_dim, t), F32),
        "visual.cls_token": ((1, 1, v), F32),
        "visual.pos_embed": ((1, tokens, v), F32),
        "visual.patch_embed.proj.weight": ((v, 3, patch, patch), F32),
        "visual.patch_embed.proj.bias": ((v,), F32),
    }
    for i in range(vision_depth):
        p = f"visual.blocks.{i}."
        out.update(
            {
                p + "norm1.weight": ((v,), F32),
                p + "norm1.bias": ((v,), F32),
                p + "attn.qkv.weight": ((3 * v, v), F32),
                p + "attn.qkv.bias": ((3 * v,), F32),
                p + "attn.proj.weight": ((v, v), F32),
                p + "attn.proj.bias": ((v,), F32),
                p + "norm2.weight": ((v,), F32),
                p + "norm2.bias": ((v,), F32),
                p + "mlp.fc1.weight": ((4 * v, v), F32),
                p + "mlp.fc1.bias": ((4 * v,), F32),
                p + "mlp.fc2.weight": ((v, 4 * v), F32),
                p + "mlp.fc2.bias": ((v,), F32),
            }
        )
    out.update(
        {
            "visual.norm.weight": ((v,), F32),
            "visual.norm.bias": ((v,), F32),
            "textual.token_embed.weight": ((vocab, t), F32),
            "textual.posit_embed": ((context, t), F32),
            "textual.attn_mask": ((context, context), BOOL),
        }
    )
    for i in range(text_layers):
        p = f"textual.resblocks.{i}."
        out.update(
            {
                p + "attn.in_proj_weight": ((3 * t, t), F32),
                p + "attn.in_proj_bias": ((3 * t,), F32),
                p + "attn.out_proj.weight": ((t, t), F32),
                p + "attn.out_proj.bias": ((t,), F32),
                p + "ln_1.weight": ((t,), F32),
                p + "ln_1.bias": ((t,), F32),
                p + "mlp.c_fc.weight": ((4 * t, t), F32),
                p + "mlp.c_fc.bias": ((4 * t,), F32),
                p + "mlp.c_proj.weight": ((t, 4 * t), F32),
                p + "mlp.c_proj.bias": ((t,), F32),
                p + "ln_2.weight": ((t,), F32),
                p + "ln_2.bias": ((t,), F32),
            }
        )
    out.update({"textual.ln_final.weight": ((t,), F32), "textual.ln_final.bias": ((t,), F32)})
    return out


RELEASED_SIZES = {
    "meru_vit_s": {"vision_width": 384, "vision_depth": 12},
    "meru_vit_b": {"vision_width": 768, "vision_depth": 12},
    "meru_vit_l": {"vision_width": 1024, "vision_depth": 24},
}
COMMON_SIZES = {
    "patch": 16,
    "image": 224,
    "text_width": 512,
    "text_layers": 12,
    "vocab": 49408,
    "context": 77,
    "embed_dim": 512,
}
