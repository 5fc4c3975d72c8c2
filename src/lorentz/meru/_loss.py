"""MERU's training loss: contrastive on negative Lorentz distance plus entailment cones;
HyCoCLIP's (Pal et al., ICLR 2025) adds box terms and per-pair-type aperture scales."""

from __future__ import annotations

import math

import numpy as np

import lorentz

from .. import _registry
from .._allpairs_autodiff import ops as allpairs_ops
from .._arguments import _check_dtype, compute_dtype, is_concrete, namespace


def _contrastive(image, text, targets, all_image, scale, curv, xp, fused, scheme=None):
    """MERU's symmetric cross-entropy from space parts, each direction's log-sum-exp streamed
    over tiles (the B x M logits are never stored): by the Triton kernels (``fused``) or by
    the reference tiles. The positive logits, B pairs, come from the exact distance, in the
    work dtype like the log-sum-exps, so lse - pos keeps its digits."""
    work = compute_dtype(xp, getattr(image, "device", None))
    caption = xp.take(text, targets, axis=0)

    def point(a):
        return lorentz.from_space(xp.astype(a, work), c=curv)

    pair = point(caption)
    pos = -scale * lorentz.dist(point(image), pair, c=curv)
    pos_back = (
        pos
        if all_image is None
        else -scale * lorentz.dist(pair, point(xp.take(all_image, targets, axis=0)), c=curv)
    )
    if fused:
        ops = _triton_ops()
        forward = ops.neg_dist_lse(image, text, curv, scale, scheme)
        back = ops.neg_dist_lse(
            caption, image if all_image is None else all_image, curv, scale, scheme
        )
    else:
        ops = allpairs_ops(xp)
        forward, by_text = ops.neg_dist_lse(image, text, curv, scale)
        # without gathered images the captions' logits are columns of the same tiles
        back = (
            xp.take(by_text, targets, axis=0)
            if all_image is None
            else ops.neg_dist_lse(caption, all_image, curv, scale)[0]
        )
    return 0.5 * (xp.mean(forward - pos) + xp.mean(back - pos_back))


def _one_direction(query, keys, targets, scale, curv, xp, fused, scheme=None):
    """mean_i CE(-s d(query_i, keys), targets_i), streamed over tiles as in _contrastive: the
    box terms of HyCoCLIP, each one direction (box images against the texts, box texts
    against the images)."""
    work = compute_dtype(xp, getattr(query, "device", None))

    def point(a):
        return lorentz.from_space(xp.astype(a, work), c=curv)

    pos = -scale * lorentz.dist(point(query), point(xp.take(keys, targets, axis=0)), c=curv)
    if fused:
        lse = _triton_ops().neg_dist_lse(query, keys, curv, scale, scheme)
    else:
        lse = allpairs_ops(xp).neg_dist_lse(query, keys, curv, scale)[0]
    return xp.mean(lse - pos)


def _triton_ops():
    from .._triton import ops

    return ops


def _use_triton(implementation, xp, curv, image) -> bool:
    """Whether the losses' all-pairs term runs on the Triton kernels: the registry's choice for
    its "neg_dist_lse" step (Triton for CUDA tensors where it can run, else the reference)."""
    implementation = _registry.split_scheme(implementation, "neg_dist_lse")[0]
    if implementation not in (None, "reference", "triton"):
        raise ValueError(
            f"meru_loss: implementation must be None, 'reference' or 'triton' (or "
            f"'triton:<scheme>'), got {implementation!r}"
        )
    try:
        chosen = _registry.select(
            "neg_dist_lse", implementation, xp, curv, image.dtype, getattr(image, "device", None)
        )
    except ValueError as e:
        raise ValueError(f"meru_loss: {e}") from None
    return chosen == "triton"


def _entailment(general, specific, eta, curv, xp):
    """mean(max(0, angle - eta * half_aperture)): ``specific`` should lie in the cone of
    ``general``, whose aperture is scaled by eta."""
    angle = lorentz.exterior_angle(general, specific, c=curv)
    excess = angle - eta * lorentz.half_aperture(general, c=curv)
    return xp.mean(xp.maximum(excess, xp.zeros_like(excess)))  # a Python 0.0 breaks torch.compile


