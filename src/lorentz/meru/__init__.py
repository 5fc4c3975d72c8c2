"""MERU adapter: ``from lorentz import meru as L`` replaces ``from meru import lorentz as L``.

Drop-in functions on space-only arrays (any backend), MERU's and HyCoCLIP's losses, and,
with torch installed, the model head, checkpoint loading and evaluation helpers.
"""

from ._errors import EncoderOutputError, MERUCheckpointError
from ._functions import exp_map0, half_aperture, log_map0, oxy_angle, pairwise_dist, pairwise_inner
from ._loss import hycoclip_loss, meru_loss

__all__ = [
    "EncoderOutputError",
    "MERUCheckpointError",
    "MERUHead",
    "exp_map0",
    "half_aperture",
    "hycoclip_loss",
    "load_meru_checkpoint",
    "log_map0",
    "meru_loss",
    "oxy_angle",
    "pad_tokens",
    "pairwise_dist",
    "pairwise_inner",
    "retrieval_recall",
    "zero_shot_classification",
]


def __getattr__(name):
    # the torch-only parts import torch on first use, never at ``import lorentz.meru``
    if name in ("MERUHead", "pad_tokens"):
        from . import _head

        return getattr(_head, name)
    if name == "load_meru_checkpoint":
        from ._checkpoint import load_meru_checkpoint

        return load_meru_checkpoint
    if name in ("zero_shot_classification", "retrieval_recall"):
        from . import _evaluation

        return getattr(_evaluation, name)
    raise AttributeError(name)
