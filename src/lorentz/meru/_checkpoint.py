"""load_meru_checkpoint: MERU's (and HyCoCLIP's) checkpoints into a MERUHead, every field
validated, without executing code from the file."""

from __future__ import annotations

import io
import math
import os
import pickle

import torch
from torch import nn

from ._errors import MERUCheckpointError
from ._head import MERUHead

_SCALARS = ("curv", "visual_alpha", "textual_alpha", "logit_scale")
_HEAD_KEYS = (*_SCALARS, "visual_proj.weight", "textual_proj.weight", "pixel_mean", "pixel_std")
# MERU registers pixel_mean / pixel_std as (3, 1, 1); (1, 3, 1, 1) is what this adapter saved
# before it took MERU's layout, still read
_PIXEL_SHAPES = ((3, 1, 1), (1, 3, 1, 1))


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
        raise MERUCheckpointError(
            f"{path_or_state_dict!s} is not a plain weights checkpoint: loading it would execute "
            f"code from the file, which is refused (torch.load weights_only=True): {e}"
        ) from None
    except FileNotFoundError:
        raise
    except Exception as e:  # torch reports a file that is not a checkpoint in many ways
        raise MERUCheckpointError(
            f"{path_or_state_dict!s} is not a torch checkpoint ({type(e).__name__}: {e})"
        ) from None


class _Unused(nn.Module):
    def forward(self, x):
        raise RuntimeError("no encoder was given to load_meru_checkpoint for this modality")


def _field(name):
    return f"checkpoint['model'][{name!r}]"


def _tensor(state, name, ndim=None):
    value = state[name]
    if not isinstance(value, torch.Tensor):
        raise MERUCheckpointError(f"{_field(name)} must be a tensor, got {type(value).__name__}")
    if not value.dtype.is_floating_point:
        raise MERUCheckpointError(f"{_field(name)} must be floating point, got {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise MERUCheckpointError(
            f"{_field(name)} must have {ndim} dimensions, got shape {tuple(value.shape)}"
        )
    if not bool(torch.isfinite(value).all()):
        raise MERUCheckpointError(f"{_field(name)} holds NaN or infinite values")
    return value


def _validate_head(state) -> dict:
    """The head's tensors checked one by one; returns them in MERUHead's layout."""
    missing = [k for k in _HEAD_KEYS if k not in state]
    if missing:
        raise MERUCheckpointError(f"checkpoint['model'] is missing MERU's keys {missing}")
    out = {}
    for name in _SCALARS:
        value = _tensor(state, name, ndim=0)
        # stored as logs: exp must be a positive finite number in the stored dtype
        e = float(value.exp())
        if not (math.isfinite(e) and e > 0):
            what = "curvature" if name == "curv" else "value"
            raise MERUCheckpointError(
                f"{_field(name)} = {float(value)} is a log whose {what} exp() = {e} is not a "
                "positive finite number"
            )
        out[name] = value
    vp = _tensor(state, "visual_proj.weight", ndim=2)
    tp = _tensor(state, "textual_proj.weight", ndim=2)
    if vp.shape[0] != tp.shape[0] or vp.shape[0] == 0:
        raise MERUCheckpointError(
            f"{_field('visual_proj.weight')} {tuple(vp.shape)} and "
            f"{_field('textual_proj.weight')} {tuple(tp.shape)} must project to the same "
            "embedding width (their first dimension)"
        )
    out["visual_proj.weight"], out["textual_proj.weight"] = vp, tp
    for name in ("pixel_mean", "pixel_std"):
        value = _tensor(state, name)
        if tuple(value.shape) not in _PIXEL_SHAPES:
            raise MERUCheckpointError(
                f"{_field(name)} must have MERU's shape (3, 1, 1), got {tuple(value.shape)}"
            )
        if name == "pixel_std" and not bool((value > 0).all()):
            raise MERUCheckpointError(f"{_field(name)} must be > 0, got {value.flatten().tolist()}")
        out[name] = value.reshape(3, 1, 1)
    return out


def _encoder_state(state, prefix, encoder, argument):
    """The checkpoint's ``prefix.*`` tensors for ``encoder``: the same keys, shapes, and finite
    floating values, or a MERUCheckpointError listing what differs."""
    given = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    wanted = encoder.state_dict()
    missing = sorted(prefix + k for k in wanted if k not in given)
    unexpected = sorted(prefix + k for k in given if k not in wanted)
    if missing or unexpected:
        raise MERUCheckpointError(
            f"checkpoint does not match {argument}: missing {missing}, unexpected {unexpected}"
        )
    for k, v in given.items():
        if not isinstance(v, torch.Tensor):
            raise MERUCheckpointError(
                f"{_field(prefix + k)} must be a tensor, got {type(v).__name__}"
            )
        if tuple(v.shape) != tuple(wanted[k].shape):
            raise MERUCheckpointError(
                f"{_field(prefix + k)} has shape {tuple(v.shape)}, {argument} expects "
                f"{tuple(wanted[k].shape)}"
            )
        if v.dtype.is_floating_point and not bool(torch.isfinite(v).all()):
            raise MERUCheckpointError(f"{_field(prefix + k)} holds NaN or infinite values")
    return given