def _scalar(name, value, xp):
    """A positive scalar parameter: Python and numpy numbers as a float, a one-element float
    array (learnable or not) as it is; anything else refused by name (a curvature per row
    gave a different loss on numpy and a reshape error on torch)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive float or a 0-d array, got a bool")
    if isinstance(value, (int, float, np.integer, np.floating)):
        value = float(value)
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be finite and > 0, got {value}")
        if name == "curv" and not math.isfinite(1.0 / value):  # points' x0 = sqrt(1/curv + ...)
            raise ValueError(f"curv must be finite and > 0 with 1/curv finite, got {value}")
        return value
    try:
        size = math.prod(value.shape)
        floating = xp.isdtype(value.dtype, "real floating")
    except (AttributeError, TypeError):
        raise TypeError(
            f"{name} must be a positive float or a 0-d array, got {type(value).__name__}"
        ) from None
    if size != 1 or not floating:
        raise ValueError(
            f"{name} must be one real floating-point value, got shape "
            f"{tuple(value.shape)} and dtype {value.dtype}"
        )
    if is_concrete(value) and not bool(xp.all(xp.isfinite(value) & (value > 0))):
        raise ValueError(f"{name} must be finite and > 0")
    if (
        name == "curv"
        and is_concrete(value)
        and not bool(xp.all(value >= xp.finfo(value.dtype).smallest_normal))
    ):
        raise ValueError("curv must be finite and > 0 with 1/curv finite")
    return value


def meru_loss(
    image,
    text,
    *,
    curv,
    logit_scale,
    entail_weight=0.2,
    targets=None,
    all_image=None,
    boxes=None,
    eta_inter=1.0,
    eta_intra=1.0,
    implementation=None,
):
    r"""MERU's loss on space-only embeddings; returns ``{"loss", "contrastive", "entailment"}``.

    contrastive = (CE(-s d(image, text), targets) + CE(-s d(text[targets], all_image), targets)) / 2
    entailment  = mean(max(0, oxy_angle(text[targets], image) - eta_inter * half_aperture(text[targets])))
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
        Weight of the entailment term (MERU's configurations: 0.2).
    targets : int array, shape (B,), optional
        Index into ``text`` of each image's caption; default ``arange(B)`` (then M >= B). On
        rank r of a data-parallel job with gathered texts: ``arange(B) + r * B``.
    all_image : array, shape (M, n), optional
        The images of every process, gathered (with gradients) in the order of ``text``, so
        that each caption is contrasted with all of them as in MERU's distributed training;
        then the mean of the processes' losses is the loss of the whole batch. Default:
        ``image`` itself (with ``targets`` taken as positions in ``text`` only).
    boxes : (array, array), optional
        ``(box_image, box_text)``, each (B, n): HyCoCLIP's loss, see :func:`hycoclip_loss`
        (which sets HyCoCLIP's aperture scales).
    eta_inter, eta_intra : float
        Aperture scales: ``eta_inter`` for text over image (and box text over box image),
        ``eta_intra`` for the box cones over the whole (boxes only). 1.0: MERU's cones.
    implementation : {None, "reference", "triton", "triton:float64", "triton:half", "triton:split"}
        None picks the Triton kernels for CUDA tensors (float16, bfloat16, float32) where
        triton is installed (the result then in float32 at least), the reference otherwise.
        The kernels compute by the scheme the precision rule picks for the GPU and the
        inputs' dtype (docs/gpu-precision.md: "float64" on A100/H100/B200 for float32,
        "split" for float32 elsewhere, "half" for float16/bfloat16); the environment
        variable LORENTZ_TRITON_PRECISION overrides the rule, and "triton:<scheme>" forces
        a scheme over both ("half" takes float16/bfloat16 inputs only). The reference on a
        CUDA device follows the same rule for its all-pairs GEMM.
        Both stream the contrastive term over tiles (online softmax; the reference's tiles
        are GEMMs of up to 32 MiB), so memory is linear in B + M, and both recompute their
        tiles in the backward pass.

    Notes
    -----
    Distances come from the exact :func:`lorentz.pairwise_dist`, so the loss and its
    gradients stay finite when an image and its caption coincide, where MERU's acosh clamp
    gives NaN gradients.
    """
    xp = namespace(image=image, text=text)
    for name, a in (("image", image), ("text", text)):
        _check_dtype(name, a, xp)
    curv = _scalar("curv", curv, xp)
    logit_scale = _scalar("logit_scale", logit_scale, xp)
    if image.ndim != 2 or text.ndim != 2 or image.shape[1] != text.shape[1]:
        raise ValueError(
            f"image and text must be (B, n) and (M, n), got {tuple(image.shape)} and {tuple(text.shape)}"
        )
    b = image.shape[0]
    own = xp.arange(b, device=getattr(image, "device", None))
    if targets is None:
        if text.shape[0] < b:
            raise ValueError(
                f"without targets, text needs at least B = {b} rows, got {text.shape[0]}"
            )
        targets = own
    elif tuple(targets.shape) != (b,):
        raise ValueError(f"targets must have shape ({b},), got {tuple(targets.shape)}")
    if boxes is not None:
        if not isinstance(boxes, (tuple, list)) or len(boxes) != 2:
            raise ValueError("boxes must be a pair (box_image, box_text)")
        for name, a in zip(("box_image", "box_text"), boxes):
            namespace(image=image, **{name: a})
            if tuple(a.shape) != tuple(image.shape):
                raise ValueError(
                    f"{name} must have the shape of image {tuple(image.shape)}, got {tuple(a.shape)}"
                )
    fused = _use_triton(implementation, xp, curv, image)
    scheme = _registry.split_scheme(implementation, "neg_dist_lse")[1]
    if scheme is not None:
        from .._triton import precision

        precision.check_scheme(scheme, image.dtype, "implementation")
    # the fused path computes in float32 at least (half-precision inputs under autocast)
    wide = xp.result_type(image.dtype, xp.float32) if fused else image.dtype

    def point(a):
        return lorentz.from_space(xp.astype(a, wide), c=curv)

    pi, pt = point(image), point(text)
    contrastive = _contrastive(
        image, text, targets, all_image, logit_scale, curv, xp, fused, scheme
    )
    caption = xp.take(pt, targets, axis=0)
    entailment = _entailment(caption, pi, eta_inter, curv, xp)
    if boxes is not None:
        # HyCoCLIP: the box images against all texts and the box texts against all images,
        # each with the targets of their whole image; the four terms averaged
        box_image, box_text = boxes
        images = image if all_image is None else all_image
        contrastive = 0.5 * contrastive + 0.25 * (
            _one_direction(box_image, text, targets, logit_scale, curv, xp, fused, scheme)
            + _one_direction(
                box_text,
                images,
                targets if all_image is not None else own,
                logit_scale,
                curv,
                xp,
                fused,
                scheme,
            )
        )
        bi, bt = point(box_image), point(box_text)
        # HyCoCLIP halves the sum of its four cone terms (not their mean)
        entailment = 0.5 * (
            entailment
            + _entailment(bt, bi, eta_inter, curv, xp)
            + _entailment(bi, pi, eta_intra, curv, xp)
            + _entailment(bt, caption, eta_intra, curv, xp)
        )
    # the log-sum-exps come in the work dtype
    contrastive, entailment = xp.astype(contrastive, wide), xp.astype(entailment, wide)
    return {
        "loss": contrastive + entail_weight * entailment,
        "contrastive": contrastive,
        "entailment": entailment,
    }


def hycoclip_loss(
    image,
    text,
    box_image,
    box_text,
    *,
    curv,
    logit_scale,
    entail_weight=0.2,
    targets=None,
    all_image=None,
    eta_inter=0.7,
    eta_intra=1.2,
    implementation=None,
):
    r"""HyCoCLIP's loss (Pal et al., ICLR 2025) on space-only embeddings; returns
    ``{"loss", "contrastive", "entailment"}``.

    With T = ``text`` (M rows), I = ``all_image`` (default ``image``), t = ``targets``
    (default ``arange(B)``), CE(q, K) = mean_i CE(-s d(q_i, K), t_i) and
    E(g, x, eta) = mean(max(0, oxy_angle(g, x) - eta * half_aperture(g))):

    contrastive = (CE(image, T) + CE(T[t], I) + CE(box_image, T) + CE(box_text, I)) / 4
    entailment  = (E(T[t], image, 0.7) + E(box_text, box_image, 0.7)
                   + E(box_image, image, 1.2) + E(box_text, T[t], 1.2)) / 2
    loss        = contrastive + entail_weight * entailment.

    ``box_image`` and ``box_text`` (B, n) are a region of each image and the phrase that
    names it. The four contrastive directions stream over tiles as :func:`meru_loss`'s do
    (memory linear in the batch). ``eta_inter`` (0.7, text over image) and ``eta_intra``
    (1.2, box over whole) are HyCoCLIP's aperture scales; other arguments as in
    :func:`meru_loss`.
    """
    return meru_loss(
        image,
        text,
        curv=curv,
        logit_scale=logit_scale,
        entail_weight=entail_weight,
        targets=targets,
        all_image=all_image,
        boxes=(box_image, box_text),
        eta_inter=eta_inter,
        eta_intra=eta_intra,
        implementation=implementation,
    )
