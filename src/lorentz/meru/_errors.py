"""The adapter's named errors (no torch import: ``from lorentz.meru import ...Error`` is light)."""

from __future__ import annotations


class MERUCheckpointError(ValueError):
    """A checkpoint that is not in MERU's layout or holds values MERU could not have saved
    (NaN or infinite scalars, a zero curvature, wrong shapes, missing or foreign keys). The
    message names the field."""


class EncoderOutputError(ValueError):
    """An encoder returned features of a shape the head's contract does not accept, e.g. a
    per-token (B, T, E) text output where pooled (B, E) features are expected."""
