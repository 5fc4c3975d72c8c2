"""MERU adapter: ``from lorentz import meru as L`` replaces ``from meru import lorentz as L``.

Drop-in functions on space-only arrays (any backend), the contrastive + entailment loss, and,
with torch installed, the model head, checkpoint loading and evaluation helpers.
"""

from ._functions import exp_map0, half_aperture, log_map0, oxy_angle, pairwise_dist, pairwise_inner
from ._loss import meru_loss

__all__ = [
    "exp_map0",
    "half_aperture",
    "log_map0",
    "oxy_angle",
    "pairwise_dist",
    "pairwise_inner",
    "meru_loss",
    "MERUHead",
    "load_meru_checkpoint",
    "zero_shot_classification",
    "retrieval_recall",
]


def __getattr__(name):
    # the torch-only parts import torch on first use, never at ``import lorentz.meru``
    if name == "MERUHead":
        from ._head import MERUHead

        return MERUHead
    if name == "load_meru_checkpoint":
        from ._checkpoint import load_meru_checkpoint

        return load_meru_checkpoint
    if name in ("zero_shot_classification", "retrieval_recall"):
        from . import _evaluation

        return getattr(_evaluation, name)
    raise AttributeError(name)
