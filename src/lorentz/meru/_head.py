"""MERUHead: MERU's projection, scaling and lifting on top of any pair of encoders (torch)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._functions import exp_map0
from ._loss import meru_loss


class MERUHead(nn.Module):
    """Image and text encoders with Euclidean outputs, lifted onto the hyperboloid as MERU does.

    ``encode_image(images)`` = exp_map0(visual_proj(image_encoder(images)) * exp(visual_alpha)),
    likewise for text; embeddings are space components (time implicit), curvature -exp(curv),
    computed in float32 even under autocast.

    Parameters
    ----------
    image_encoder, text_encoder : nn.Module
        Map a batch to features of width ``visual_dim`` / ``textual_dim``.
    visual_dim, textual_dim : int
        Feature widths of the encoders.
    embed_dim : int
        Width of the hyperbolic embedding (space components).
    curv_init : float
        Initial curvature parameter; training clamps it to [curv_init / 10, curv_init * 10].
    learn_curv : bool
        Whether the curvature is trained.
    entail_weight : float
        Weight of the entailment loss.

    Buffers ``pixel_mean`` and ``pixel_std`` (shape (1, 3, 1, 1)) normalise images; they come
    from the checkpoint when loaded with :func:`load_meru_checkpoint`.
    """

    def __init__(self, image_encoder: nn.Module, text_encoder: nn.Module, visual_dim: int,
                 textual_dim: int, embed_dim: int, *, curv_init: float = 1.0,
                 learn_curv: bool = True, entail_weight: float = 0.2,
                 pixel_mean=(0.485, 0.456, 0.406), pixel_std=(0.229, 0.224, 0.225)):
        super().__init__()
        self.visual = image_encoder
        self.textual = text_encoder
        self.visual_proj = nn.Linear(visual_dim, embed_dim, bias=False)
        self.textual_proj = nn.Linear(textual_dim, embed_dim, bias=False)
        # alphas and logit scale are stored as logs, as in MERU's checkpoints
        self.visual_alpha = nn.Parameter(torch.tensor(embed_dim**-0.5).log())
        self.textual_alpha = nn.Parameter(torch.tensor(embed_dim**-0.5).log())
        self.curv = nn.Parameter(torch.tensor(curv_init).log(), requires_grad=learn_curv)
        self.logit_scale = nn.Parameter(torch.tensor(1 / 0.07).log())
        self._curv_minmax = (math.log(curv_init / 10), math.log(curv_init * 10))
        self.entail_weight = entail_weight
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, -1, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, -1, 1, 1))

    def _clamp(self) -> None:
        """MERU's training-time clamps; evaluation (eval mode) applies none."""
        if self.training:
            with torch.no_grad():
                self.curv.clamp_(*self._curv_minmax)
                self.visual_alpha.clamp_(max=0.0)
                self.textual_alpha.clamp_(max=0.0)
                self.logit_scale.clamp_(max=math.log(100.0))

    def _lift(self, feats, proj, alpha):
        with torch.autocast(feats.device.type, enabled=False):
            feats = proj(feats.float()) * alpha.exp()
            return exp_map0(feats, self.curv.exp())

    def encode_image(self, images):
        self._clamp()
        images = (images - self.pixel_mean) / self.pixel_std
        return self._lift(self.visual(images), self.visual_proj, self.visual_alpha)

    def encode_text(self, tokens):
        self._clamp()
        return self._lift(self.textual(tokens), self.textual_proj, self.textual_alpha)

    def text_features(self, tokens):
        """Projected text features before alpha scaling and exp_map0: tangent vectors at the
        origin, where prompt ensembles are averaged."""
        return self.textual_proj(self.textual(tokens).float())

    def lift_text_features(self, feats):
        """exp_map0(feats * exp(textual_alpha)) of features from :meth:`text_features`."""
        with torch.autocast(feats.device.type, enabled=False):
            return exp_map0(feats.float() * self.textual_alpha.exp(), self.curv.exp())

    def loss(self, images, tokens, *, gather=None):
        """MERU's loss and its parts (dict). ``gather`` (e.g. an all-gather with gradients
        across processes, returning the concatenation in rank order) makes every caption and
        image meet the whole global batch, as in MERU's distributed training."""
        image, text = self.encode_image(images), self.encode_text(tokens)
        targets = all_image = None
        if gather is not None:
            import torch.distributed as dist

            b = image.shape[0]
            targets = torch.arange(b, device=image.device) + dist.get_rank() * b
            text, all_image = gather(text), gather(image)
        return meru_loss(image, text, curv=self.curv.exp(), logit_scale=self.logit_scale.exp(),
                         entail_weight=self.entail_weight, targets=targets, all_image=all_image)

    def forward(self, images, tokens):
        return self.loss(images, tokens)
