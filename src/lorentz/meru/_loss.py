"""MERU's training loss: contrastive on negative Lorentz distance plus entailment cones."""

from __future__ import annotations

import lorentz

from .._backend import namespace


def _logsumexp(a, xp):
    m = xp.max(a, axis=1, keepdims=True)
    return m[:, 0] + xp.log(xp.sum(xp.exp(a - m), axis=1))


def meru_loss(image, text, *, curv, logit_scale, entail_weight=0.2, targets=None,
              all_image=None, aperture_scale=1.0, implementation=None):
    r"""MERU's loss on space-only embeddings; returns ``{"loss", "contrastive", "entailment"}``.

    contrastive = (CE(-s d(image, text), targets) + CE(-s d(text[targets], all_image), targets)) / 2
    entailment  = mean(max(0, oxy_angle(text[targets], image) - aperture_scale * half_aperture(text[targets])))
    loss        = contrastive + entail_weight * entailment,

    with s = ``logit_scale`` (the multiplier itself, MERU's ``logit_scale.exp()``).

    Parameters
    ----------
    image : array, shape (B, n)
        Space components of this process's image embeddings.
    text : array, shape (M, n)
        Space components of text embeddings; with several processes, the all-gathered batch.
    curv, logit_scale : float or 0-d array
        Curvature -curv and logit multiplier; learnable tensors receive gradients.
    entail_weight : float
        Weight of the entailment term (MERU: 0.2).
    targets : int array, shape (B,), optional
        Index into ``text`` of each image's caption; default ``arange(B)`` (then M >= B). On
        rank r of a data-parallel job with gathered texts: ``arange(B) + r * B``.
    all_image : array, shape (M, n), optional
        The images of every process, gathered (with gradients) in the order of ``text``, so
        that each caption is contrasted with all of them as in MERU's distributed training;
        then the mean of the processes' losses is the loss of the whole batch. Default:
        ``image`` itself (with ``targets`` taken as positions in ``text`` only).
    aperture_scale : float
        Scales the half-aperture (HyCoCLIP's eta for a pair type); 1.0 is MERU's loss.
    implementation : {None, "reference"}
        Only the reference is available in this version.

    Notes
    -----
    Distances come from the exact :func:`lorentz.pairwise_dist`, so the loss and its
    gradients stay finite when an image and its caption coincide, where MERU's acosh clamp
    gives NaN gradients.
    """
    if implementation not in (None, "reference"):
        raise ValueError(f"meru_loss: implementation={implementation!r} is not available; use None")
    xp = namespace(image=image, text=text)
    if image.ndim != 2 or text.ndim != 2:
        raise ValueError(f"image and text must be (B, n) and (M, n), got {tuple(image.shape)} and {tuple(text.shape)}")
    b = image.shape[0]
    if targets is None:
        if text.shape[0] < b:
            raise ValueError(f"without targets, text needs at least B = {b} rows, got {text.shape[0]}")
        targets = xp.arange(b)
    elif tuple(targets.shape) != (b,):
        raise ValueError(f"targets must have shape ({b},), got {tuple(targets.shape)}")
    pi, pt = lorentz.from_space(image, c=curv), lorentz.from_space(text, c=curv)
    logits = -logit_scale * lorentz.pairwise_dist(pi, pt, c=curv)  # (B, M)
    ce_image = _logsumexp(logits, xp) - xp.take_along_axis(logits, targets[:, None], axis=1)[:, 0]
    caption = xp.take(pt, targets, axis=0)
    if all_image is None:  # captions against this batch's images: the (B, B) block of logits
        to_image = xp.permute_dims(xp.take(logits, targets, axis=1), (1, 0))
        labels = xp.arange(b)
    else:
        to_image = -logit_scale * lorentz.pairwise_dist(
            caption, lorentz.from_space(all_image, c=curv), c=curv)
        labels = targets
    ce_text = _logsumexp(to_image, xp) - xp.take_along_axis(to_image, labels[:, None], axis=1)[:, 0]
    contrastive = 0.5 * (xp.mean(ce_image) + xp.mean(ce_text))
    angle = lorentz.exterior_angle(caption, pi, c=curv)
    aperture = lorentz.half_aperture(caption, c=curv)
    entailment = xp.mean(xp.maximum(angle - aperture_scale * aperture, 0.0))
    return {
        "loss": contrastive + entail_weight * entailment,
        "contrastive": contrastive,
        "entailment": entailment,
    }
