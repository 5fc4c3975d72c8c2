"""The 2-D embedding drawn in the Poincare disk: closure pairs as faint lines, the nouns with
the most descendants labelled."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import lorentz


def poincare_figure(points: np.ndarray, names: list[str], edges: np.ndarray, path: Path, *,
                    labels: int = 12, title: str = "") -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    disk = lorentz.to_poincare(points)
    fig, ax = plt.subplots(figsize=(8, 8))
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, color="0.6", lw=0.8))
    ax.add_collection(LineCollection(disk[edges], colors="tab:blue", linewidths=0.3, alpha=0.05))
    ax.scatter(disk[:, 0], disk[:, 1], s=3, color="tab:blue", zorder=2)
    descendants = np.bincount(edges[:, 1], minlength=len(names))
    for i in np.argsort(-descendants, kind="stable")[:labels]:
        ax.annotate(names[i].split(".")[0], disk[i], fontsize=8, zorder=3,
                    xytext=(3, 3), textcoords="offset points")  # fmt: skip
    ax.set(xlim=(-1.02, 1.02), ylim=(-1.02, 1.02), aspect="equal", title=title)
    ax.axis("off")
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
