"""Matplotlib figures, each drawn by one function that writes one image file."""

from pathlib import Path

import numpy as np


def plot_pair_grid(images_a: np.ndarray, images_b: np.ndarray, labels, out_path) -> Path:
    """PNG grid, one row per pair: image A, image B, and 'sim=1 same' or 'sim=0 different'."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    fig, axes = plt.subplots(n, 2, figsize=(3, 1.5 * n), squeeze=False)
    for row, (a, b, sim) in enumerate(zip(images_a, images_b, labels)):
        for ax, image in zip(axes[row], (a, b)):
            ax.imshow(_displayable(image), cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row][0].set_ylabel(f"sim={int(sim)}\n{'same' if sim else 'different'}", fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=80)
    plt.close(fig)
    return out_path


def _displayable(image: np.ndarray) -> np.ndarray:
    """H x W for one channel, H x W x 3 for RGB (from C x H x W)."""
    return image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
