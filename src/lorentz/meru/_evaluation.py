"""Zero-shot classification and image <-> text retrieval on MERU embeddings (torch)."""

from __future__ import annotations

import torch

import lorentz

from ._functions import pairwise_inner


@torch.no_grad()
def zero_shot_classification(head, images, labels, class_prompts):
    """Top-1 and macro (mean per-class) accuracy of zero-shot classification, as fractions.

    MERU reports ``100 * macro`` (torchmetrics' MulticlassAccuracy, whose default average is
    "macro", times 100); the mean is over the classes present in ``labels``.

    The prompts of a class are averaged as tangent vectors at the origin (after projection,
    before alpha scaling and exp_map0, as MERU does); images are scored against classes by
    the Lorentzian inner product (larger is closer).

    Parameters
    ----------
    head : MERUHead
    images : tensor, a batch for ``head.encode_image``
    labels : int tensor, shape (B,)
    class_prompts : sequence of token batches, one per class (several prompts each), each a
        (P, T) tensor or a list of 1-D token tensors as MERU's tokenizer returns them

    Returns
    -------
    dict
        ``"top1"`` and ``"macro"`` (floats) and ``"predictions"`` (int tensor, shape (B,)).
    """
    image = head.encode_image(images)
    classes = torch.stack([head.text_features(t).mean(dim=0) for t in class_prompts])
    classes = head.lift_text_features(classes)
    scores = pairwise_inner(image, classes, head.curv.exp())
    pred = scores.argmax(dim=1)
    correct = (pred == labels).double()  # counts exact in the mean
    per_class = [correct[labels == k].mean() for k in torch.unique(labels)]
    return {
        "top1": float(correct.mean()),
        "macro": float(torch.stack(per_class).mean()),
        "predictions": pred,
    }


@torch.no_grad()
def retrieval_recall(image, text, text_image, *, curv=1.0, ks=(1, 5, 10)):
    """Recall@K of image -> text and text -> image retrieval by geodesic distance (knn), as
    fractions (MERU reports them times 100); ranking by distance is ranking by MERU's
    Lorentzian inner product.

    image (N, n) and text (M, n) are space components; ``text_image`` (M,) gives the image
    each text describes (several captions per image allowed). An image is a hit at K when
    one of its captions is among its K nearest texts; a text when its image is among its K
    nearest images.
    """
    pi, pt = lorentz.from_space(image, c=curv), lorentz.from_space(text, c=curv)
    kmax = max(ks)
    _, i2t = lorentz.knn(pi, pt, min(kmax, pt.shape[0]), c=curv)
    _, t2i = lorentz.knn(pt, pi, min(kmax, pi.shape[0]), c=curv)
    owner = torch.as_tensor(text_image)[i2t]  # (N, K) images of the retrieved texts
    rows = torch.arange(pi.shape[0])[:, None]
    out = {}
    for k in ks:
        out[f"image_to_text@{k}"] = float((owner[:, :k] == rows).any(dim=1).double().mean())
        out[f"text_to_image@{k}"] = float(
            (t2i[:, :k] == torch.as_tensor(text_image)[:, None]).any(dim=1).double().mean()
        )
    return out
