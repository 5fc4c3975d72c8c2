"""load_meru_checkpoint: MERU's checkpoint layout into a MERUHead, without executing code."""

from __future__ import annotations

import io
import os
import pickle

import torch
from torch import nn

from ._head import MERUHead

_HEAD_KEYS = ("curv", "visual_alpha", "textual_alpha", "logit_scale", "visual_proj.weight",
              "textual_proj.weight", "pixel_mean", "pixel_std")


def _read(path_or_state_dict):
    if isinstance(path_or_state_dict, dict):
        return path_or_state_dict
    if not isinstance(path_or_state_dict, (str, os.PathLike, io.IOBase)):
        raise TypeError(
            "path_or_state_dict must be a path, a file object or a dict, "
            f"got {type(path_or_state_dict).__name__}"
        )
    try:
        return torch.load(path_or_state_dict, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"{path_or_state_dict!s} is not a plain weights checkpoint: loading it would execute "
            f"code from the file, which is refused (torch.load weights_only=True): {e}"
        ) from None
    except FileNotFoundError:
        raise
    except Exception as e:  # torch reports a file that is not a checkpoint in many ways
        raise ValueError(
            f"{path_or_state_dict!s} is not a torch checkpoint ({type(e).__name__}: {e})"
        ) from None


class _Unused(nn.Module):
    def forward(self, x):
        raise RuntimeError("no encoder was given to load_meru_checkpoint for this modality")


def load_meru_checkpoint(path_or_state_dict, image_encoder: nn.Module | None = None,
                         text_encoder: nn.Module | None = None) -> MERUHead:
    """Build a :class:`MERUHead` from a MERU checkpoint (a file or an already loaded dict).

    MERU's layout: a top-level ``"model"`` dict holding ``curv``, ``visual_alpha``,
    ``textual_alpha`` and ``logit_scale`` (as logs), ``visual_proj.weight``,
    ``textual_proj.weight``, the ``pixel_mean`` / ``pixel_std`` buffers (taken from the
    checkpoint, never assumed), and encoder weights under ``visual.*`` and ``textual.*``,
    loaded into ``image_encoder`` / ``text_encoder`` when given (and then required).
    Missing or unexpected keys raise a ``KeyError`` listing them. The head is returned in
    eval mode, where no clamp is applied (as in MERU's evaluation).
    """
    ckpt = _read(path_or_state_dict)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise ValueError("not a MERU checkpoint: expected a dict with a 'model' state dict")
    state = ckpt["model"]
    missing = [k for k in _HEAD_KEYS if k not in state]
    if missing:
        raise KeyError(f"MERU checkpoint is missing keys: {missing}")
    embed_dim, visual_dim = state["visual_proj.weight"].shape
    textual_dim = state["textual_proj.weight"].shape[1]
    head = MERUHead(image_encoder or _Unused(), text_encoder or _Unused(), visual_dim,
                    textual_dim, embed_dim, curv_init=float(state["curv"].exp()),
                    pixel_mean=state["pixel_mean"].flatten().tolist(),
                    pixel_std=state["pixel_std"].flatten().tolist())
    keep = {
        k: v
        for k, v in state.items()
        if k in _HEAD_KEYS
        or (image_encoder is not None and k.startswith("visual."))
        or (text_encoder is not None and k.startswith("textual."))
    }
    ignored = sorted(k for k in state if k not in keep and not k.startswith(("visual.", "textual.")))
    result = head.load_state_dict(keep, strict=False)
    absent = [k for k in result.missing_keys
              if k.startswith(("visual.", "textual.")) or k in _HEAD_KEYS]
    if absent or result.unexpected_keys or ignored:
        raise KeyError(
            "MERU checkpoint does not match the model: "
            f"missing {absent}, unexpected {sorted(result.unexpected_keys) + ignored}"
        )
    return head.eval()
