"""MERUHead: MERU's projection, scaling and lifting on top of any pair of encoders (torch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._errors import EncoderOutputError
from ._functions import exp_map0
from ._loss import hycoclip_loss, meru_loss

_POOLINGS = ("eot", None)


def pad_tokens(tokens, context_length: int | None = 77, *, device=None) -> torch.Tensor:
    """MERU's batching of tokenized captions: a list of 1-D integer tensors (its tokenizer's
    output, start and end-of-text tokens included) into one (B, T) tensor.

    A caption longer than ``context_length`` is cut to that length with its last token
    (the end-of-text token) kept in the last place; the rows are then right-padded with 0 to
    the longest row (not to ``context_length``), as MERU's ``encode_text`` does. ``None``
    cuts nothing.
    """
    if not isinstance(tokens, (list, tuple)) or len(tokens) == 0:
        raise ValueError("tokens must be a non-empty list of 1-D integer tensors")
    rows = []
    for i, row in enumerate(tokens):
        if not isinstance(row, torch.Tensor) or row.ndim != 1 or row.numel() == 0:
            got = tuple(row.shape) if isinstance(row, torch.Tensor) else type(row).__name__
            raise ValueError(f"tokens[{i}] must be a non-empty 1-D integer tensor, got {got}")
        if row.dtype.is_floating_point or row.dtype.is_complex or row.dtype == torch.bool:
            raise TypeError(f"tokens[{i}] must hold integer token ids, got {row.dtype}")
        if context_length is not None and row.numel() > context_length:
            row = torch.cat([row[: context_length - 1], row[-1:]])
        rows.append(row.to(device) if device is not None else row)
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)


def _check_positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")


class MERUHead(nn.Module):
    """Image and text encoders with Euclidean outputs, lifted onto the hyperboloid as MERU does.

    ``encode_image(images)`` = exp_map0(visual_proj(image_encoder(images)) * exp(visual_alpha)),
    likewise for text; embeddings are space components (time implicit), curvature -exp(curv).
    The projection and lifting run in float32 even under autocast, and in float64 after
    ``.double()`` (the wider of the features' and the head's dtype, at least float32).

    Parameters
    ----------
    image_encoder : nn.Module
        Maps normalised images (B, 3, H, W) to features (B, visual_dim), as MERU's timm ViT
        built with ``num_classes=0`` does (the class token after the final norm).
    text_encoder : nn.Module
        The text-encoder contract: it is called with one (B, T) integer tensor of token ids,
        right-padded with 0, T <= ``context_length``, and returns

        - with ``text_pooling="eot"`` (default): per-token features (B, T, textual_dim), as
          MERU's ``TransformerTextEncoder`` does; the head takes each row's features at the
          position of its largest token id, which is the end-of-text token in MERU's (CLIP's)
          vocabulary (id 49407 of 49408), as MERU does;
        - with ``text_pooling=None``: pooled features (B, textual_dim).

        Any other shape raises :class:`EncoderOutputError`. Tokens are given to
        ``encode_text`` either as MERU's tokenizer returns them (a list of 1-D tensors, then
        cut and padded by :func:`pad_tokens`) or already padded as a (B, T) tensor.
    visual_dim, textual_dim : int
        Feature widths of the encoders.
    embed_dim : int
        Width of the hyperbolic embedding (space components).
    curv_init : float
        Initial curvature; training clamps it to [curv_init / 10, curv_init * 10], the range
        MERU derives from the same argument (1.0 in all of MERU's configurations).
    learn_curv : bool
        Whether the curvature is trained (MERU: True).
    entail_weight : float
        Weight of the entailment loss (MERU's and HyCoCLIP's training configurations: 0.2).
    pixel_mean, pixel_std : 3 floats
        Image normalisation, stored as buffers of shape (3, 1, 1) as in MERU's state dict.
    text_pooling : {"eot", None}
        See ``text_encoder``.
    context_length : int, optional
        Longest token sequence the text encoder accepts; default: the encoder's
        ``context_length`` attribute (77 in MERU), else no limit.
    """

    def __init__(
        self,
        image_encoder: nn.Module,
        text_encoder: nn.Module,
        visual_dim: int,
        textual_dim: int,
        embed_dim: int,
        *,
        curv_init: float = 1.0,
        learn_curv: bool = True,
        entail_weight: float = 0.2,
        pixel_mean=(0.485, 0.456, 0.406),
        pixel_std=(0.229, 0.224, 0.225),
        text_pooling: str | None = "eot",
        context_length: int | None = None,
    ):
        super().__init__()
        _check_positive("curv_init", curv_init)
        if not isinstance(learn_curv, bool):
            raise TypeError(f"learn_curv must be a bool, got {type(learn_curv).__name__}")
        if isinstance(entail_weight, bool) or not isinstance(entail_weight, (int, float)):
            raise TypeError(
                f"entail_weight must be a real number, got {type(entail_weight).__name__}"
            )
        if not (math.isfinite(entail_weight) and entail_weight >= 0):
            raise ValueError(f"entail_weight must be finite and >= 0, got {entail_weight}")
        if text_pooling not in _POOLINGS:
            raise ValueError(f"text_pooling must be 'eot' or None, got {text_pooling!r}")
        if context_length is None:
            context_length = getattr(text_encoder, "context_length", None)
        if context_length is not None and (
            isinstance(context_length, bool)
            or not isinstance(context_length, int)
            or context_length < 2
        ):
            raise ValueError(f"context_length must be an integer >= 2, got {context_length!r}")
        self.visual = image_encoder
        self.textual = text_encoder
        self.visual_proj = nn.Linear(visual_dim, embed_dim, bias=False)
        self.textual_proj = nn.Linear(textual_dim, embed_dim, bias=False)
        # alphas and logit scale are stored as logs, as in MERU's checkpoints
        self.visual_alpha = nn.Parameter(torch.tensor(embed_dim**-0.5).log())
        self.textual_alpha = nn.Parameter(torch.tensor(embed_dim**-0.5).log())
        self.curv = nn.Parameter(torch.tensor(float(curv_init)).log(), requires_grad=learn_curv)
        self.logit_scale = nn.Parameter(torch.tensor(1 / 0.07).log())
        # MERU keeps the clamp range as a plain attribute derived from curv_init, outside the
        # state dict: a checkpoint restores the curvature, never its range
        self.curv_init = float(curv_init)
        self._curv_minmax = {"min": math.log(curv_init / 10), "max": math.log(curv_init * 10)}
        self.entail_weight = float(entail_weight)
        self.text_pooling = text_pooling
        self.context_length = context_length
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1))

    def _clamp(self) -> None:
        """MERU's training-time clamps; evaluation (eval mode) applies none."""
        if self.training:
            with torch.no_grad():
                self.curv.clamp_(self._curv_minmax["min"], self._curv_minmax["max"])
                self.visual_alpha.clamp_(max=0.0)
                self.textual_alpha.clamp_(max=0.0)
                self.logit_scale.clamp_(max=math.log(100.0))

    def _dtype(self, feats):
        wide = torch.promote_types(feats.dtype, self.visual_proj.weight.dtype)
        return torch.promote_types(wide, torch.float32)

    def _project(self, feats, proj):
        with torch.autocast(feats.device.type, enabled=False):
            dtype = self._dtype(feats)
            return nn.functional.linear(feats.to(dtype), proj.weight.to(dtype))

    def _exp(self, feats, alpha):
        with torch.autocast(feats.device.type, enabled=False):
            return exp_map0(feats * alpha.exp().to(feats.dtype), self.curv.exp().to(feats.dtype))

    def image_features(self, images):
        """Projected image features before alpha scaling and exp_map0."""
        images = (images - self.pixel_mean) / self.pixel_std
        feats = self.visual(images)
        if (
            not isinstance(feats, torch.Tensor)
            or feats.ndim != 2
            or feats.shape[0] != images.shape[0]
        ):
            got = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
            raise EncoderOutputError(
                f"image_encoder must return features of shape (B, visual_dim) = "
                f"({images.shape[0]}, {self.visual_proj.in_features}), got {got}"
            )
        return self._project(feats, self.visual_proj)

    def _tokens(self, tokens):
        device = self.logit_scale.device
        if isinstance(tokens, (list, tuple)):
            return pad_tokens(tokens, self.context_length, device=device)
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2:
            got = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            raise ValueError(
                f"tokens must be a (B, T) integer tensor or a list of 1-D tensors, got {got}"
            )
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise TypeError(f"tokens must hold integer token ids, got {tokens.dtype}")
        if self.context_length is not None and tokens.shape[1] > self.context_length:
            raise ValueError(
                f"tokens have {tokens.shape[1]} positions, more than the text encoder's "
                f"context_length {self.context_length}: pass the list of token tensors to cut "
                "them as MERU does (end-of-text token kept)"
            )
        return tokens.to(device)

    def _pooled_text(self, tokens):
        tokens = self._tokens(tokens)
        feats = self.textual(tokens)
        b, t = tokens.shape
        got = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
        if self.text_pooling == "eot":
            if (
                not isinstance(feats, torch.Tensor)
                or feats.ndim != 3
                or tuple(feats.shape[:2]) != (b, t)
            ):
                raise EncoderOutputError(
                    f"text_encoder must return per-token features (B, T, textual_dim) = "
                    f"({b}, {t}, {self.textual_proj.in_features}) with text_pooling='eot', got "
                    f"{got}; an encoder that pools itself needs text_pooling=None"
                )
            # the end-of-text token has the largest id in MERU's vocabulary
            return feats[
                torch.arange(b, device=feats.device), tokens.argmax(dim=-1).to(feats.device)
            ]
        if not isinstance(feats, torch.Tensor) or feats.ndim != 2 or feats.shape[0] != b:
            raise EncoderOutputError(
                f"text_encoder must return pooled features (B, textual_dim) = "
                f"({b}, {self.textual_proj.in_features}) with text_pooling=None, got {got}"
                + (
                    "; a per-token output such as MERU's needs text_pooling='eot'"
                    if isinstance(feats, torch.Tensor) and feats.ndim == 3
                    else ""
                )
            )
        return feats

    def text_features(self, tokens):
        """Projected text features before alpha scaling and exp_map0: tangent vectors at the
        origin, where prompt ensembles are averaged."""
        return self._project(self._pooled_text(tokens), self.textual_proj)

    def encode_image(self, images):
        self._clamp()
        return self._exp(self.image_features(images), self.visual_alpha)

    def encode_text(self, tokens):
        self._clamp()
        return self._exp(self.text_features(tokens), self.textual_alpha)

    def lift_text_features(self, feats):
        """exp_map0(feats * exp(textual_alpha)) of features from :meth:`text_features`."""
        return self._exp(feats.to(self._dtype(feats)), self.textual_alpha)

    def loss(self, images, tokens, *, boxes=None, gather=None):
        """MERU's loss and its parts (dict); with ``boxes=(box_images, box_tokens)``,
        HyCoCLIP's (:func:`lorentz.meru.hycoclip_loss`, its aperture scales 0.7 and 1.2).

        ``gather`` (e.g. an all-gather with gradients across processes, returning the
        concatenation in rank order) makes every caption and image meet the whole global
        batch, as in MERU's distributed training."""
        image, text = self.encode_image(images), self.encode_text(tokens)
        box_image = box_text = None
        if boxes is not None:
            box_image, box_text = self.encode_image(boxes[0]), self.encode_text(boxes[1])
        targets = all_image = None
        if gather is not None:
            import torch.distributed as dist

            b = image.shape[0]
            targets = torch.arange(b, device=image.device) + dist.get_rank() * b
            text, all_image = gather(text), gather(image)
        common = {
            "curv": self.curv.exp(),
            "logit_scale": self.logit_scale.exp(),
            "entail_weight": self.entail_weight,
            "targets": targets,
            "all_image": all_image,
        }
        if boxes is None:
            return meru_loss(image, text, **common)
        return hycoclip_loss(image, text, box_image, box_text, **common)

    def forward(self, images, tokens):
        return self.loss(images, tokens)
