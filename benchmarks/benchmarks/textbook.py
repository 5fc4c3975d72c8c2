"""The formulas users run today, transcribed from MERU's code (space components in, time
derived, acosh of the GEMM): what the all-pairs benchmarks compare against."""

def meru_pairwise(x, y, curv=1.0, eps=1e-8):
    """MERU's pairwise_dist on space components, transcribed."""
    import torch

    xt = torch.sqrt(1 / curv + torch.sum(x**2, dim=-1, keepdim=True))
    yt = torch.sqrt(1 / curv + torch.sum(y**2, dim=-1, keepdim=True))
    return torch.acosh(torch.clamp(-curv * (x @ y.T - xt @ yt.T), min=1 + eps)) / curv**0.5


def meru_loss_formula(image, text, curv, scale, entail_weight=0.2, min_radius=0.1, eps=1e-8):
    """MERU's loss on one process, transcribed: logits -scale d and cross-entropy both ways,
    plus its entailment term (half-aperture of the text, exterior angle of the image at it)."""
    import torch

    logits = -scale * meru_pairwise(image, text, curv)
    labels = torch.arange(image.shape[0])
    ce = torch.nn.functional.cross_entropy
    contrastive = 0.5 * (ce(logits, labels) + ce(logits.T, labels))
    x, y = text, image
    x_norm = torch.norm(x, dim=-1)
    aperture = torch.asin(torch.clamp(2 * min_radius / (x_norm * curv**0.5 + eps), -1 + eps, 1 - eps))
    x_time = torch.sqrt(1 / curv + torch.sum(x**2, dim=-1))
    y_time = torch.sqrt(1 / curv + torch.sum(y**2, dim=-1))
    c_xyl = curv * (torch.sum(x * y, dim=-1) - x_time * y_time)
    numer = y_time + c_xyl * x_time
    denom = torch.sqrt(torch.clamp(c_xyl**2 - 1, min=eps))
    angle = torch.acos(torch.clamp(numer / (x_norm * denom + eps), -1 + eps, 1 - eps))
    entailment = torch.clamp(angle - aperture, min=0).mean()
    return contrastive + entail_weight * entailment
