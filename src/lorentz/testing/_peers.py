"""Peers' formulas, transcribed for the parity and counter tests and the accuracy benchmarks:
MERU's lorentz.py, HyCoCLIP's oxy_angle_eval, HyperbolicCV's centroid normalisation and
LorentzMLR, the textbook Busemann function and Lou et al.'s Fréchet iteration, each as its
source writes it (the cancellations included). numpy, or torch imported by the call."""

from __future__ import annotations

import math

import numpy as np


# -- MERU's formulas, transcribed here as the parity target (torch, space components), from
# meru/lorentz.py of facebookresearch/meru at 6d4430055f58354539f68668175135256f99d47f -------
def meru_pairwise_inner(x, y, curv=1.0):
    import torch

    xt = torch.sqrt(1 / curv + torch.sum(x**2, dim=-1, keepdim=True))
    yt = torch.sqrt(1 / curv + torch.sum(y**2, dim=-1, keepdim=True))
    return x @ y.T - xt @ yt.T


def meru_pairwise_dist(x, y, curv=1.0, eps=1e-8):
    import torch

    return (
        torch.acosh(torch.clamp(-curv * meru_pairwise_inner(x, y, curv), min=1 + eps)) / curv**0.5
    )


def meru_exp_map0(x, curv=1.0, eps=1e-8):
    import torch

    r = curv**0.5 * torch.norm(x, dim=-1, keepdim=True)
    return torch.sinh(torch.clamp(r, min=eps, max=math.asinh(2**15))) * x / torch.clamp(r, min=eps)


def meru_log_map0(x, curv=1.0, eps=1e-8):
    import torch

    rt = torch.sqrt(1 + curv * torch.sum(x**2, dim=-1, keepdim=True))
    d = torch.acosh(torch.clamp(rt, min=1 + eps))
    return d * x / torch.clamp(curv**0.5 * torch.norm(x, dim=-1, keepdim=True), min=eps)


def meru_half_aperture(x, curv=1.0, min_radius=0.1, eps=1e-8):
    import torch

    a = 2 * min_radius / (torch.norm(x, dim=-1) * curv**0.5 + eps)
    return torch.asin(torch.clamp(a, min=-1 + eps, max=1 - eps))


def meru_oxy_angle(x, y, curv=1.0, eps=1e-8):
    import torch

    xt = torch.sqrt(1 / curv + torch.sum(x**2, dim=-1))
    yt = torch.sqrt(1 / curv + torch.sum(y**2, dim=-1))
    cxy = curv * (torch.sum(x * y, dim=-1) - xt * yt)
    num = yt + cxy * xt
    den = torch.sqrt(torch.clamp(cxy**2 - 1, min=eps))
    return torch.acos(
        torch.clamp(num / (torch.norm(x, dim=-1) * den + eps), min=-1 + eps, max=1 - eps)
    )


def hycoclip_oxy_angle_eval(x, y, curv=1.0, eps=1e-8):
    """HyCoCLIP's oxy_angle_eval (space parts in, (M, N) out), transcribed in numpy."""
    x_time = np.sqrt(1 / curv + np.sum(x**2, axis=-1, keepdims=True))
    y_time = np.sqrt(1 / curv + np.sum(y**2, axis=-1, keepdims=True))
    c_xyl = curv * (y @ x.T - y_time @ x_time.T)
    acos_numer = y_time + c_xyl * x_time.T
    acos_denom = np.sqrt(np.clip(c_xyl**2 - 1, eps, None))
    acos_input = acos_numer / (np.linalg.norm(x, axis=-1, keepdims=True).T * acos_denom + eps)
    return np.arccos(np.clip(acos_input, -1 + eps, 1 - eps))


def centroid_textbook(x, c):
    """HyperbolicCV's / fully-hyperbolic-nn's normalisation, in the input dtype."""
    a = x.sum(axis=-2)
    with np.errstate(all="ignore"):
        return _centroid_textbook(a, c)


def _centroid_textbook(a, c):
    lip = -a[0] * a[0] + (a[1:] * a[1:]).sum()
    return a / np.sqrt(np.abs(lip) * c)


def busemann_textbook(x, v, c):
    return np.log(np.sqrt(c) * (x[0] - x[1:] @ (v[1:] / np.linalg.norm(v[1:])))) / np.sqrt(c)


def lou_et_al(x, w, max_iter=1000, rtol=1e-6, atol=1e-6):
    """Lou et al.'s frechet_hyperboloid_forward (K = -1), transcribed in numpy, in x's dtype."""

    def ldot(u, v):
        m = u * v
        return np.sum(m, axis=-1, keepdims=True) - 2 * m[..., :1]

    def darcosh(t):
        cond = t < 1 + 1e-7
        safe = np.where(cond, 2.0, t).astype(t.dtype)
        return np.where(cond, 2.0, 2 * np.arccosh(safe) / np.sqrt(safe**2 - 1)).astype(t.dtype)

    mu = x[..., 0, :].copy()
    prev = mu
    for _ in range(max_iter):
        inner = -ldot(x, mu[..., None, :])
        u = (w[..., None] * darcosh(inner) * x).sum(axis=-2)
        mu = u / np.sqrt(-ldot(u, u))
        dist = np.linalg.norm(mu - prev, axis=-1)
        if (dist < atol).all() or (dist / np.linalg.norm(prev, axis=-1) < rtol).all():
            break
        prev = mu
    return mu


def hyperbolic_cv_lorentz_mlr(x, a, z, k):
    """HyperbolicCV's LorentzMLR.forward (manifold parameter k = 1/c), transcribed in numpy."""
    sqrt_mk = 1 / np.sqrt(k)
    norm_z = np.linalg.norm(z, axis=-1)
    w_t = np.sinh(sqrt_mk * a) * norm_z
    w_s = np.cosh(sqrt_mk * a[:, None]) * z
    beta = np.sqrt(-(w_t**2) + np.linalg.norm(w_s, axis=-1) ** 2)
    alpha = -w_t * x[..., :1] + np.cosh(sqrt_mk * a) * (x[..., 1:] @ z.T)
    d = np.sqrt(k) * np.abs(np.arcsinh(sqrt_mk * alpha / beta))
    return np.sign(alpha) * beta * d