def load_meru_checkpoint(
    path_or_state_dict,
    image_encoder: nn.Module | None = None,
    text_encoder: nn.Module | None = None,
    *,
    curv_init: float = 1.0,
    learn_curv: bool = True,
    entail_weight: float = 0.2,
    text_pooling: str | None = "eot",
    context_length: int | None = None,
) -> MERUHead:
    """Build a :class:`MERUHead` from a MERU or HyCoCLIP checkpoint (a file or a loaded dict).

    The layout is the one MERU's ``CheckpointManager`` writes: a dict with the model's state
    dict under ``"model"`` (beside ``"optimizer"``, ``"scheduler"``, ``"scaler"`` and
    ``"iteration"``, which are ignored). The state dict holds ``curv``, ``visual_alpha``,
    ``textual_alpha`` and ``logit_scale`` (0-d, as logs), ``visual_proj.weight`` and
    ``textual_proj.weight`` (embed_dim x width), the ``pixel_mean`` / ``pixel_std`` buffers
    of shape (3, 1, 1) (taken from the file, never assumed), and the encoders' weights under
    ``visual.*`` and ``textual.*``. Those are loaded into ``image_encoder`` /
    ``text_encoder`` when given, which must then have exactly the checkpoint's keys and
    shapes (MERU's text encoder is passed unchanged: the head pools its per-token output,
    see :class:`MERUHead`); without an encoder its keys are ignored.

    Every field is validated before anything is loaded: a top level that is not a dict with a
    ``"model"`` dict, missing or foreign keys, tensors of the wrong shape or dtype, NaN or
    infinite values, a zero or infinite curvature, a non-positive ``pixel_std`` raise
    :class:`MERUCheckpointError` naming the field; nothing is ever executed from the file
    (``torch.load(weights_only=True)``).

    ``curv_init``, ``learn_curv`` and ``entail_weight`` are the constructor arguments MERU
    trains with (its configurations: 1.0, True, 0.2) and are not in the checkpoint. As in
    MERU, the curvature's training clamp [curv_init / 10, curv_init * 10] comes from
    ``curv_init``, not from the curvature stored in the file. The head is returned in eval
    mode, where no clamp is applied (as in MERU's evaluation).
    """
    ckpt = _read(path_or_state_dict)
    if not isinstance(ckpt, dict):
        raise MERUCheckpointError(
            f"not a MERU checkpoint: expected a dict with a 'model' state dict, got "
            f"{type(ckpt).__name__}"
        )
    if "model" not in ckpt:
        raise MERUCheckpointError(
            "not a MERU checkpoint: no 'model' state dict among its keys "
            f"{sorted(map(str, ckpt))[:10]}"
        )
    state = ckpt["model"]
    if not isinstance(state, dict):
        raise MERUCheckpointError(
            f"checkpoint['model'] must be a state dict, got {type(state).__name__}"
        )
    bad_keys = [k for k in state if not isinstance(k, str)]
    if bad_keys:
        raise MERUCheckpointError(
            f"checkpoint['model'] has keys that are not strings: {bad_keys[:5]}"
        )
    foreign = sorted(
        k for k in state if k not in _HEAD_KEYS and not k.startswith(("visual.", "textual."))
    )
    if foreign:
        raise MERUCheckpointError(f"checkpoint['model'] has keys MERU does not have: {foreign}")
    head_state = _validate_head(state)
    encoders = {}
    if image_encoder is not None:
        encoders.update(
            {
                "visual." + k: v
                for k, v in _encoder_state(state, "visual.", image_encoder, "image_encoder").items()
            }
        )
    if text_encoder is not None:
        encoders.update(
            {
                "textual." + k: v
                for k, v in _encoder_state(state, "textual.", text_encoder, "text_encoder").items()
            }
        )
    embed_dim, visual_dim = head_state["visual_proj.weight"].shape
    textual_dim = head_state["textual_proj.weight"].shape[1]
    head = MERUHead(
        image_encoder or _Unused(),
        text_encoder or _Unused(),
        visual_dim,
        textual_dim,
        embed_dim,
        curv_init=curv_init,
        learn_curv=learn_curv,
        entail_weight=entail_weight,
        text_pooling=text_pooling,
        context_length=context_length,
    )
    result = head.load_state_dict({**head_state, **encoders}, strict=False)
    # everything was checked above; what load_state_dict still reports is an encoder left out
    left = [k for k in result.missing_keys if not k.startswith(("visual.", "textual."))]
    assert not left and not result.unexpected_keys, (left, result.unexpected_keys)
    return head.eval()
