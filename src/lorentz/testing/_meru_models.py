"""Tiny image and text encoders for MERUHead tests (torch; imported only by the tests that use
them)."""

from __future__ import annotations

import torch


class TinyImage(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 6)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class TinyText(torch.nn.Module):
    """Per-token features (B, T, 5), each the running mean of the embeddings up to it (causal,
    as MERU's encoder is): the head pools them at the largest token id."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(20, 5)

    def forward(self, tokens):
        e = self.embed(tokens)
        return e.cumsum(dim=1) / torch.arange(1, tokens.shape[1] + 1, device=e.device)[:, None]
